// Package miniotest gives tests a real MinIO (S3) server.
//
// The test binary starts one the first time a test needs it (Start), once
// per process: a temporary data directory, random root credentials,
// listening on 127.0.0.1 only, on free ports. Stop (called from the
// package's TestMain, see Main) stops it when the tests are done and
// removes its directory; a package whose TestMain does not call it still
// leaves no server behind (the kernel kills it with the test binary), and
// the next start removes its directory. Every
// test takes a bucket of its own (NewBucket), so tests are isolated and
// may run in parallel.
//
// The minio binary is DANGOL_TEST_MINIO_BIN if that is set, else minio on
// $PATH, else $(go env GOPATH)/bin/minio (where `go install
// github.com/minio/minio@latest` puts it). Without one the tests skip with
// a reason, or fail when DANGOL_TEST_STRICT=1.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/dangol/dangol/internal/testserver"
)

// shared is the server of this process's tests.
var shared = testserver.NewShared("MinIO", start, func(s *Server) error { return s.proc.stop() })

// Server is the MinIO server the tests use. Endpoint is host:port, without
// a scheme (plain HTTP), as S3 clients take it.
type Server struct {
	Endpoint  string
	AccessKey string
	SecretKey string

	proc *process
	n    atomic.Int64
}

// Main runs the tests of a package that uses this one, then stops the
// server: call it from TestMain.
func Main(m *testing.M) { shared.Main(m) }

// Start returns the server, starting it on first use in this process, or
// skips tb (loudly) when there is no minio binary, or fails it when
// DANGOL_TEST_STRICT=1 or the server is there but broken.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return shared.Get(tb)
}

// NewBucket is Start(tb).NewBucket().
func NewBucket(tb testing.TB) string {
	tb.Helper()
	return Start(tb).NewBucket()
}

// NewBucket returns a bucket name no other test of this process uses. The
// bucket is not created (the store under test does that); it goes with
// the server's data directory at Stop.
func (s *Server) NewBucket() string {
	return fmt.Sprintf("dangol-test-%d-%d", os.Getpid(), s.n.Add(1))
}

// Stop stops the server this process started, if any, and removes its
// data directory. Call it once, after the tests (see Main).
func Stop() error { return shared.Stop() }

func start() (*Server, string, error) {
	bin, reason := findMinio()
	if reason != "" {
		return nil, reason + "; install it with `go install github.com/minio/minio@latest` or set DANGOL_TEST_MINIO_BIN", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := &Server{AccessKey: "dangol-" + randomHex(6), SecretKey: randomHex(20)}
	p, err := startProcess(ctx, bin, s.AccessKey, s.SecretKey)
	if err != nil {
		return nil, "", err
	}
	s.proc = p
	s.Endpoint = p.addr
	if err := waitS3(ctx, s); err != nil {
		return nil, "", errors.Join(err, p.kill())
	}
	return s, "", nil
}

// waitS3 waits until the server answers S3 requests: /minio/health/ready
// says 200 before the IAM subsystem is up, and requests until then fail
// with "Server not initialized yet".
func waitS3(ctx context.Context, s *Server) error {
	client, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		return fmt.Errorf("S3 client: %w", err)
	}
	return s.proc.server.WaitReady(ctx, func(ctx context.Context) error {
		_, err := client.ListBuckets(ctx)
		return err
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
