package recordings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dangol/dangol/internal/miniotest"
)

// storeBackends are the Store implementations the contract runs against;
// each call of open gives a fresh, empty store.
var storeBackends = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"dir", func(t *testing.T) Store { return newDirStore(t, t.TempDir()) }},
	{"s3", func(t *testing.T) Store { return newS3Store(t) }},
}

func newDirStore(t *testing.T, dir string) *DirStore {
	t.Helper()
	s, err := NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newS3Store(t *testing.T) *S3Store {
	t.Helper()
	srv := miniotest.Start(t)
	s, err := NewS3Store(testContext(t), S3Config{
		Endpoint: srv.Endpoint, Bucket: srv.NewBucket(),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStore(t *testing.T) {
	for _, b := range storeBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range storeContract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.test(t, b.open(t))
				})
			}
		})
	}
}

var storeContract = []struct {
	name string
	test func(t *testing.T, s Store)
}{
	{"PutOpen", testPutOpen},
	{"Ranges", testRanges},
	{"Replace", testReplace},
	{"ReplaceIsAtomic", testReplaceIsAtomic},
	{"List", testList},
	{"Delete", testDelete},
	{"Missing", testMissing},
	{"BadKeys", testBadKeys},
	{"ConcurrentPuts", testConcurrentPuts},
	{"PutStream", testPutStream},
}

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(testContext(t), key, data); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// read opens key and reads what Open returns.
func read(t *testing.T, s Store, key string, off, n int64) ([]byte, ObjectInfo, error) {
	t.Helper()
	r, info, err := s.Open(testContext(t), key, off, n)
	if err != nil {
		return nil, info, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return b, info, err
}

func testPutOpen(t *testing.T, s Store) {
	before := time.Now().Add(-time.Minute) // S3 stamps to the second, by its own clock
	data := []byte("segment one")
	mustPut(t, s, "kim-fish/42/000001.webm", data)
	got, info, err := read(t, s, "kim-fish/42/000001.webm", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("content %q, want %q", got, data)
	}
	if info.Key != "kim-fish/42/000001.webm" || info.Size != int64(len(data)) {
		t.Errorf("info %+v, want key kim-fish/42/000001.webm, size %d", info, len(data))
	}
	if info.Modified.Before(before) || info.Modified.After(time.Now().Add(time.Minute)) {
		t.Errorf("modified %v, want about now", info.Modified)
	}

	mustPut(t, s, "kim-fish/42/empty.json", nil)
	got, info, err = read(t, s, "kim-fish/42/empty.json", 0, -1)
	if err != nil || len(got) != 0 || info.Size != 0 {
		t.Errorf("empty object: %q, %+v, %v", got, info, err)
	}
}

func testRanges(t *testing.T, s Store) {
	data := []byte("0123456789")
	mustPut(t, s, "r/obj.mp4", data)
	for _, tc := range []struct {
		name    string
		off, n  int64
		want    string
		wantErr bool
	}{
		{name: "whole", off: 0, n: -1, want: "0123456789"},
		{name: "whole by length", off: 0, n: 10, want: "0123456789"},
		{name: "middle", off: 3, n: 4, want: "3456"},
		{name: "to end", off: 3, n: -1, want: "3456789"},
		{name: "last byte", off: 9, n: 1, want: "9"},
		{name: "past end cut", off: 8, n: 100, want: "89"},
		{name: "zero length", off: 2, n: 0, want: ""},
		{name: "at end", off: 10, n: -1, want: ""},
		{name: "beyond end", off: 11, n: -1, wantErr: true},
		{name: "far beyond end", off: 1 << 40, n: 1, wantErr: true},
		{name: "negative offset", off: -1, n: 2, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, info, err := read(t, s, "r/obj.mp4", tc.off, tc.n)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("open(%d, %d) = %q, want an error", tc.off, tc.n, got)
				}
				if errors.Is(err, ErrNotExist) {
					t.Errorf("open(%d, %d): %v, which says the object is missing", tc.off, tc.n, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open(%d, %d): %v", tc.off, tc.n, err)
			}
			if string(got) != tc.want {
				t.Errorf("open(%d, %d) = %q, want %q", tc.off, tc.n, got, tc.want)
			}
			if info.Size != int64(len(data)) {
				t.Errorf("size %d, want the whole object's %d", info.Size, len(data))
			}
		})
	}
}

