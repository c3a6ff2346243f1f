// Package web holds the pages and static assets, embedded with embed.FS.
//
// The pages are plain HTML and plain ES modules with JSDoc types: no build
// step, no framework and nothing loaded from another origin. Asset URLs carry
// a content version (/static/v0123456789ab/watch.js), so browsers may keep
// them for a year and a new build is picked up on the next page load; the
// modules import each other relatively and so stay within one version.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed pages static
var embedded embed.FS

// Options configures the pages.
type Options struct {
	// Dir, when set, serves assets from this folder on disk instead of the
	// embedded copy (development). It is laid out like this package's folder
	// (pages/ and static/ inside), so it is normally the web/ folder of a
	// checkout. Files are read on every request and never cached long.
	Dir string
	// PublicURL is the server's address as customers reach it, without a
	// trailing slash: the QR codes hold PublicURL + "/c/" + slug.
	PublicURL string
	// Channel, if set, looks up a channel for its QR code and poster; it
	// returns an error wrapping ErrNotFound for an unknown one. Without it
	// those pages answer 404.
	Channel func(ctx context.Context, slug string) (Channel, error)
	// Log receives what goes wrong while serving; nil discards it.
	Log *slog.Logger
}

// Page names, as files in pages/.
const (
	watchPage    = "watch.html"
	studioPage   = "studio.html"
	tutorPage    = "tutor.html"
	practicePage = "practice.html"
	reviewPage   = "review.html"
	adminPage    = "admin.html"
)

// Cache policies.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// securityPolicy allows only this origin; media may also come from blob: and
// mediastream: URLs (camera preview and WebRTC streams).
const securityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' blob:; media-src 'self' blob: mediastream:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const landingText = `단골 라이브 방송 서버입니다.
가게에 있는 QR 코드를 찍으면 방송을 볼 수 있어요.

