package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/dangol/dangol/internal/testserver"
)

// findPGBin returns the directory of initdb and postgres, or why there is
// none.
func findPGBin() (dir, reason string) {
	if d := os.Getenv("DANGOL_TEST_PG_BIN"); d != "" {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, ""
		}
		return "", fmt.Sprintf("the PostgreSQL server binaries (initdb, postgres) are not in DANGOL_TEST_PG_BIN=%s", d)
	}
	for _, d := range pgBinDirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, ""
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isFile(filepath.Join(d, "postgres")) {
			return d, ""
		}
	}
	return "", fmt.Sprintf("the PostgreSQL server binaries (initdb, postgres) are not in %s or on $PATH", strings.Join(pgBinDirs, ", "))
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// pgCluster is a PostgreSQL server running from a temporary directory.
type pgCluster struct {
	dir  string
	port int
	proc *testserver.Process
}

// startCluster creates and starts a cluster, as the user cred (nil: this
// process's), to whom its directory is given.
func startCluster(ctx context.Context, bin string, cred *syscall.Credential) (c *pgCluster, err error) {
	dir, err := testserver.TempDir("dangol-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("give %s to the postgres user: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")

	// --no-sync: initdb need not flush a throwaway cluster's files; the
	// server itself runs with fsync on, so commits cost what they cost.
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Env = pgEnv(dir)
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		hint := ""
		if cred != nil {
			hint = fmt.Sprintf(" (the postgres user must be able to reach %s; point TMPDIR elsewhere if it cannot)", dir)
		}
		return nil, fmt.Errorf("initdb%s: %w\n%s", hint, err, out)
	}

	// A free port can be taken between finding and binding it: try again.
	for attempt := 1; ; attempt++ {
		c, err = startServer(ctx, bin, dir, data, cred)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "could not bind") &&
			!strings.Contains(err.Error(), "could not create any TCP/IP sockets") {
			return c, err
		}
	}
}

func startServer(ctx context.Context, bin, dir, data string, cred *syscall.Credential) (*pgCluster, error) {
	port, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "full_page_writes=on",
		"-c", "max_connections=400",
		"-c", "shared_buffers=64MB",
		"-c", "log_min_messages=warning",
		"-c", "log_min_error_statement=panic",
		"-c", "logging_collector=off",
	)
	cmd.Env = pgEnv(dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// SIGQUIT, should the test binary die: immediate shutdown.
	proc, err := testserver.Start(cmd, dir, syscall.SIGQUIT)
	if err != nil {
		return nil, err
	}
	c := &pgCluster{dir: dir, port: port, proc: proc}

	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable&connect_timeout=2"}
	err = proc.WaitReady(ctx, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return nil, errors.Join(err, proc.Stop(syscall.SIGQUIT))
	}
	return c, nil
}

// pgEnv is the environment of initdb and the server: the test's, without
// libpq's PG* variables, which would point them elsewhere, and with a
// HOME and locale of their own.
func pgEnv(home string) []string {
	return append(testserver.Environ("PG", "HOME=", "LC_", "LANG="), "HOME="+home, "LANG=C", "LC_ALL=C")
}

// stop shuts the server down and removes its directory. The shutdown is
// "immediate" (SIGQUIT): no shutdown checkpoint, which would flush every
// test database to disk only for it to be deleted.
func (c *pgCluster) stop() error {
	return errors.Join(c.proc.Stop(syscall.SIGQUIT), os.RemoveAll(c.dir))
}
