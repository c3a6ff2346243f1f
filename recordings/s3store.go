package recordings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where an S3Store keeps its objects.
type S3Config struct {
	Endpoint  string // host[:port], no scheme: "s3.eu-central-1.amazonaws.com", "127.0.0.1:9000"
	Bucket    string
	AccessKey string
	SecretKey string
	UseTLS    bool
	Region    string // empty: the server's default (MinIO: us-east-1)
}

// S3Store is a Store in an S3 bucket (AWS, MinIO, or another S3 server).
// Replays are served from it with signed URLs (SignedURL), so that the
// bucket can stay private and the media bypass the server.
//
// It holds no resources besides idle HTTP connections; it is safe for
// concurrent use.
type S3Store struct {
	client *minio.Client
	bucket string
}

// NewS3Store connects to the server and creates the bucket if missing.
func NewS3Store(ctx context.Context, cfg S3Config) (*S3Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3 store: endpoint and bucket are required")
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 store %s: %w", cfg.Endpoint, err)
	}
	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 store %s: check bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	if !exists {
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		// Another server process may have created it meanwhile.
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return nil, fmt.Errorf("s3 store %s: create bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
		}
	}
	return &S3Store{client: client, bucket: cfg.Bucket}, nil
}

// Bucket returns the store's bucket.
func (s *S3Store) Bucket() string { return s.bucket }

// Put uploads data in one request (the size is known, and segments are
// small, so no multipart). S3 answers only once the object is durable,
// and a reader sees the old object or the new one, never a mix.
func (s *S3Store) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType(key)})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, mapS3Error(err))
	}
	return nil
}

// PutStream uploads the size bytes of r: in one request up to 16 MiB,
// beyond that as a multipart upload of 16 MiB parts (minio-go holds one
// part in memory at a time). S3 makes the object visible only when the
// last part is in; a failed upload is aborted and leaves no object.
func (s *S3Store) PutStream(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", key, size)
	}
	// exactReader is no io.ReaderAt, which keeps minio-go on its
	// sequential path: one part in memory, read in order.
	er := newExactReader(ctx, r, size)
	if size == 0 {
		// minio-go sends an empty body without reading the stream, so it
		// would not see one that is not empty.
		if _, err := er.Read(nil); err != io.EOF {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, er, size,
		minio.PutObjectOptions{ContentType: contentType(key)})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, mapS3Error(err))
	}
	return nil
}

// contentType is what a browser fetching the object through a signed URL
// is told it is: a player needs the right type.
func contentType(key string) string {
	switch path.Ext(key) {
	case ".webm":
		return "video/webm"
	case ".mp4", ".m4s", ".m4v":
		return "video/mp4"
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	}
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Open returns the object's bytes [off, off+n) (n < 0: to the end). It
// asks for the object's size first, to check the range the same way
// DirStore does, then reads that version (matched by ETag) only.
func (s *S3Store) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open: %w", err)
	}
	// A Put between the stat and the get makes the get fail its ETag
	// match: start over with the new version. Recording objects are written
	// once, the manifest every few seconds, so a few tries are plenty.
	for attempt := 1; ; attempt++ {
		r, info, err := s.open(ctx, key, off, n)
		if attempt < 10 && s3Code(err) == "PreconditionFailed" {
			continue
		}
		return r, info, err
	}
}

func (s *S3Store) open(ctx context.Context, key string, off, n int64) (io.ReadCloser, ObjectInfo, error) {
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, mapS3Error(err))
	}
	info := ObjectInfo{Key: key, Size: st.Size, Modified: st.LastModified}
	n, err = clampRange(key, off, n, info.Size)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	if n == 0 {
		// S3 has no empty range: "bytes=off-(off-1)" is refused.
		return io.NopCloser(strings.NewReader("")), info, nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetMatchETag(st.ETag); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, err)
	}
	if off != 0 || n != info.Size {
		if err := opts.SetRange(off, off+n-1); err != nil {
			return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, err)
		}
	}
	// Core.GetObject makes the request now (Client.GetObject would wait
	// for the first Read), so that a missing object (deleted since the
	// stat) or a replaced one fails Open, not a Read.
	body, _, _, err := (&minio.Core{Client: s.client}).GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, mapS3Error(err))
	}
	return body, info, nil
}

// List returns the objects whose keys start with prefix, in key order.
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var out []ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, mapS3Error(o.Err))
		}
		out = append(out, ObjectInfo{Key: o.Key, Size: o.Size, Modified: o.LastModified})
	}
	// S3 lists in UTF-8 binary order already; sorting keeps the contract
	// with servers that do not.
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the objects whose keys start with prefix, in batches
// (RemoveObjects sends up to 1000 keys a request). An empty prefix is
// refused, so that a retention bug cannot wipe every recording.
func (s *S3Store) Delete(ctx context.Context, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("delete: %w: empty prefix (would delete every object)", ErrBadKey)
	}
	if err := checkPrefix(prefix); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listErr error // written by the feeding goroutine before it closes fed
	toRemove := make(chan minio.ObjectInfo)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		defer close(toRemove)
		for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				listErr = o.Err
				return
			}
			select {
			case toRemove <- o:
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	for e := range s.client.RemoveObjects(ctx, s.bucket, toRemove, minio.RemoveObjectsOptions{}) {
		if len(errs) < 10 {
			errs = append(errs, fmt.Errorf("%s: %w", e.ObjectName, mapS3Error(e.Err)))
		}
	}
	cancel() // should RemoveObjects have stopped early, unblock the feeder
	<-fed
	if listErr != nil {
		errs = append(errs, fmt.Errorf("list: %w", mapS3Error(listErr)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete %q: %w", prefix, err)
	}
	return nil
}

// SignedURL returns a URL that gets the object (ranges allowed) without
// credentials until expiry has passed (at most 7 days, S3's limit). It
// does not check that the object exists: fetching a missing one gets 404.
func (s *S3Store) SignedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("sign url: %w", err)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, expiry, url.Values{})
	if err != nil {
		return "", fmt.Errorf("sign url for %s: %w", key, err)
	}
	return u.String(), nil
}

// mapS3Error makes a missing object's error wrap ErrNotExist, keeping the
// S3 error too.
func mapS3Error(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey":
		return fmt.Errorf("%w (%w)", ErrNotExist, err)
	}
	return err
}

// s3Code is the S3 error code in err's chain, if any.
func s3Code(err error) string {
	var e minio.ErrorResponse
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
