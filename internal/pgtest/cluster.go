package pgtest

import (
	"bytes"
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
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
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
	cmd  *exec.Cmd
	exit chan struct{} // closed when the server process has exited
	log  *bytes.Buffer // the server's output
	mu   sync.Mutex    // guards log
}

// startCluster creates and starts a cluster, as the user cred (nil: this
// process's), to whom its directory is given.
func startCluster(ctx context.Context, bin string, cred *syscall.Credential) (c *pgCluster, err error) {
	sweepClusters()
	dir, err := os.MkdirTemp("", "dangol-pg-")
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
			return nil, err
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
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &pgCluster{dir: dir, port: port, exit: make(chan struct{}), log: &bytes.Buffer{}}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
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
	c.cmd.Env = pgEnv(dir)
	c.cmd.Stdout = (*lockedWriter)(c)
	c.cmd.Stderr = (*lockedWriter)(c)
	// Pdeathsig: should the test binary die without stopping the server
	// (a SIGKILL, a panic in another goroutine), the kernel stops the
	// server too (SIGQUIT: immediate shutdown), so no stray server stays
	// behind.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.exit)
	}()

	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable&connect_timeout=2"}
	for {
		conn, err := pgx.Connect(ctx, u.String())
		if err == nil {
			conn.Close(ctx)
			return c, nil
		}
		select {
		case <-c.exit:
			return nil, fmt.Errorf("postgres exited at start: %s", c.output())
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("postgres did not accept connections: %w: %s", err, c.output()), c.stop())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sweepClusters removes the directories of clusters that test binaries
// killed before they could clean up (their servers died with them; see
// Pdeathsig): those over an hour old whose server is not running.
func sweepClusters() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "dangol-pg-*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
			if pid > 0 && syscall.Kill(pid, 0) == nil {
				continue
			}
		}
		os.RemoveAll(dir)
	}
}

// pgEnv is the environment of initdb and the server: the test's, without
// libpq's PG* variables, which would point them elsewhere.
func pgEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "LANG=C", "LC_ALL=C")
}

type lockedWriter pgCluster

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.log.Len() < 1<<20 {
		w.log.Write(p)
	}
	return len(p), nil
}

func (c *pgCluster) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// stop shuts the server down and removes its directory. The shutdown is
// "immediate" (SIGQUIT): no shutdown checkpoint, which would flush every
// test database to disk only for it to be deleted.
func (c *pgCluster) stop() error {
	var err error
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.exit:
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
			<-c.exit
			err = fmt.Errorf("postgres did not stop within 15 s; killed it")
		}
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
