package commerce

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migrationFiles holds one directory of numbered migrations per dialect,
// migrations/<dialect>/NNNN_name.sql. Each dialect has the same versions
// with the same meaning; only the SQL differs where it must.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one step of the schema, applied once, in version order.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the NNNN_name.sql files in dir of fsys, ordered by
// version. Versions must start at 1 and have no gaps or duplicates, so that
// a missing or misnumbered file is caught before anything runs.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || name == "" {
			return nil, fmt.Errorf("load migrations: file %s: name must look like 0001_name.sql", e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("load migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	// fs.ReadDir sorts by file name, which is version order for zero-padded
	// numbers; check rather than trust it.
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("load migrations: %s: expected version %d next, found %d (%s)", dir, i+1, m.version, m.name)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("load migrations: no migrations in %s", dir)
	}
	return ms, nil
}

// migrate brings db up to the last of ms. Everything pending is applied in
// one transaction together with its schema_migrations rows, so a failure
// leaves the database as it was, and running it again on an up-to-date
// database changes nothing.
//
// On SQLite the transaction takes the write lock at BEGIN (_txlock=immediate),
// which also serialises two processes migrating the same file. On
// PostgreSQL the transaction starts by taking a transaction-scoped advisory
// lock, so that two servers starting at once against one database migrate
// one after the other (the second finds nothing to do) instead of racing
// on CREATE TABLE.
func migrate(ctx context.Context, db *sql.DB, d dialect, ms []migration) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()

	if d == dialectPostgres {
		if _, err := tx.ExecContext(ctx, d.rebind(`SELECT pg_advisory_xact_lock(?)`), migrateLockKey); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}

	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER   PRIMARY KEY,
	name       TEXT      NOT NULL,
	applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)`
	if _, err := tx.ExecContext(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}

	var current sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	latest := len(ms)
	if int(current.Int64) > latest {
		// An older program on a newer database could misread or damage data.
		return fmt.Errorf("migrate: database schema is version %d but this program knows only up to %d; run a newer version", current.Int64, latest)
	}

	for _, m := range ms[current.Int64:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`), m.version, m.name); err != nil {
			return fmt.Errorf("migrate: record %04d_%s: %w", m.version, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// migrateLockKey is the PostgreSQL advisory lock held while migrating: the
// bytes of "dangol\x00\x01" as an int64.
const migrateLockKey int64 = 0x64616e676f6c0001

// ignoreDone drops sql.ErrTxDone, which Rollback returns when the
// transaction has already ended.
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
