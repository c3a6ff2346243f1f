package commerce

import (
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgresDB returns a database/sql pool of pgx connections made with cfg, so that the
// Store keeps one implementation for both dialects (queries written once, rebound).
func openPostgresDB(cfg *pgx.ConnConfig) *sql.DB {
	return stdlib.OpenDB(*cfg)
}

// pgErrorCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgErrorCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
