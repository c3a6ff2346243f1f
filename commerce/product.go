package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Product is something a stall sells.
type Product struct {
	ID          int64     `json:"id"`
	ChannelID   int64     `json:"channel_id"`
	Name        string    `json:"name"`
	PriceWon    int64     `json:"price_won"`
	Stock       int       `json:"stock"`
	Description string    `json:"description"`
	PhotoKey    string    `json:"photo_key"` // object-store key of the photo; "" for none
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ProductInput is a new product.
type ProductInput struct {
	Name        string
	PriceWon    int64
	Stock       int
	Description string
	PhotoKey    string
}

// ProductPatch changes the fields of a product that are not nil.
type ProductPatch struct {
	Name        *string
	PriceWon    *int64
	Stock       *int // the new stock, as counted at the stall
	Description *string
	PhotoKey    *string
}

// Limits on prices and stock: generous for a market stall, and far from
// overflowing an order total.
const (
	maxPriceWon = 100_000_000 // 1억 원
	maxStock    = 1_000_000
)

func checkPrice(p int64) error {
	if p < 0 || p > maxPriceWon {
		return fmt.Errorf("%w: price must be from 0 to %d won, not %d", ErrInvalid, maxPriceWon, p)
	}
	return nil
}

func checkStock(n int) error {
	if n < 0 || n > maxStock {
		return fmt.Errorf("%w: stock must be from 0 to %d, not %d", ErrInvalid, maxStock, n)
	}
	return nil
}

// CreateProduct adds a product to the channel. It returns an error wrapping
// ErrInvalid for a bad field and ErrNotFound if there is no such channel.
func (s *Store) CreateProduct(ctx context.Context, channelID int64, in ProductInput) (Product, error) {
	p, err := cleanProduct(in)
	if err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	p.ChannelID = channelID
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.channelExists(ctx, tx, channelID); err != nil {
			return err
		}
		p.CreatedAt = s.timestamp()
		p.UpdatedAt = p.CreatedAt
		return tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO products
(channel_id, name, price_won, stock, description, photo_key, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id`), p.ChannelID, p.Name, p.PriceWon, p.Stock, p.Description, p.PhotoKey, p.CreatedAt, p.UpdatedAt).Scan(&p.ID)
	})
	if err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	return p, nil
}

func cleanProduct(in ProductInput) (Product, error) {
	var (
		p   = Product{PriceWon: in.PriceWon, Stock: in.Stock}
		err error
	)
	if p.Name, err = cleanText("product name", in.Name, maxProductNameLen, true, false); err != nil {
		return Product{}, err
	}
	if p.Description, err = cleanText("description", in.Description, maxDescriptionLen, false, true); err != nil {
		return Product{}, err
	}
	if p.PhotoKey, err = cleanPhotoKey(in.PhotoKey); err != nil {
		return Product{}, err
	}
	if err := checkPrice(in.PriceWon); err != nil {
		return Product{}, err
	}
	if err := checkStock(in.Stock); err != nil {
		return Product{}, err
	}
	return p, nil
}

// channelExists returns an error wrapping ErrNotFound if there is no
// channel with the id.
func (s *Store) channelExists(ctx context.Context, q querier, channelID int64) error {
	var one int
	err := q.QueryRowContext(ctx, s.dialect.rebind(`SELECT 1 FROM channels WHERE id = ?`), channelID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("channel %d: %w", channelID, ErrNotFound)
	}
	return err
}

const productColumns = `id, channel_id, name, price_won, stock, description, photo_key, created_at, updated_at`

func scanProduct(sc interface{ Scan(...any) error }) (Product, error) {
	var p Product
	err := sc.Scan(&p.ID, &p.ChannelID, &p.Name, &p.PriceWon, &p.Stock, &p.Description, &p.PhotoKey, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// Product returns one of the channel's products, or an error wrapping
// ErrNotFound if it has none with the id (or deleted it).
func (s *Store) Product(ctx context.Context, channelID, productID int64) (Product, error) {
	p, err := s.product(ctx, s.rdb, channelID, productID)
	if err != nil {
		return Product{}, fmt.Errorf("get product: %w", err)
	}
	return p, nil
}

func (s *Store) product(ctx context.Context, q querier, channelID, productID int64) (Product, error) {
	p, err := scanProduct(q.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+productColumns+`
FROM products WHERE id = ? AND channel_id = ? AND deleted_at IS NULL`), productID, channelID))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, fmt.Errorf("product %d: %w", productID, ErrNotFound)
	}
	return p, err
}

// Products returns the channel's products (not deleted ones), oldest first.
func (s *Store) Products(ctx context.Context, channelID int64) ([]Product, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+productColumns+`
FROM products WHERE channel_id = ? AND deleted_at IS NULL ORDER BY id`), channelID)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	ps := []Product{}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return ps, nil
}

// UpdateProduct changes the fields of patch that are set and returns the
// product. Only those columns are written, so an order reserving stock at
// the same moment is not undone by a patch that does not touch the stock.
// Orders placed earlier keep the price they were placed at.
func (s *Store) UpdateProduct(ctx context.Context, channelID, productID int64, patch ProductPatch) (Product, error) {
	var (
		sets []string
		args []any
	)
	if patch.Name != nil {
		name, err := cleanText("product name", *patch.Name, maxProductNameLen, true, false)
		if err != nil {
			return Product{}, fmt.Errorf("update product: %w", err)
		}
		sets, args = append(sets, "name = ?"), append(args, name)
	}
	if patch.PriceWon != nil {
		if err := checkPrice(*patch.PriceWon); err != nil {
			return Product{}, fmt.Errorf("update product: %w", err)
		}
		sets, args = append(sets, "price_won = ?"), append(args, *patch.PriceWon)
	}
	if patch.Stock != nil {
		if err := checkStock(*patch.Stock); err != nil {
			return Product{}, fmt.Errorf("update product: %w", err)
		}
		sets, args = append(sets, "stock = ?"), append(args, *patch.Stock)
	}
	if patch.Description != nil {
		d, err := cleanText("description", *patch.Description, maxDescriptionLen, false, true)
		if err != nil {
			return Product{}, fmt.Errorf("update product: %w", err)
		}
		sets, args = append(sets, "description = ?"), append(args, d)
	}
	if patch.PhotoKey != nil {
		k, err := cleanPhotoKey(*patch.PhotoKey)
		if err != nil {
			return Product{}, fmt.Errorf("update product: %w", err)
		}
		sets, args = append(sets, "photo_key = ?"), append(args, k)
	}
	var p Product
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		args := append(args[:len(args):len(args)], s.timestamp(), productID, channelID)
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE products SET `+strings.Join(append(sets, "updated_at = ?"), ", ")+`
WHERE id = ? AND channel_id = ? AND deleted_at IS NULL`), args...)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("product %d: %w", productID, err)
		}
		p, err = s.product(ctx, tx, channelID, productID)
		return err
	})
	if err != nil {
		return Product{}, fmt.Errorf("update product: %w", err)
	}
	return p, nil
}

