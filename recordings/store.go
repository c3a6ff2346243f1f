package recordings

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store keeps recording objects (a recording's init segment, its media
// segments, its manifest) under slash-separated keys such as
// "kim-fish/42/000003.webm". The recorder writes each object once, whole,
// when it is complete; replays read them back, whole or by range.
//
// DirStore keeps them in a local folder (the default), S3Store in an S3
// bucket (MinIO in the tests).
type Store interface {
	// Put stores data under key, replacing any object there. It returns
	// only once the object is durable.
	Put(ctx context.Context, key string, data []byte) error
	// Open returns the object's content from offset off, length n bytes
	// (n < 0: to the end), and its total size. A missing key is an error
	// wrapping ErrNotExist.
	Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, ObjectInfo, error)
	// List returns the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the objects whose keys start with prefix (retention).
	Delete(ctx context.Context, prefix string) error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key      string
	Size     int64
	Modified time.Time
}

// ErrNotExist is wrapped by the errors of a Store asked for a missing key.
var ErrNotExist = errors.New("recording object does not exist")
