package recordings

import (
	"context"
	"errors"
	"fmt"
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

// StreamPutter is a Store that can also store an object from a stream, for
// objects too big to hold in memory: the one file Consolidate makes of a
// recording runs to hundreds of megabytes. Both DirStore and S3Store are one.
type StreamPutter interface {
	// PutStream stores the size bytes r yields under key, as Put does: it
	// returns once the object is durable, and a reader sees the old object
	// or the new one whole, never part of it. A stream that ends before
	// size bytes, or goes on after them, is an error and stores nothing.
	PutStream(ctx context.Context, key string, r io.Reader, size int64) error
}

// exactReader passes on the size bytes of r and fails, instead of
// delivering the last of them, if r yields fewer or more: the stores copy
// from it, and a failed copy keeps the object from being committed. Its
// errors are not io.EOF nor io.ErrUnexpectedEOF, which copying code (such
// as minio-go's part reader) takes for the normal end of the stream.
type exactReader struct {
	ctx  context.Context
	r    io.Reader
	size int64
	read int64
	err  error // sticky, so a retrying caller cannot get past it
}

func newExactReader(ctx context.Context, r io.Reader, size int64) *exactReader {
	return &exactReader{ctx: ctx, r: r, size: size}
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if err := e.ctx.Err(); err != nil {
		e.err = err
		return 0, err
	}
	left := e.size - e.read
	if left == 0 {
		// Only reached for size 0, or when the caller reads past the end.
		if err := e.checkEnd(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := e.r.Read(p)
	e.read += int64(n)
	switch {
	case e.read == e.size:
		// Make sure r ends here before handing over the last bytes: once
		// the caller has them all it may commit without reading again.
		if err := e.checkEnd(); err != nil {
			return 0, err
		}
		return n, nil
	case err == io.EOF:
		e.err = fmt.Errorf("stream ended after %d of %d bytes", e.read, e.size)
		return 0, e.err
	case err != nil:
		e.err = fmt.Errorf("read stream at %d: %w", e.read, err)
		return 0, e.err
	}
	return n, nil
}

// checkEnd checks that r has nothing after the size bytes.
func (e *exactReader) checkEnd() error {
	var b [1]byte
	for range 100 {
		n, err := e.r.Read(b[:])
		if n > 0 {
			e.err = fmt.Errorf("stream longer than %d bytes", e.size)
			return e.err
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			e.err = fmt.Errorf("read stream at %d: %w", e.read, err)
			return e.err
		}
	}
	e.err = fmt.Errorf("read stream at %d: %w", e.read, io.ErrNoProgress)
	return e.err
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key      string
	Size     int64
	Modified time.Time
}

// ErrNotExist is wrapped by the errors of a Store asked for a missing key.
var ErrNotExist = errors.New("recording object does not exist")
