package recordings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dangol/dangol/internal/lang"
)

// ReplayInfo describes the replay of one broadcast.
type ReplayInfo struct {
	URL      string        // path of the playable file: "/replays/<slug>/<id>.webm" or ".mp4"
	HLSURL   string        // path of an MP4 recording's HLS playlist, "/replays/<slug>/<id>.m3u8"; "" for WebM
	Duration time.Duration // of what is stored so far
	Ended    bool          // false while the broadcast is still recorded
	Size     int64         // bytes of the whole file
	// StartedAt is the wall-clock time of the recording's first frame,
	// offset 0 of the replay, from the manifest; zero if the manifest
	// does not say.
	StartedAt time.Time
}

// Replays serves recordings as single playable files, with range requests so
// players can seek: GET /replays/{slug}/{id}.webm for VP8 recordings,
// /replays/{slug}/{id}.mp4 for H.264 ones (fragmented MP4 with an index).
// While a recording is live, and until Consolidate has run on it, the file
// is virtual: the init and the media segments listed in the manifest, back
// to back, read from the Store by range as the client asks. Once
// Consolidate has made it one object, that object is served: from a Store
// that signs URLs (S3Store) by a redirect to a signed URL, so that the
// bytes bypass this server; otherwise by range as before. The URL stays
// the same throughout, so the one ReplayInfo.URL hands out keeps working.
//
// A Replays holds no state; it is safe for concurrent use.
type Replays struct {
	store Store
	log   *slog.Logger
}

// NewReplays returns the replays of the recordings in store.
func NewReplays(store Store, log *slog.Logger) *Replays {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replays{store: store, log: log}
}

// replayPath returns the URL path of the replay of the recording under
// "<slug>/<name>" (name: a broadcast id, or "<id>.2" for a continuation).
func replayPath(slug, name string, f *format) string {
	return "/replays/" + slug + "/" + name + f.fileExt
}

// Info describes the replay of broadcast id of channel slug. A broadcast
// without a recording, or whose recording has no segment yet, is an error
// wrapping ErrNotExist.
func (rp *Replays) Info(ctx context.Context, slug string, id int64) (ReplayInfo, error) {
	name := strconv.FormatInt(id, 10)
	r, err := rp.open(ctx, slug+"/"+name)
	if err != nil {
		return ReplayInfo{}, err
	}
	info := ReplayInfo{
		URL:       replayPath(slug, name, r.format),
		Duration:  time.Duration(r.m.DurationMs) * time.Millisecond,
		Ended:     r.m.Ended,
		Size:      r.size,
		StartedAt: r.m.StartedAt,
	}
	if r.format == mp4Format {
		info.HLSURL = "/replays/" + slug + "/" + name + ".m3u8"
	}
	return info, nil
}

// replay is one recording, as read at the start of a request.
type replay struct {
	prefix   string
	m        Manifest
	format   *format
	modified time.Time // of the manifest
	// init is the init segment, read whole, while the segments are objects
	// of their own; nil when file holds everything.
	init []byte
	// file is the key of the one object that holds the whole file (a
	// consolidated recording, a clip), if there is one.
	file string
	size int64 // init + segments
}

func (rp *Replays) open(ctx context.Context, prefix string) (*replay, error) {
	r, err := openReplay(ctx, rp.store, prefix)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", prefix, err)
	}
	return r, nil
}

// openReplay reads the manifest and, unless the recording is consolidated,
// the init of the recording under prefix. The init is read whole (it is
// small) because Close replaces it with one carrying the duration and
// cues: a request must not mix the two. A consolidated file is never
// replaced, so it is read by range throughout.
func openReplay(ctx context.Context, store Store, prefix string) (*replay, error) {
	m, info, err := loadManifest(ctx, store, prefix)
	if err != nil {
		return nil, err
	}
	return replayOf(ctx, store, prefix, m, info)
}

