package miniotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// findMinio returns the path of the minio binary, or why there is none.
func findMinio() (bin, reason string) {
	if b := os.Getenv("DANGOL_TEST_MINIO_BIN"); b != "" {
		if isExecutable(b) {
			return b, ""
		}
		return "", fmt.Sprintf("DANGOL_TEST_MINIO_BIN=%s is not an executable file", b)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, ""
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	// GOPATH may be a list; go install uses the first entry.
	if first, _, _ := strings.Cut(gopath, string(os.PathListSeparator)); first != "" {
		if b := filepath.Join(first, "bin", "minio"); isExecutable(b) {
			return b, ""
		}
		return "", fmt.Sprintf("no minio binary on $PATH or in %s", filepath.Join(first, "bin"))
	}
	return "", "no minio binary on $PATH (and no GOPATH to look in)"
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// process is a MinIO server running from a temporary directory.
type process struct {
	dir  string
	addr string // 127.0.0.1:port of the S3 API
	cmd  *exec.Cmd
	exit chan struct{} // closed when the server process has exited
	mu   sync.Mutex    // guards log
	log  bytes.Buffer  // the server's output
}

// startProcess starts a server with the given root credentials and waits
// until it is ready.
func startProcess(ctx context.Context, bin, user, password string) (p *process, err error) {
	sweep()
	dir, err := os.MkdirTemp("", "dangol-minio-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	// A free port can be taken between finding and binding it: try again.
	for attempt := 1; ; attempt++ {
		p, err = startServer(ctx, bin, dir, user, password)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return p, err
		}
	}
}

func startServer(ctx context.Context, bin, dir, user, password string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &process{dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exit: make(chan struct{})}
	p.cmd = exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", p.addr,
		"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(consolePort)),
		"--quiet")
	p.cmd.Env = append(minioEnv(),
		"MINIO_ROOT_USER="+user,
		"MINIO_ROOT_PASSWORD="+password,
		"MINIO_BROWSER=off", // no web console: nobody looks at it
		"MINIO_UPDATE=off",  // never look for updates
		// CI/CD mode: the data directory may be on the root disk, which
		// MinIO otherwise refuses to use.
		"MINIO_CI_CD=1",
		"HOME="+dir, // its ~/.minio (certificates) stays in the temp dir
	)
	p.cmd.Stdout = (*lockedWriter)(p)
	p.cmd.Stderr = (*lockedWriter)(p)
	// Pdeathsig: should the test binary end without stopping the server
	// (no TestMain calling Stop, a SIGKILL, a panic in another
	// goroutine), the kernel kills the server too, so no stray server
	// stays behind; sweep removes its directory later. The signal comes
	// when the thread that started the server ends, not the process: the
	// starting goroutine keeps its thread locked until the server exits,
	// so that the runtime cannot end the thread before.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.cmd.Wait()
		close(p.exit)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start minio: %w", err)
	}
	os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(p.cmd.Process.Pid)), 0o644)

	// Ready: the server answers 200 once it can serve requests (its
	// drives are formatted and the IAM subsystem is up).
	ready := "http://" + p.addr + "/minio/health/ready"
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
			err = fmt.Errorf("%s: %s", ready, resp.Status)
		}
		select {
		case <-p.exit:
			return nil, fmt.Errorf("minio exited at start: %s", p.output())
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("minio not ready: %w: %s", err, p.output()), p.kill())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sweep removes the directories of servers that have stopped without
// their test binary removing the directory (it did not call Stop, or was
// killed; the server died with it, see Pdeathsig): those whose server is
// not running, or, without a pid file, over a minute old (one that has
// none yet may be starting in another test binary).
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "dangol-minio-*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "pid"))
		if err != nil && time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && syscall.Kill(pid, 0) == nil {
			continue
		}
		os.RemoveAll(dir)
	}
}

// minioEnv is the server's environment: the test's, without MINIO_*
// variables (a developer's own server settings) and HOME.
func minioEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

type lockedWriter process

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.log.Len() < 1<<20 {
		w.log.Write(b)
	}
	return len(b), nil
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill stops the server at once, for a start that failed.
func (p *process) kill() error {
	err := p.cmd.Process.Kill()
	<-p.exit
	return err
}

// stop shuts the server down (SIGTERM, then SIGKILL after 15 s) and
// removes its directory.
func (p *process) stop() error {
	var err error
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exit:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exit
		err = fmt.Errorf("minio did not stop within 15 s; killed it")
	}
	return errors.Join(err, os.RemoveAll(p.dir))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
