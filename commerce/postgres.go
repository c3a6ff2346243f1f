package commerce

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// OpenPostgres connects to the PostgreSQL database at dsn (a URL such as
// postgres://user:pass@host:5432/dangol?sslmode=disable, or keyword=value
// pairs; see libpq's connection strings), applies any pending migrations
// and returns the Store.
//
// The Store keeps a pool of connections, by default 4 per CPU between 8 and
// 32; a URL may set another size with the query parameter pool_max_conns.
// Durability of acknowledged writes is the server's: keep fsync and
// synchronous_commit on (their defaults).
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, maxConns, err := parsePostgresDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w: %v", ErrInvalid, err)
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	db := openPostgresDB(cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	if err := migrateDB(ctx, db, dialectPostgres); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	s := &Store{db: db, rdb: db, dialect: dialectPostgres, now: time.Now}
	s.claims = startClaimBatcher(s)
	return s, nil
}

// parsePostgresDSN parses dsn for pgx, taking out the pool size, which is
// the Store's setting and not a server parameter.
func parsePostgresDSN(dsn string) (*pgx.ConnConfig, int, error) {
	if dsn == "" {
		return nil, 0, fmt.Errorf("empty database URL")
	}
	maxConns := min(32, max(8, 4*runtime.GOMAXPROCS(0)))
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's error quotes the URL, password and all.
			return nil, 0, fmt.Errorf("database URL is not a valid URL")
		}
		q := u.Query()
		if v := q.Get("pool_max_conns"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return nil, 0, fmt.Errorf("pool_max_conns=%q: want a number from 1 to 1000", v)
			}
			maxConns = n
			q.Del("pool_max_conns")
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
	}
	cfg, err := pgx.ParseConfig(dsn) // its errors hide the password
	if err != nil {
		return nil, 0, err
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "dangol"
	}
	return cfg, maxConns, nil
}
