package miniotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dangol/dangol/internal/testserver"
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
	dir    string
	addr   string // 127.0.0.1:port of the S3 API
	server *testserver.Process
}

// startProcess starts a server with the given root credentials and waits
// until it is ready.
func startProcess(ctx context.Context, bin, user, password string) (p *process, err error) {
	dir, err := testserver.TempDir("dangol-minio-")
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
	port, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", addr,
		"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(consolePort)),
		"--quiet")
	// Without MINIO_* variables: they would be a developer's own server
	// settings.
	cmd.Env = append(testserver.Environ("MINIO_", "HOME="),
		"MINIO_ROOT_USER="+user,
		"MINIO_ROOT_PASSWORD="+password,
		"MINIO_BROWSER=off", // no web console: nobody looks at it
		"MINIO_UPDATE=off",  // never look for updates
		// CI/CD mode: the data directory may be on the root disk, which
		// MinIO otherwise refuses to use.
		"MINIO_CI_CD=1",
		"HOME="+dir, // its ~/.minio (certificates) stays in the temp dir
	)
	proc, err := testserver.Start(cmd, dir, syscall.SIGKILL)
	if err != nil {
		return nil, err
	}
	p := &process{dir: dir, addr: addr, server: proc}

	// Ready: the server answers 200 once it can serve requests (its
	// drives are formatted and the IAM subsystem is up).
	ready := "http://" + addr + "/minio/health/ready"
	client := &http.Client{Timeout: 2 * time.Second}
	err = proc.WaitReady(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ready, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", ready, resp.Status)
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(err, proc.Kill())
	}
	return p, nil
}

// kill stops the server at once and removes its directory, for a start
// that failed.
func (p *process) kill() error {
	return errors.Join(p.server.Kill(), os.RemoveAll(p.dir))
}

// stop shuts the server down (SIGTERM, then SIGKILL after 15 s) and
// removes its directory.
func (p *process) stop() error {
	return errors.Join(p.server.Stop(syscall.SIGTERM), os.RemoveAll(p.dir))
}
