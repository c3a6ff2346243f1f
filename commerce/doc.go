// Package commerce holds the catalog and commerce domain of Dangol (channels
// now; products, coupons and orders later) and the Store that keeps it in
// SQLite or, later, PostgreSQL.
package commerce