// replayOf is openReplay with the manifest read already; info is its
// object's.
func replayOf(ctx context.Context, store Store, prefix string, m Manifest, info ObjectInfo) (*replay, error) {
	if m.Init == "" || len(m.Segments) == 0 {
		return nil, fmt.Errorf("nothing recorded yet: %w", ErrNotExist)
	}
	f, err := formatOf(m.Container)
	if err != nil {
		return nil, err
	}
	r := &replay{prefix: prefix, m: m, format: f, modified: info.Modified}
	if m.File != "" {
		r.file, r.size = prefix+"/"+m.File, m.fileSize()
		return r, nil
	}
	init, _, err := readReplayObject(ctx, store, prefix+"/"+m.Init)
	if err != nil {
		return nil, err
	}
	r.init, r.size = init, int64(len(init))
	for _, s := range m.Segments {
		r.size += s.Size
	}
	return r, nil
}

// loadManifest reads the manifest of the recording under prefix, and its
// object's time stamp: when its last segment was stored, the replay's
// Last-Modified.
func loadManifest(ctx context.Context, store Store, prefix string) (Manifest, ObjectInfo, error) {
	data, info, err := readReplayObject(ctx, store, prefix+"/manifest.json")
	if err != nil {
		return Manifest{}, ObjectInfo{}, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, ObjectInfo{}, fmt.Errorf("manifest of %s: %w", prefix, err)
	}
	return m, info, nil
}

func readReplayObject(ctx context.Context, s Store, key string) ([]byte, ObjectInfo, error) {
	rc, info, err := s.Open(ctx, key, 0, -1)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("read %s: %w", key, err)
	}
	return data, info, nil
}

// etag changes whenever the file does: a live recording grows by whole
// segments, and ending it replaces the init. Consolidating changes where
// the bytes are, not what they are, so it keeps the ETag.
func (r *replay) etag() string {
	ended := "live"
	if r.m.Ended {
		ended = "ended"
	}
	return fmt.Sprintf(`"%d-%d-%s"`, r.size, len(r.m.Segments), ended)
}

// ServeHTTP serves GET and HEAD /replays/{slug}/{file}, file being
// "<id>.<ext>" or "<id>.<n>.<ext>" (a recording begun anew after a restart),
// ext being the recording's: webm or mp4; or "<id>.m3u8", the HLS playlist
// of an MP4 recording (hls.go). A GET of a consolidated recording
// from a store that signs URLs is redirected to one (see Replays).
func (rp *Replays) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	slug, file := req.PathValue("slug"), req.PathValue("file")
	var name, ext string
	if i := strings.LastIndexByte(file, '.'); i >= 0 {
		name, ext = file[:i], file[i:]
	}
	if !validReplayName(name) || checkSegment(slug, slug, false) != nil {
		replayNotFound(w, req)
		return
	}
	r, err := rp.open(req.Context(), slug+"/"+name)
	if err == nil && ext == ".m3u8" {
		rp.serveHLS(w, req, r, name)
		return
	}
	if err == nil && ext != r.format.fileExt {
		err = fmt.Errorf("replay %s is %s, not %s: %w", name, r.format.fileExt, ext, ErrNotExist)
	}
	if errors.Is(err, ErrNotExist) {
		replayNotFound(w, req)
		return
	}
	if err != nil {
		rp.fail(w, req, err)
		return
	}
	if r.file != "" && rp.redirectSigned(w, req, r.file) {
		return
	}
	h := w.Header()
	// Set before ServeContent so that it neither sniffs the content nor
	// misses the ETag for If-None-Match and If-Range.
	h.Set("Content-Type", r.format.mime)
	h.Set("ETag", r.etag())
	if r.m.Ended {
		h.Set("Cache-Control", "public, max-age=86400")
	} else {
		// Still recording: the file grows, so revalidate every time.
		h.Set("Cache-Control", "no-cache")
	}
	content := &replayReader{ctx: req.Context(), store: rp.store, r: r}
	defer content.Close()
	http.ServeContent(w, req, "", r.modified, content)
	if content.err != nil && req.Context().Err() == nil {
		rp.log.Error("replay read failed", "path", req.URL.Path, "err", content.err)
	}
}