func testReplace(t *testing.T, s Store) {
	mustPut(t, s, "c/1/manifest.json", []byte(`{"segments":1}`))
	mustPut(t, s, "c/1/manifest.json", []byte(`{"segments":12}`))
	got, info, err := read(t, s, "c/1/manifest.json", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"segments":12}` || info.Size != 15 {
		t.Errorf("after replace: %q (size %d), want the new content", got, info.Size)
	}
	objs, err := s.List(testContext(t), "c/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Size != 15 {
		t.Errorf("list after replace: %+v, want one object of 15 bytes", objs)
	}
}

// testReplaceIsAtomic replaces an object again and again while reading
// it: every read must be one version whole.
func testReplaceIsAtomic(t *testing.T, s Store) {
	const size = 256 << 10
	versions := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size/2)}
	mustPut(t, s, "atomic/seg.webm", versions[0])
	ctx := testContext(t)
	done := make(chan error, 1)
	go func() {
		for i := range 20 {
			if err := s.Put(ctx, "atomic/seg.webm", versions[(i+1)%2]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for reads := 0; ; reads++ {
		got, _, err := read(t, s, "atomic/seg.webm", 0, -1)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
			t.Fatalf("read %d: %d bytes that are neither version", reads, len(got))
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
	}
}

func testList(t *testing.T, s Store) {
	objs := map[string]string{
		"ch1/1/000002.webm": "22",
		"ch1/1/000001.webm": "1",
		"ch1/1/init.webm":   "init",
		"ch1/10/000001.mp4": "10-1",
		"ch1/2/000001.mp4":  "2-1",
		"ch1-x/1/a.mp4":     "x",
		"ch2/1/000001.mp4":  "other",
	}
	for k, v := range objs {
		mustPut(t, s, k, []byte(v))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"ch1/1/", []string{"ch1/1/000001.webm", "ch1/1/000002.webm", "ch1/1/init.webm"}},
		{"ch1/1", []string{"ch1/1/000001.webm", "ch1/1/000002.webm", "ch1/1/init.webm", "ch1/10/000001.mp4"}},
		{"ch1/1/0", []string{"ch1/1/000001.webm", "ch1/1/000002.webm"}},
		{"ch1", []string{"ch1-x/1/a.mp4", "ch1/1/000001.webm", "ch1/1/000002.webm", "ch1/1/init.webm", "ch1/10/000001.mp4", "ch1/2/000001.mp4"}},
		{"", []string{"ch1-x/1/a.mp4", "ch1/1/000001.webm", "ch1/1/000002.webm", "ch1/1/init.webm", "ch1/10/000001.mp4", "ch1/2/000001.mp4", "ch2/1/000001.mp4"}},
		{"ch1/1/init.webm", []string{"ch1/1/init.webm"}},
		{"ch3/", nil},
		{"ch1/1/000001.webm/", nil},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			got, err := s.List(testContext(t), tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range got {
				keys = append(keys, o.Key)
				if want := int64(len(objs[o.Key])); o.Size != want {
					t.Errorf("%s: size %d, want %d", o.Key, o.Size, want)
				}
				if o.Modified.IsZero() {
					t.Errorf("%s: no modification time", o.Key)
				}
			}
			if strings.Join(keys, " ") != strings.Join(tc.want, " ") {
				t.Errorf("list %q:\n got %q\nwant %q", tc.prefix, keys, tc.want)
			}
		})
	}
}

func testDelete(t *testing.T, s Store) {
	for _, k := range []string{"ch1/1/000001.webm", "ch1/1/000002.webm", "ch1/10/000001.webm", "ch2/1/000001.webm"} {
		mustPut(t, s, k, []byte(k))
	}
	ctx := testContext(t)
	if err := s.Delete(ctx, "ch1/1/"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(t, s, "ch1/1/000001.webm", 0, -1); !errors.Is(err, ErrNotExist) {
		t.Errorf("open deleted object: %v, want ErrNotExist", err)
	}
	objs, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key != "ch1/10/000001.webm" || objs[1].Key != "ch2/1/000001.webm" {
		t.Errorf("after delete ch1/1/: %+v, want ch1/10/000001.webm and ch2/1/000001.webm", objs)
	}
	// A recording can be written again where one was deleted.
	mustPut(t, s, "ch1/1/000001.webm", []byte("again"))
	if got, _, err := read(t, s, "ch1/1/000001.webm", 0, -1); err != nil || string(got) != "again" {
		t.Errorf("put after delete: %q, %v", got, err)
	}
	if err := s.Delete(ctx, "nothing/here/"); err != nil {
		t.Errorf("delete of a prefix with no objects: %v, want nil", err)
	}
	if err := s.Delete(ctx, ""); !errors.Is(err, ErrBadKey) {
		t.Errorf("delete everything: %v, want ErrBadKey", err)
	}
	if objs, _ := s.List(ctx, ""); len(objs) != 3 {
		t.Errorf("after refused delete: %d objects, want 3", len(objs))
	}
}

func testMissing(t *testing.T, s Store) {
	mustPut(t, s, "m/1/000001.webm", []byte("x"))
	for _, key := range []string{"m/1/000002.webm", "m/1", "m", "none"} {
		if _, _, err := read(t, s, key, 0, -1); !errors.Is(err, ErrNotExist) {
			t.Errorf("open %s: %v, want ErrNotExist", key, err)
		}
	}
}

var badKeys = []string{
	"", "/etc/passwd", "../x", "a/../../x", "a/..", "..", ".", "a/./b", "a//b", "a/", "/",
	`a\b`, `..\x`, ".hidden", "a/.tmp-x", "a b", "a?b", "a%2F..", "é", "a\x00b",
	strings.Repeat("k", maxKeyLen+1),
}

func testBadKeys(t *testing.T, s Store) {
	ctx := testContext(t)
	for _, key := range badKeys {
		if err := s.Put(ctx, key, []byte("evil")); !errors.Is(err, ErrBadKey) {
			t.Errorf("put %q: %v, want ErrBadKey", key, err)
		}
		if _, _, err := s.Open(ctx, key, 0, -1); !errors.Is(err, ErrBadKey) {
			t.Errorf("open %q: %v, want ErrBadKey", key, err)
		}
	}
	for _, prefix := range []string{"/etc", "../", "a/../", `a\`, "a//"} {
		if _, err := s.List(ctx, prefix); !errors.Is(err, ErrBadKey) {
			t.Errorf("list %q: %v, want ErrBadKey", prefix, err)
		}
		if err := s.Delete(ctx, prefix); !errors.Is(err, ErrBadKey) {
			t.Errorf("delete %q: %v, want ErrBadKey", prefix, err)
		}
	}
	if objs, err := s.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("after refused puts: %+v, %v; want no objects", objs, err)
	}
}

func testConcurrentPuts(t *testing.T, s Store) {
	const n = 16
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("conc/1/%06d.webm", i)
			errs <- s.Put(ctx, key, bytes.Repeat([]byte{byte('a' + i)}, 1000+i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	objs, err := s.List(ctx, "conc/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != n {
		t.Fatalf("%d objects listed, want %d: %+v", len(objs), n, objs)
	}
	for i, o := range objs {
		got, _, err := read(t, s, o.Key, 0, -1)
		want := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
		if err != nil || !bytes.Equal(got, want) || o.Size != int64(len(want)) {
			t.Errorf("%s: %d bytes (listed %d), %v; want %d bytes of %c", o.Key, len(got), o.Size, err, len(want), 'a'+i)
		}
	}
}

// TestStoreDirConfined checks that no key reaches outside the folder, by
// name or through a symbolic link, and that nothing is written there.
func TestStoreDirConfined(t *testing.T) {
	parent := t.TempDir()
	victim := filepath.Join(parent, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newDirStore(t, filepath.Join(parent, "store"))
	// A link inside the store to the folder outside it: os.Root must
	// refuse to follow it out.
	if err := os.Symlink(parent, filepath.Join(parent, "store", "link")); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for _, key := range []string{"../victim", "/etc/passwd", victim[1:] + "/../x", "link/victim", "link/new"} {
		t.Run(key, func(t *testing.T) {
			if err := s.Put(ctx, key, []byte("evil")); err == nil {
				t.Errorf("put %q succeeded", key)
			}
			if r, _, err := s.Open(ctx, key, 0, -1); err == nil {
				r.Close()
				t.Errorf("open %q succeeded", key)
			}
		})
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the file outside the store now holds %q", b)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 2 {
		t.Errorf("the store's parent folder holds %d entries, want 2 (victim, store)", len(entries))
	}
	if objs, err := s.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("list: %+v, %v; want nothing (the link is not an object)", objs, err)
	}
}

// TestStoreDirNoTempLeft checks that Put leaves only the object behind,
// and Delete the folders it emptied.
func TestStoreDirNoTempLeft(t *testing.T) {
	dir := t.TempDir()
	s := newDirStore(t, dir)
	ctx := testContext(t)
	mustPut(t, s, "a/1/000001.webm", []byte("x"))
	mustPut(t, s, "a/1/000001.webm", []byte("y"))
	entries, err := os.ReadDir(filepath.Join(dir, "a", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "000001.webm" {
		t.Errorf("folder holds %v, want only 000001.webm", entries)
	}
	if err := s.Delete(ctx, "a/"); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("after delete the store holds %v, want nothing", entries)
	}
}

// TestStoreS3SignedURL checks that a signed URL serves the object, ranges
// included, to a client with no credentials, and that a tampered one is
// refused.
func TestStoreS3SignedURL(t *testing.T) {
	s := newS3Store(t)
	ctx := testContext(t)
	data := []byte("replay segment bytes")
	mustPut(t, s, "kim-fish/42/000001.webm", data)

	signed, err := s.SignedURL(ctx, "kim-fish/42/000001.webm", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tampered := func(param string) string {
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		v := q.Get(param)
		if v == "" {
			t.Fatalf("signed URL %s has no %s", signed, param)
		}
		switch param {
		case "X-Amz-Signature":
			// Flip the last hex digit.
			last := v[len(v)-1]
			if last == '0' {
				last = '1'
			} else {
				last = '0'
			}
			q.Set(param, v[:len(v)-1]+string(last))
		case "X-Amz-Expires":
			q.Set(param, "604800")
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	otherKey := strings.Replace(signed, "000001.webm", "000002.webm", 1)

	for _, tc := range []struct {
		name       string
		url        string
		rangeHdr   string
		wantStatus int
		wantBody   string
	}{
		{"whole", signed, "", http.StatusOK, string(data)},
		{"range", signed, "bytes=7-13", http.StatusPartialContent, "segment"},
		{"tampered signature", tampered("X-Amz-Signature"), "", http.StatusForbidden, ""},
		{"longer expiry", tampered("X-Amz-Expires"), "", http.StatusForbidden, ""},
		{"other key", otherKey, "", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.rangeHdr != "" {
				req.Header.Set("Range", tc.rangeHdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %s, want %d; body %s", resp.Status, tc.wantStatus, body)
			}
			if tc.wantBody != "" && string(body) != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if tc.wantStatus >= 400 && bytes.Contains(body, data) {
				t.Errorf("refused request still got the object: %s", body)
			}
			if tc.wantStatus < 300 {
				if ct := resp.Header.Get("Content-Type"); ct != "video/webm" {
					t.Errorf("content type %q, want video/webm", ct)
				}
			}
		})
	}

	if _, err := s.SignedURL(ctx, "../x", time.Minute); !errors.Is(err, ErrBadKey) {
		t.Errorf("signed URL for a bad key: %v, want ErrBadKey", err)
	}
}

// chunkReader yields data at most chunk bytes a Read, then err (io.EOF if
// nil): a stream such as a network body gives.
type chunkReader struct {
	data  []byte
	chunk int
	err   error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// patterned returns n bytes that differ from one offset to the next, so
// that a misplaced part shows.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i ^ i>>8 ^ i>>16)
	}
	return b
}

func testPutStream(t *testing.T, s Store) {
	sp, ok := s.(StreamPutter)
	if !ok {
		t.Fatalf("%T is no StreamPutter", s)
	}
	small := []byte("a segment, streamed")
	// Past minio-go's 16 MiB part size, so S3Store uploads it in parts.
	big := patterned(17<<20 + 123)
	canceled, cancel := context.WithCancel(testContext(t))
	cancel()
	for i, tc := range []struct {
		name    string
		ctx     context.Context // nil: the test's
		r       func() io.Reader
		size    int64
		want    []byte // nil: an error, and no object
		wantBad bool   // the error wraps ErrBadKey
	}{
		{name: "small", r: func() io.Reader { return bytes.NewReader(small) }, size: int64(len(small)), want: small},
		{name: "empty", r: func() io.Reader { return bytes.NewReader(nil) }, size: 0, want: []byte{}},
		{name: "data with EOF", r: func() io.Reader { return iotest.DataErrReader(bytes.NewReader(small)) }, size: int64(len(small)), want: small},
		{name: "small reads", r: func() io.Reader { return &chunkReader{data: big[:300<<10], chunk: 1000} }, size: 300 << 10, want: big[:300<<10]},
		{name: "multipart", r: func() io.Reader { return &chunkReader{data: big, chunk: 64 << 10} }, size: int64(len(big)), want: big},
		{name: "shorter than size", r: func() io.Reader { return bytes.NewReader(small) }, size: int64(len(small)) + 1},
		{name: "longer than size", r: func() io.Reader { return bytes.NewReader(small) }, size: int64(len(small)) - 1},
		{name: "one byte for size 0", r: func() io.Reader { return bytes.NewReader(small[:1]) }, size: 0},
		{name: "multipart shorter than size", r: func() io.Reader { return &chunkReader{data: big, chunk: 64 << 10} }, size: int64(len(big)) + 1},
		{name: "multipart longer than size", r: func() io.Reader { return &chunkReader{data: big, chunk: 64 << 10} }, size: int64(len(big)) - 1},
		{name: "multipart read fails", r: func() io.Reader {
			return &chunkReader{data: big[:len(big)-10], chunk: 64 << 10, err: errors.New("disk gone")}
		}, size: int64(len(big))},
		{name: "negative size", r: func() io.Reader { return bytes.NewReader(small) }, size: -1},
		{name: "canceled", ctx: canceled, r: func() io.Reader { return bytes.NewReader(small) }, size: int64(len(small))},
		{name: "bad key", r: func() io.Reader { return bytes.NewReader(small) }, size: int64(len(small)), wantBad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = testContext(t)
			}
			key := fmt.Sprintf("stream/%d/replay.webm", i)
			if tc.wantBad {
				key = "stream/../replay.webm"
			}
			err := sp.PutStream(ctx, key, tc.r(), tc.size)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("PutStream of %d bytes succeeded, want an error", tc.size)
				}
				if tc.wantBad != errors.Is(err, ErrBadKey) {
					t.Errorf("PutStream: %v; wrapping ErrBadKey: %v, want %v", err, errors.Is(err, ErrBadKey), tc.wantBad)
				}
				if objs, err := s.List(testContext(t), "stream/"); err != nil || len(objs) != 0 {
					t.Errorf("after a failed PutStream: %+v, %v; want no object", objs, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, info, err := read(t, s, key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) || info.Size != int64(len(tc.want)) {
				t.Errorf("stored %d bytes (size %d), not the %d streamed", len(got), info.Size, len(tc.want))
			}
			if err := s.Delete(testContext(t), "stream/"); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A failed PutStream over an object leaves the old one.
	old := []byte("the old object")
	mustPut(t, s, "stream/keep/replay.webm", old)
	if err := sp.PutStream(testContext(t), "stream/keep/replay.webm", &chunkReader{data: big, chunk: 64 << 10}, int64(len(big))+1); err == nil {
		t.Fatal("PutStream of a short stream succeeded")
	}
	if got, _, err := read(t, s, "stream/keep/replay.webm", 0, -1); err != nil || !bytes.Equal(got, old) {
		t.Errorf("after a failed PutStream over it the object holds %d bytes, %v; want the old %q", len(got), err, old)
	}
}
