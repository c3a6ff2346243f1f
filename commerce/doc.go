// Package commerce holds the catalog and commerce domain of Dangol:
// channels, products, broadcasts, viewers, chat, coupons and orders, and the
// Store that keeps them in SQLite (embedded, the default) or PostgreSQL,
// behind one set of methods with one contract test suite.
//
// Money is integer won (int64) throughout, computed by the Store from the
// prices it holds, never taken from a client. The writes on the money path
// (coupon claims, orders) are commands with client-chosen ids: each is done
// at most once per id, and its reply is stored with its effect (see
// runCommand).
package commerce