// validReplayName accepts "<id>" and "<id>.<n>".
func validReplayName(name string) bool {
	id, cont, hasCont := strings.Cut(name, ".")
	return isDigits(id) && (!hasCont || isDigits(cont))
}

func isDigits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func replayNotFound(w http.ResponseWriter, req *http.Request) {
	replayError(w, req, http.StatusNotFound, "not_found", "다시보기를 찾을 수 없습니다.", "Replay not found.")
}

// replayError writes an error the way the merchant API does (commerce's
// apiWriteJSON and apiLang): {"error": {"code", "message"}}, the message in
// Korean unless Accept-Language prefers English.
func replayError(w http.ResponseWriter, req *http.Request, status int, code, ko, en string) {
	msg := ko
	if lang.Pick(req.Header.Get("Accept-Language")) == "en" {
		msg = en
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.NewEncoder(w).Encode(map[string]body{"error": {code, msg}})
}

// replayReader is an io.ReadSeeker over a replay's init and segments back
// to back. It keeps the segment being read open from the read position to
// the segment's end, so that a sequential read costs one Store.Open per
// segment; a Seek drops it. A replay in one object is read the same way,
// as if it were a single segment.
type replayReader struct {
	ctx   context.Context
	store Store
	r     *replay
	pos   int64

	cur    io.ReadCloser // the open segment, read up to pos
	curEnd int64         // file offset where cur's segment ends
	err    error         // the first read error, for the log
}

func (rr *replayReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += rr.pos
	case io.SeekEnd:
		offset += rr.r.size
	default:
		return 0, errors.New("replay seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("replay seek: negative position")
	}
	if offset != rr.pos {
		rr.closeCur()
		rr.pos = offset
	}
	return offset, nil
}

func (rr *replayReader) Read(p []byte) (int, error) {
	if rr.pos >= rr.r.size {
		return 0, io.EOF
	}
	if init := int64(len(rr.r.init)); rr.pos < init {
		n := copy(p, rr.r.init[rr.pos:])
		rr.pos += int64(n)
		return n, nil
	}
	if rr.cur == nil {
		if err := rr.openAt(rr.pos); err != nil {
			rr.err = err
			return 0, err
		}
	}
	if want := rr.curEnd - rr.pos; int64(len(p)) > want {
		p = p[:want]
	}
	n, err := rr.cur.Read(p)
	rr.pos += int64(n)
	if rr.pos == rr.curEnd {
		rr.closeCur()
		err = nil
	} else if err != nil {
		// Includes io.EOF: the object is shorter than the manifest says.
		rr.closeCur()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		err = fmt.Errorf("replay %s: read at %d: %w", rr.r.prefix, rr.pos, err)
		rr.err = err
	}
	return n, err
}

// openAt opens the segment holding file offset pos, from pos.
func (rr *replayReader) openAt(pos int64) error {
	if rr.r.file != "" {
		rc, info, err := rr.store.Open(rr.ctx, rr.r.file, pos, rr.r.size-pos)
		if err != nil {
			return fmt.Errorf("replay %s: %w", rr.r.prefix, err)
		}
		if info.Size != rr.r.size {
			rc.Close()
			return fmt.Errorf("replay %s: %s has %d bytes, want %d", rr.r.prefix, rr.r.file, info.Size, rr.r.size)
		}
		rr.cur, rr.curEnd = rc, rr.r.size
		return nil
	}
	start := int64(len(rr.r.init))
	for _, s := range rr.r.m.Segments {
		end := start + s.Size
		if pos < end {
			key := rr.r.prefix + "/" + s.Name
			rc, info, err := rr.store.Open(rr.ctx, key, pos-start, end-pos)
			if err != nil {
				return fmt.Errorf("replay %s: %w", rr.r.prefix, err)
			}
			if info.Size != s.Size {
				rc.Close()
				return fmt.Errorf("replay %s: %s has %d bytes, the manifest says %d", rr.r.prefix, key, info.Size, s.Size)
			}
			rr.cur, rr.curEnd = rc, end
			return nil
		}
		start = end
	}
	return io.EOF
}

func (rr *replayReader) closeCur() {
	if rr.cur != nil {
		rr.cur.Close()
		rr.cur = nil
	}
}

// Close closes the open segment, if any.
func (rr *replayReader) Close() error {
	rr.closeCur()
	return nil
}

// ClipURL returns the URL path a clip made by MakeClips is served at.
func ClipURL(c Clip) string { return "/replays/" + c.Key }

// signedURLExpiry is how long a signed replay or clip URL stays valid: a
// player fetches ranges of it for as long as the page plays it, and a page
// is reloaded well within the hour.
const signedURLExpiry = time.Hour

// signer is a Store that can hand out URLs to its objects (S3Store).
type signer interface {
	SignedURL(ctx context.Context, key string, expiry time.Duration) (string, error)
}

// ServeClip serves GET and HEAD /replays/{slug}/{rec}/clips/{file}, a clip
// made by MakeClips (rec: the recording's name, "<id>" or "<id>.<n>"). From
// an object store that signs URLs it redirects a GET there, so the bytes
// bypass this server; otherwise it serves the object with range requests.
func (rp *Replays) ServeClip(w http.ResponseWriter, req *http.Request) {
	slug, rec, file := req.PathValue("slug"), req.PathValue("rec"), req.PathValue("file")
	name, ext, _ := strings.Cut(file, ".")
	var f *format
	for _, ff := range formats {
		if "."+ext == ff.fileExt {
			f = ff
		}
	}
	if f == nil || !validClipName(name) || !validReplayName(rec) || checkSegment(slug, slug, false) != nil {
		replayNotFound(w, req)
		return
	}
	key := slug + "/" + rec + "/clips/" + file
	rc, info, err := rp.store.Open(req.Context(), key, 0, 0)
	if err == nil {
		rc.Close()
	}
	if errors.Is(err, ErrNotExist) {
		replayNotFound(w, req)
		return
	}
	if err != nil {
		rp.fail(w, req, err)
		return
	}
	if rp.redirectSigned(w, req, key) {
		return
	}
	r := &replay{prefix: key, format: f, modified: info.Modified, size: info.Size, file: key, m: Manifest{Ended: true}}
	h := w.Header()
	h.Set("Content-Type", f.mime)
	h.Set("ETag", fmt.Sprintf(`"clip-%d-%d"`, info.Size, info.Modified.UnixNano()))
	h.Set("Cache-Control", "public, max-age=86400")
	content := &replayReader{ctx: req.Context(), store: rp.store, r: r}
	defer content.Close()
	http.ServeContent(w, req, "", info.Modified, content)
	if content.err != nil && req.Context().Err() == nil {
		rp.log.Error("clip read failed", "path", req.URL.Path, "err", content.err)
	}
}

// redirectSigned answers a GET with a redirect to a signed URL of the
// object under key, if the store signs URLs, and reports whether it
// answered (a signing failure is answered too, with an error). A HEAD is
// left to the caller: S3 signs the method, so the signed GET URL refuses a
// HEAD, and answering one here moves no bytes anyway.
func (rp *Replays) redirectSigned(w http.ResponseWriter, req *http.Request, key string) bool {
	s, ok := rp.store.(signer)
	if !ok || req.Method != http.MethodGet {
		return false
	}
	u, err := s.SignedURL(req.Context(), key, signedURLExpiry)
	if err != nil {
		rp.fail(w, req, err)
		return true
	}
	// Cached for less than the URL lives, so a cached redirect never
	// points at an expired one.
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(signedURLExpiry.Seconds())/2))
	http.Redirect(w, req, u, http.StatusFound)
	return true
}

func (rp *Replays) fail(w http.ResponseWriter, req *http.Request, err error) {
	if req.Context().Err() == nil {
		rp.log.Error("replay failed", "path", req.URL.Path, "err", err)
	}
	replayError(w, req, http.StatusInternalServerError, "internal",
		"서버에 문제가 생겼습니다. 잠시 후 다시 해 주세요.", "Something went wrong on the server. Please try again shortly.")
}

// validClipName accepts what callers of MakeClips name clips: letters,
// digits and dashes.
func validClipName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