// SetProductPhoto sets a product's photo key ("" for none) and returns the
// product and the key it had before if no other product has it, so that the
// caller can delete the photo nothing refers to any more. Two replacements
// at once each get the key the other replaced, never the same one.
func (s *Store) SetProductPhoto(ctx context.Context, channelID, productID int64, key string) (Product, string, error) {
	key, err := cleanPhotoKey(key)
	if err != nil {
		return Product{}, "", fmt.Errorf("set product photo: %w", err)
	}
	var (
		p   Product
		old string
	)
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for range 10 {
			cur, err := s.product(ctx, tx, channelID, productID)
			if err != nil {
				return err
			}
			// Only if the key is still the one read: on PostgreSQL another
			// replacement may commit in between, and then this one reads again.
			res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE products SET photo_key = ?, updated_at = ?
WHERE id = ? AND channel_id = ? AND deleted_at IS NULL AND photo_key = ?`), key, s.timestamp(), productID, channelID, cur.PhotoKey)
			if err := oneRow(res, err); errors.Is(err, ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			// The old photo is the caller's to delete unless another product (a
			// PATCH may share a key) still shows it.
			var others int
			if cur.PhotoKey != "" {
				if err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT COUNT(*) FROM products WHERE photo_key = ? AND id <> ?`),
					cur.PhotoKey, productID).Scan(&others); err != nil {
					return err
				}
			}
			if others == 0 {
				old = cur.PhotoKey
			}
			p, err = s.product(ctx, tx, channelID, productID)
			return err
		}
		return fmt.Errorf("product %d: photo replaced too often at once", productID)
	})
	if err != nil {
		return Product{}, "", fmt.Errorf("set product photo: %w", err)
	}
	return p, old, nil
}

// DeleteProduct hides a product: it is no longer listed or orderable, and
// is unpinned from a live broadcast, while past orders keep referring to
// it.
func (s *Store) DeleteProduct(ctx context.Context, channelID, productID int64) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := s.timestamp()
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE products SET deleted_at = ?, updated_at = ?
WHERE id = ? AND channel_id = ? AND deleted_at IS NULL`), now, now, productID, channelID)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("product %d: %w", productID, err)
		}
		_, err = tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET pinned_product_id = NULL
WHERE channel_id = ? AND ended_at IS NULL AND pinned_product_id = ?`), channelID, productID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete product: %w", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx have in common, for reads that run
// inside a write's transaction or on their own.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// oneRow returns nil if an exec affected one row, an error wrapping
// ErrNotFound if it affected none, and err if it failed.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
