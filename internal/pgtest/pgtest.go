// Package pgtest gives tests a real PostgreSQL server.
//
// With DANGOL_TEST_DATABASE_URL set (postgres://user:pass@host:port/db, a
// role that may create databases) the tests use that server; otherwise the
// test binary starts a throwaway PostgreSQL cluster of its own the first
// time a test needs one (initdb into a temporary directory, listening on
// 127.0.0.1 only, on a free port), once per process, and Stop (called from
// the package's TestMain, see Main) stops it when the tests are done. Every
// test gets a fresh database (CREATE DATABASE ... TEMPLATE template0), so
// tests are isolated and may run in parallel.
//
// The server binaries are looked for in /usr/lib/postgresql/15/bin, then on
// $PATH, or only in DANGOL_TEST_PG_BIN if that is set. Without a URL and
// without the binaries the tests skip with a reason, or fail when
// DANGOL_TEST_STRICT=1.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/dangol/dangol/internal/testserver"
)

// pgBinDirs are where the server binaries are looked for, before $PATH;
// DANGOL_TEST_PG_BIN, if set, is the only place looked at.
var pgBinDirs = []string{"/usr/lib/postgresql/15/bin"}

// shared is the server of this process's tests.
var shared = testserver.NewShared("PostgreSQL", start, (*Server).stop)

// Server is the server the tests use and the way to give each test a
// database of its own.
type Server struct {
	base     url.URL // the server's URL; Path names the maintenance database
	admin    *sql.DB // connected to the maintenance database, for CREATE DATABASE
	cluster  *pgCluster
	external bool
	n        atomic.Int64
}

// Main runs the tests of a package that uses this one, then stops the
// cluster: call it from TestMain.
func Main(m *testing.M) { shared.Main(m) }

// Start returns the server, starting it on first use in this process, or
// skips tb (loudly) when there is none, or fails it when DANGOL_TEST_STRICT=1
// or the server is there but broken.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return shared.Get(tb)
}

// NewDatabase is Start(tb).NewDatabase(tb).
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return Start(tb).NewDatabase(tb)
}

// AdminURL is the URL of the server's maintenance database.
func (p *Server) AdminURL() string { return p.base.String() }

// Stop stops the cluster this process started, if any, and removes its
// directory. Call it once, after the tests (see Main).
func Stop() error { return shared.Stop() }

func (p *Server) stop() error {
	err := p.admin.Close()
	if p.cluster != nil {
		err = errors.Join(err, p.cluster.stop())
	}
	return err
}

func start() (*Server, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if raw := os.Getenv("DANGOL_TEST_DATABASE_URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
			return nil, "", fmt.Errorf("DANGOL_TEST_DATABASE_URL must be a postgres:// URL")
		}
		admin, err := openAdmin(ctx, *u)
		if err != nil {
			return nil, "", fmt.Errorf("DANGOL_TEST_DATABASE_URL: %w", err)
		}
		return &Server{base: *u, admin: admin, external: true}, "", nil
	}

	bin, reason := findPGBin()
	if reason != "" {
		return nil, reason + "; install postgresql-15 or set DANGOL_TEST_DATABASE_URL", nil
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// The server refuses to run as root: run it as the postgres user
		// that the server packages create.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, "running as root, and there is no postgres user to run the server as: " + err.Error(), nil
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	c, err := startCluster(ctx, bin, cred)
	if err != nil {
		return nil, "", err
	}
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	admin, err := openAdmin(ctx, u)
	if err != nil {
		return nil, "", errors.Join(err, c.stop())
	}
	return &Server{base: u, admin: admin, cluster: c}, "", nil
}

func openAdmin(ctx context.Context, u url.URL) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// NewDatabase creates an empty database and returns its URL. On a server
// of the developer's (DANGOL_TEST_DATABASE_URL) it is dropped when tb ends;
// the throwaway cluster goes whole at Stop.
func (p *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("dangol_test_%d_%d", os.Getpid(), p.n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	if p.external {
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := p.admin.ExecContext(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
				tb.Errorf("drop database %s: %v", name, err)
			}
		})
	}
	u := p.base
	u.Path = "/" + name
	return u.String()
}
