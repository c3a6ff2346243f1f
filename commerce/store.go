package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver
)

// Store keeps the commerce domain in an SQL database.
//
// A Store is opened with OpenSQLite or OpenPostgres, which bring the schema
// up to date before returning. It is safe for concurrent use by many
// goroutines. Close it once when done; methods called after Close return an
// error.
//
// Every write runs in a transaction through write and is acknowledged (the
// method returns) only after its commit, so whatever a method reported done
// survives a crash. On SQLite one writer goroutine commits writes in groups
// (see writer); on PostgreSQL each write is its own transaction on a pool
// of connections.
type Store struct {
	db      *sql.DB // writes and migrations; on SQLite the writer's one connection
	rdb     *sql.DB // reads: on SQLite a pool of read-only connections, on PostgreSQL db
	dialect dialect
	now     func() time.Time // time.Now; replaced in tests
	w       *writer          // SQLite's group-commit writer; nil on PostgreSQL
	claims  *claimBatcher    // PostgreSQL's group commit for coupon claims; nil on SQLite

	closeOnce sync.Once
	closeErr  error
}

// dialect names the SQL database a Store talks to and holds what differs
// between them. Queries are written once with '?' placeholders and passed
// through rebind.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// String returns the dialect's name, which is also the name of its
// directory under migrations/.
func (d dialect) String() string {
	switch d {
	case dialectSQLite:
		return "sqlite"
	case dialectPostgres:
		return "postgres"
	}
	return "dialect(" + strconv.Itoa(int(d)) + ")"
}

// rebind rewrites the '?' placeholders of query into the dialect's form:
// unchanged for SQLite, $1, $2, ... for PostgreSQL. A '?' inside a
// single-quoted string literal is left alone.
func (d dialect) rebind(query string) string {
	if d != dialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	inLiteral := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			// An escaped quote ('') toggles twice, which is right.
			inLiteral = !inLiteral
		case c == '?' && !inLiteral:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// SQLite settings applied to every connection. synchronous=FULL makes a
// commit wait for the WAL to reach the disk, so anything the server has
// acknowledged survives a crash of the process or of the machine.
const (
	sqliteBusyTimeout = 5 * time.Second
	sqliteSynchronous = 2 // FULL
)

// OpenSQLite opens (creating it and its parent directory if needed) the
// SQLite database at path, applies any pending migrations and returns the
// Store.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite: %w: empty database path", ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// SQLite allows one writer at a time. A single connection, used by the
	// Store's one writer goroutine, serialises writers inside the process
	// instead of making them fail or spin on SQLITE_BUSY. Keep it open:
	// reopening costs the pragmas each time.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	if err := checkSQLitePragmas(ctx, db, false); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := migrateDB(ctx, db, dialectSQLite); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Readers do not wait for the writer: in WAL mode they read the last
	// commit while a write transaction is open.
	rdb, err := sql.Open("sqlite", sqliteReadDSN(path))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	if err := checkSQLitePragmas(ctx, rdb, true); err != nil {
		db.Close()
		rdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := &Store{db: db, rdb: rdb, dialect: dialectSQLite, now: time.Now}
	s.w = startWriter(db)
	return s, nil
}

// sqliteDSN returns the modernc.org/sqlite data source name for the file at
// path with the connection settings the Store's writer relies on.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+strconv.Itoa(sqliteSynchronous)+")")
	// Keep the savepoints' sub-journals in memory: every write runs in a
	// savepoint of the writer's group transaction (see writer), and a
	// sub-journal on disk costs a write system call per page touched. They
	// only undo a savepoint; durability is the WAL's.
	q.Add("_pragma", "temp_store(2)")
	// Take the write lock at BEGIN: a deferred transaction that reads and
	// then writes can fail with SQLITE_BUSY without waiting when another
	// process (a backup, an admin tool) holds the lock.
	q.Set("_txlock", "immediate")
	// Write times in a sortable text form that SQLite's date functions and
	// the driver's TIMESTAMP parsing both understand.
	q.Set("_time_format", "sqlite")
	return sqliteURI(path, q)
}

// sqliteReadDSN returns the data source name of the Store's read-only
// connections to the file at path. The file is already in WAL mode, which
// is a property of the file.
func sqliteReadDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "query_only(1)")
	q.Set("_time_format", "sqlite")
	return sqliteURI(path, q)
}

// sqliteURI returns a file: URI for path with query q. The path is escaped
// so that '?', '#' or '%' in it are not taken as URI syntax.
func sqliteURI(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

// checkSQLitePragmas verifies that the connection settings took effect:
// journal_mode=WAL, for one, silently stays off on some file systems.
func checkSQLitePragmas(ctx context.Context, db *sql.DB, readOnly bool) error {
	type check struct {
		pragma string
		want   string
	}
	checks := []check{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)},
	}
	if readOnly {
		checks = append(checks, check{"query_only", "1"})
	} else {
		checks = append(checks, check{"synchronous", strconv.Itoa(sqliteSynchronous)})
	}
	for _, c := range checks {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			return fmt.Errorf("read pragma %s: %w", c.pragma, err)
		}
		if !strings.EqualFold(got, c.want) {
			return fmt.Errorf("pragma %s is %q, want %q", c.pragma, got, c.want)
		}
	}
	return nil
}

// migrateDB brings db to the latest schema for d.
func migrateDB(ctx context.Context, db *sql.DB, d dialect) error {
	ms, err := loadMigrations(migrationFiles, "migrations/"+d.String())
	if err != nil {
		return err
	}
	return migrate(ctx, db, d, ms)
}

// Close stops the writer, waiting for the writes it has begun, and closes
// the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.w != nil {
			s.w.stop()
		}
		if s.claims != nil {
			s.claims.stop()
		}
		err := s.db.Close()
		if s.rdb != s.db {
			err = errors.Join(err, s.rdb.Close())
		}
		s.closeErr = err
	})
	if s.closeErr != nil {
		return fmt.Errorf("close store: %w", s.closeErr)
	}
	return nil
}

// timestamp returns the current time as the Store records it: in UTC and
// truncated to the microsecond PostgreSQL keeps, so that a value reads back
// equal on every backend.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}
