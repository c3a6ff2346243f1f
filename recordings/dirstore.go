package recordings

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// ErrBadKey is wrapped by the errors of a Store given a key (or prefix) it
// refuses: see checkKey. Both stores refuse the same keys, so a recording
// that works on the local folder works on S3 and back.
var ErrBadKey = errors.New("invalid recording object key")

// maxKeyLen keeps keys well under S3's 1024-byte limit and a file system's
// path limits.
const maxKeyLen = 512

// checkKey refuses keys that are not plain relative slash-separated paths
// of [A-Za-z0-9._-] segments. Besides keeping DirStore inside its folder
// (os.Root enforces that too), it keeps keys portable between file
// systems and S3, and safe to put in URLs unescaped. Segments may not
// start with a dot: that excludes "." and "..", hidden files, and the
// temporary files of DirStore.Put.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrBadKey)
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadKey, maxKeyLen)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: absolute", ErrBadKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(key, seg, false); err != nil {
			return err
		}
	}
	return nil
}

// checkPrefix is checkKey for a List or Delete prefix, which may be empty
// (List: everything), end with a slash, or stop in the middle of a segment.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > maxKeyLen {
		return fmt.Errorf("%w: prefix longer than %d bytes", ErrBadKey, maxKeyLen)
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q: absolute", ErrBadKey, prefix)
	}
	segs := strings.Split(prefix, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		if err := checkSegment(prefix, seg, last); err != nil {
			return err
		}
	}
	return nil
}

// checkSegment checks one segment of key; partial allows an empty segment
// (the end of a prefix).
func checkSegment(key, seg string, partial bool) error {
	switch {
	case seg == "" && partial:
		return nil
	case seg == "":
		return fmt.Errorf("%w %q: empty path segment", ErrBadKey, key)
	case seg[0] == '.':
		return fmt.Errorf("%w %q: a segment starts with a dot", ErrBadKey, key)
	}
	for _, c := range []byte(seg) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: character %q not allowed (only A-Z a-z 0-9 . _ - and / between segments)", ErrBadKey, key, c)
		}
	}
	return nil
}

// clampRange checks the range [off, off+n) of an object of size bytes and
// returns its length: n < 0 means to the end, and a range running past
// the end is cut there (as HTTP ranges are). An offset beyond the size is
// an error; an offset at the size gives an empty range.
func clampRange(key string, off, n, size int64) (int64, error) {
	if off < 0 || off > size {
		return 0, fmt.Errorf("open %s: offset %d outside the object's %d bytes", key, off, size)
	}
	if n < 0 || n > size-off {
		n = size - off
	}
	return n, nil
}

// DirStore is a Store over a local folder: each key is a file under it.
// Keys cannot reach outside the folder, even through symbolic links,
// since all access goes through an os.Root.
//
// Create it with NewDirStore and Close it when done. It is safe for
// concurrent use, also by several processes, since every Put replaces its
// file with a rename.
type DirStore struct {
	root *os.Root
}

// NewDirStore returns a store over dir, created if missing.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create recordings folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open recordings folder: %w", err)
	}
	return &DirStore{root: root}, nil
}

// Dir returns the store's folder.
func (s *DirStore) Dir() string { return s.root.Name() }

// Close releases the folder.
func (s *DirStore) Close() error { return s.root.Close() }

// Put writes data to a temporary file beside the key's, syncs it, renames
// it over the key's and syncs the folder: a reader sees the old object or
// the new one, never part of one, and after a crash the object is there
// whole or not at all.
func (s *DirStore) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, key, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// PutStream is Put with the content copied from r, which must yield
// exactly size bytes: the temporary file is renamed over the key's only
// once all of them are written and synced.
func (s *DirStore) PutStream(ctx context.Context, key string, r io.Reader, size int64) error {
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", key, size)
	}
	return s.put(ctx, key, func(f *os.File) error {
		_, err := io.Copy(f, newExactReader(ctx, r, size))
		return err
	})
}

// put writes the key's content with write into a temporary file, then
// commits it as Put says.
func (s *DirStore) put(ctx context.Context, key string, write func(*os.File) error) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dir := path.Dir(key)
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path.Join(dir, ".tmp-"+path.Base(key)+"-"+hex.EncodeToString(rnd[:]))

	// A concurrent Delete of the prefix may remove the folder between
	// MkdirAll and creating the file in it: make it again, a few times.
	var f *os.File
	var err error
	for range 3 {
		if err = s.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("put %s: create folder: %w", key, err)
		}
		f, err = s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			s.root.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("put %s: write: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: sync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", key, err)
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return fmt.Errorf("put %s: rename: %w", key, err)
	}
	done = true
	// The rename is durable only once the folder's entry is.
	if err := s.syncDir(dir); err != nil {
		return fmt.Errorf("put %s: sync folder: %w", key, err)
	}
	return nil
}

func (s *DirStore) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open returns the object's bytes [off, off+n) (n < 0: to the end).
func (s *DirStore) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, err)
	}
	f, err := s.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		// A folder is where keys with this prefix live, not an object.
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, ErrNotExist)
	}
	info := ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()}
	n, err = clampRange(key, off, n, info.Size)
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, err
	}
	// The open file keeps the content it had even if a Put renames a new
	// one over it meanwhile.
	return sectionReadCloser{io.NewSectionReader(f, off, n), f}, info, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (r sectionReadCloser) Close() error { return r.f.Close() }

// List returns the objects whose keys start with prefix, in key order.
func (s *DirStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	// Walk only the folder the prefix points into.
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	var out []ObjectInfo
	err := fs.WalkDir(s.root.FS(), start, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && name != "." {
			// Put's temporary files, or nothing of ours.
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// Skip folders that cannot hold a matching key.
			if name != start && !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(name, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		out = append(out, ObjectInfo{Key: name, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	// WalkDir goes in lexical order per folder, which is not key order
	// ("a/b" < "a-b" as paths, the reverse as keys).
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the objects whose keys start with prefix, then the
// folders that this leaves empty. An empty prefix is refused, so that a
// retention bug cannot wipe every recording.
func (s *DirStore) Delete(ctx context.Context, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("delete: %w: empty prefix (would delete every object)", ErrBadKey)
	}
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	dirs := map[string]bool{}
	for _, o := range objs {
		if err := s.root.Remove(o.Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", o.Key, err)
		}
		for d := path.Dir(o.Key); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	// Deepest first; Remove fails on folders that still hold something
	// (other keys, a Put in progress), which is as it should be.
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	slices.SortFunc(sorted, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range sorted {
		s.root.Remove(d)
	}
	return nil
}
