package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a server process started by Start. Its output is kept (the
// first MiB) to explain a failed start. It ends with Stop or Kill, or with
// the test binary.
type Process struct {
	cmd  *exec.Cmd
	name string        // the binary's name, in messages
	exit chan struct{} // closed when the process has exited
	mu   sync.Mutex    // guards out
	out  bytes.Buffer
}

// Start starts cmd, a server that lives in dir (made by TempDir), and
// writes its pid there, so that TempDir's sweep leaves dir alone while the
// server runs. Should the test binary end without stopping the server (no
// TestMain calling Stop, a SIGKILL, a panic in another goroutine), the
// kernel sends the server deathSig, so no stray server stays behind.
func Start(cmd *exec.Cmd, dir string, deathSig syscall.Signal) (*Process, error) {
	p := &Process{cmd: cmd, name: filepath.Base(cmd.Path), exit: make(chan struct{})}
	cmd.Stdout = (*outputWriter)(p)
	cmd.Stderr = (*outputWriter)(p)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = deathSig
	// The death signal comes when the thread that started the server
	// ends, not the process: the starting goroutine keeps its thread
	// locked until the server exits, so that the runtime cannot end the
	// thread before.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(p.exit)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return nil, errors.Join(fmt.Errorf("write %s pid: %w", p.name, err), p.Kill())
	}
	return p, nil
}

// WaitReady calls ready every 20 ms until it succeeds, the server exits or
// ctx ends. The error says why and carries the server's output.
func (p *Process) WaitReady(ctx context.Context, ready func(context.Context) error) error {
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.exit:
			return fmt.Errorf("%s exited at start: %s", p.name, p.Output())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w: %s", p.name, err, p.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Output is what the server has written to stdout and stderr so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stop sends the server sig and waits for it to exit, killing it after
// 15 s. A server that has exited already is left as it is.
func (p *Process) Stop(sig syscall.Signal) error {
	p.cmd.Process.Signal(sig) // fails only if it has exited, which the wait sees
	select {
	case <-p.exit:
		return nil
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exit
		return fmt.Errorf("%s did not stop within 15 s; killed it", p.name)
	}
}

// Kill kills the server at once (SIGKILL), for a start that failed, and
// waits for it to exit.
func (p *Process) Kill() error {
	err := p.cmd.Process.Kill()
	<-p.exit
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// outputWriter keeps what the server writes, up to a MiB: enough to
// explain a failure, without a chatty server filling the memory.
type outputWriter Process

func (w *outputWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out.Len() < 1<<20 {
		w.out.Write(b)
	}
	return len(b), nil
}

// pidFile, in a server's directory, holds its pid (see Start).
const pidFile = "pid"

// sweepAge is how old a directory must be before the sweep may remove it:
// far more than a start takes (pgtest and miniotest give up after a
// minute), so that a directory whose server is still starting, in this or
// another test binary, has no pid file yet, or that of a failed attempt
// to bind a port, is not taken for a leftover.
const sweepAge = 10 * time.Minute

// TempDir makes a temporary directory for a server, named prefix followed
// by random characters. It first removes the directories of that prefix
// that test binaries left behind because they were killed before they
// could remove them (their servers died with them; see Start): those over
// sweepAge old whose server is not running.
func TempDir(prefix string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < sweepAge {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, pidFile)); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && syscall.Kill(pid, 0) == nil {
				continue
			}
		}
		os.RemoveAll(dir)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", fmt.Errorf("make server directory: %w", err)
	}
	return dir, nil
}

// Environ is this process's environment without the variables whose
// names start with one of drop (write "HOME=" for HOME alone): the test
// environment may carry settings meant for the developer's own servers.
func Environ(drop ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(drop, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			env = append(env, kv)
		}
	}
	return env
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the server binds it: callers retry.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