Dangol live market streaming.
Scan the QR code at a stall to watch its live broadcast.
`

const notFoundText = `페이지를 찾을 수 없어요.
Page not found.
`

// Handler serves: GET /c/{slug} (watch page), GET /c/{slug}/qr.png and
// qr.svg (the channel link as a QR code), GET /c/{slug}/poster (a page to
// print for the stall), GET /studio (minimal studio), GET /tutor (the
// tutor's dashboard), GET /practice (coaching a practice session) and
// GET /review (a practice session's review), GET /admin (the operator's
// tutors and channels), GET /static/... (assets), and
// GET / (a short landing text). Other paths answer 404.
//
// It returns an error when Options.Dir does not hold the pages and assets.
func Handler(opts Options) (http.Handler, error) {
	s := &site{fsys: embedded, publicURL: strings.TrimRight(opts.PublicURL, "/"), lookup: opts.Channel, log: opts.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.Dir != "" {
		s.fsys = os.DirFS(opts.Dir)
		s.dev = true
	}
	if err := s.load(); err != nil {
		if opts.Dir != "" {
			return nil, fmt.Errorf("web dir %q: %w", opts.Dir, err)
		}
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serveLanding)
	mux.HandleFunc("GET /c/{slug}", s.servePage(watchPage))
	mux.HandleFunc("GET /c/{slug}/qr.png", s.serveQRPNG)
	mux.HandleFunc("GET /c/{slug}/qr.svg", s.serveQRSVG)
	mux.HandleFunc("GET /c/{slug}/poster", s.servePoster)
	mux.HandleFunc("GET /studio", s.servePage(studioPage))
	mux.HandleFunc("GET /tutor", s.servePage(tutorPage))
	mux.HandleFunc("GET /practice", s.servePage(practicePage))
	mux.HandleFunc("GET /review", s.servePage(reviewPage))
	mux.HandleFunc("GET /admin", s.servePage(adminPage))
	mux.HandleFunc("GET /static/{path...}", s.serveStatic)
	mux.HandleFunc("GET /", serveNotFound)
	return withSecurityHeaders(mux), nil
}

// site serves one set of pages and assets. It does not change after load.
type site struct {
	fsys fs.FS
	dev  bool // read files on every request (Options.Dir)

	// version is the URL segment after /static/: a hash of all assets, or
	// "dev" in development, where nothing is cached for long.
	version string
	assets  map[string]asset // path under static/ -> asset; nil when dev
	pages   map[string]asset // page name -> rendered page; nil when dev
	poster  *template.Template

	publicURL string
	lookup    func(ctx context.Context, slug string) (Channel, error) // Options.Channel
	log       *slog.Logger
}

// asset is one file ready to serve.
type asset struct {
	data  []byte
	ctype string
	etag  string
}

func newAsset(name string, data []byte) asset {
	sum := sha256.Sum256(data)
	return asset{
		data:  data,
		ctype: contentType(name),
		etag:  `"` + hex.EncodeToString(sum[:8]) + `"`,
	}
}

// load checks the file tree and, unless in development, reads it all in.
func (s *site) load() error {
	files := map[string]asset{}
	err := fs.WalkDir(s.fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || hidden(p) {
			return nil
		}
		data, err := fs.ReadFile(s.fsys, p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, "static/")] = newAsset(p, data)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read assets: %w", err)
	}

	if s.dev {
		s.version = "dev"
	} else {
		s.assets = files
		s.version = versionOf(files)
	}

	pages := map[string]asset{}
	for _, name := range []string{watchPage, studioPage, tutorPage, practicePage, reviewPage, adminPage} {
		data, err := s.render(name)
		if err != nil {
			return err
		}
		pages[name] = newAsset(name, data)
	}
	if !s.dev {
		s.pages = pages
	}
	// Parsed even in development, to fail at start on a broken template.
	t, err := template.ParseFS(s.fsys, "pages/"+posterPage)
	if err != nil {
		return fmt.Errorf("parse page: %w", err)
	}
	s.poster = t
	return nil
}

// versionOf hashes all assets into a short URL segment.
func versionOf(files map[string]asset) string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", name, files[name].etag)
	}
	return "v" + hex.EncodeToString(h.Sum(nil)[:6])
}

// isVersion reports whether seg looks like an asset version, current or from
// an earlier build.
func isVersion(seg string) bool {
	if seg == "dev" {
		return true
	}
	if len(seg) != 13 || seg[0] != 'v' {
		return false
	}
	_, err := hex.DecodeString(seg[1:])
	return err == nil
}

// pageData is what the page templates see.
type pageData struct {
	Static string // URL prefix of the assets, without a trailing slash
}

func (s *site) render(name string) ([]byte, error) {
	t, err := template.ParseFS(s.fsys, "pages/"+name)
	if err != nil {
		return nil, fmt.Errorf("parse page: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, pageData{Static: "/static/" + s.version}); err != nil {
		return nil, fmt.Errorf("render page %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

func (s *site) servePage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.pages[name]
		if s.dev {
			data, err := s.render(name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			a, ok = newAsset(name, data), true
		}
		if !ok {
			serveNotFound(w, r)
			return
		}
		serveAsset(w, r, a, cacheRevalidate)
	}
}

func (s *site) serveStatic(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	cache := cacheRevalidate
	if seg, rest, ok := strings.Cut(p, "/"); ok && isVersion(seg) {
		p = rest
		// An earlier version's URL still gets the current file, from a page
		// loaded before a deploy, but must not be kept under that URL.
		if seg == s.version && !s.dev {
			cache = cacheImmutable
		}
	}
	if !fs.ValidPath(p) || p == "." || hidden(p) {
		serveNotFound(w, r)
		return
	}

	a, ok := s.assets[p]
	if s.dev {
		var err error
		a, err = s.readAsset(p)
		ok = err == nil
	}
	if !ok {
		serveNotFound(w, r)
		return
	}
	serveAsset(w, r, a, cache)
}

// readAsset reads one file of static/ from disk (development).
func (s *site) readAsset(p string) (asset, error) {
	name := "static/" + p
	info, err := fs.Stat(s.fsys, name)
	if err != nil {
		return asset{}, err
	}
	if info.IsDir() {
		return asset{}, errors.New("is a directory")
	}
	data, err := fs.ReadFile(s.fsys, name)
	if err != nil {
		return asset{}, err
	}
	return newAsset(name, data), nil
}

func (s *site) serveLanding(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write([]byte(landingText))
}

func serveNotFound(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", cacheRevalidate)
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(notFoundText))
}

// serveAsset writes a with its type and validator; http.ServeContent answers
// conditional (304) and range requests.
func serveAsset(w http.ResponseWriter, r *http.Request, a asset, cache string) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cache)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}

// withSecurityHeaders sets the headers every answer carries.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", securityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

// contentTypes are fixed here rather than taken from the system's MIME
// table, which differs between machines (e.g. application/javascript).
var contentTypes = map[string]string{
	".css":         "text/css; charset=utf-8",
	".html":        "text/html; charset=utf-8",
	".ico":         "image/x-icon",
	".js":          "text/javascript; charset=utf-8",
	".json":        "application/json",
	".png":         "image/png",
	".svg":         "image/svg+xml",
	".txt":         "text/plain; charset=utf-8",
	".webmanifest": "application/manifest+json",
	".woff2":       "font/woff2",
}

func contentType(name string) string {
	ext := path.Ext(name)
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// hidden reports whether any element of p starts with a dot or an
// underscore, which embed leaves out too: the disk copy must not serve more
// than the embedded one.
func hidden(p string) bool {
	for elem := range strings.SplitSeq(p, "/") {
		if strings.HasPrefix(elem, ".") || strings.HasPrefix(elem, "_") {
			return true
		}
	}
	return false
}
