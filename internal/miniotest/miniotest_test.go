package miniotest

import (
	"context"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func TestMain(m *testing.M) { Main(m) }

// TestStart checks that the server takes the credentials it was given,
// refuses others, and that every test gets a bucket name of its own.
func TestStart(t *testing.T) {
	s := Start(t)
	if Start(t) != s {
		t.Fatal("a second Start started another server")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name        string
		key, secret string
		wantErr     bool
	}{
		{"root credentials", s.AccessKey, s.SecretKey, false},
		{"wrong secret", s.AccessKey, s.SecretKey + "x", true},
		{"default credentials", "minioadmin", "minioadmin", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(tc.key, tc.secret, "")})
			if err != nil {
				t.Fatal(err)
			}
			bucket := s.NewBucket()
			err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
			if (err != nil) != tc.wantErr {
				t.Fatalf("make bucket %s: %v, want error: %v", bucket, err, tc.wantErr)
			}
		})
	}
	if a, b := NewBucket(t), NewBucket(t); a == b {
		t.Errorf("two tests got the same bucket %s", a)
	}
}
