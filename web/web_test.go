package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func newHandler(t *testing.T, opts Options) http.Handler {
	t.Helper()
	h, err := Handler(opts)
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	return h
}

func do(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var staticPrefixRE = regexp.MustCompile(`/static/(v[0-9a-f]{12}|dev)/`)

// staticPrefix returns the versioned asset prefix the pages use, e.g.
// "/static/v0123456789ab".
func staticPrefix(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := do(h, http.MethodGet, "/c/x", nil)
	m := staticPrefixRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no versioned /static/ URL in the watch page:\n%s", rec.Body)
	}
	return "/static/" + m[1]
}

func TestRoutes(t *testing.T) {
	h := newHandler(t, Options{})
	static := staticPrefix(t, h)

	tests := []struct {
		name     string
		method   string
		path     string // {static} is replaced by the versioned prefix
		status   int
		ctype    string // exact Content-Type, when set
		contains string
		cache    string // exact Cache-Control, when set
	}{
		{name: "landing", method: "GET", path: "/", status: 200, ctype: "text/plain; charset=utf-8", contains: "단골"},
		{name: "watch", method: "GET", path: "/c/x", status: 200, ctype: "text/html; charset=utf-8", contains: `src="{static}/watch.js"`, cache: "no-cache"},
		{name: "watch korean slug", method: "GET", path: "/c/%EB%8B%A8%EA%B3%A8", status: 200, ctype: "text/html; charset=utf-8", contains: "watch.js"},
		{name: "watch head", method: "HEAD", path: "/c/x", status: 200, ctype: "text/html; charset=utf-8"},
		{name: "studio", method: "GET", path: "/studio", status: 200, ctype: "text/html; charset=utf-8", contains: `src="{static}/studio.js"`},
		{name: "studio link", method: "GET", path: "/studio?c=x", status: 200, ctype: "text/html; charset=utf-8", contains: "studio.js"},
		{name: "tutor", method: "GET", path: "/tutor", status: 200, ctype: "text/html; charset=utf-8", contains: `src="{static}/tutor.js"`, cache: "no-cache"},
		{name: "practice", method: "GET", path: "/practice?c=x&s=7", status: 200, ctype: "text/html; charset=utf-8", contains: `src="{static}/coach.js"`, cache: "no-cache"},
		{name: "review", method: "GET", path: "/review?c=x&s=7", status: 200, ctype: "text/html; charset=utf-8", contains: `src="{static}/review.js"`, cache: "no-cache"},
		{name: "admin", method: "GET", path: "/admin", status: 200, ctype: "text/html; charset=utf-8", contains: `src="{static}/admin.js"`, cache: "no-cache"},
		{name: "tutor stylesheet", method: "GET", path: "{static}/tutor.css", status: 200, ctype: "text/css; charset=utf-8"},
		{name: "script versioned", method: "GET", path: "{static}/watch.js", status: 200, ctype: "text/javascript; charset=utf-8", contains: "whep", cache: cacheImmutable},
		{name: "script unversioned", method: "GET", path: "/static/watch.js", status: 200, ctype: "text/javascript; charset=utf-8", cache: "no-cache"},
		{name: "script earlier version", method: "GET", path: "/static/v000000000000/watch.js", status: 200, ctype: "text/javascript; charset=utf-8", cache: "no-cache"},
		{name: "stylesheet", method: "GET", path: "{static}/style.css", status: 200, ctype: "text/css; charset=utf-8"},
		{name: "icon", method: "GET", path: "{static}/icon.svg", status: 200, ctype: "image/svg+xml"},
		{name: "unknown", method: "GET", path: "/nope", status: 404, contains: "Page not found"},
		{name: "channel without slug", method: "GET", path: "/c/", status: 404},
		{name: "channel subpath", method: "GET", path: "/c/x/y", status: 404},
		{name: "studio subpath", method: "GET", path: "/studio/x", status: 404},
		{name: "static root", method: "GET", path: "/static/", status: 404},
		{name: "static version root", method: "GET", path: "{static}/", status: 404},
		{name: "static missing", method: "GET", path: "{static}/missing.js", status: 404},
		{name: "static missing unversioned", method: "GET", path: "/static/missing.js", status: 404},
		{name: "static hidden", method: "GET", path: "/static/.hidden", status: 404},
		{name: "page source not served", method: "GET", path: "/static/../pages/watch.html", status: 404},
		{name: "post to page", method: "POST", path: "/c/x", status: 405},
		{name: "post to studio", method: "POST", path: "/studio", status: 405},
		{name: "post to tutor", method: "POST", path: "/tutor", status: 405},
		{name: "tutor subpath", method: "GET", path: "/tutor/x", status: 404},
		{name: "practice subpath", method: "GET", path: "/practice/7", status: 404},
		{name: "review subpath", method: "GET", path: "/review/7", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := strings.ReplaceAll(tt.path, "{static}", static)
			rec := do(h, tt.method, target, nil)
			if rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect {
				// ServeMux cleans paths with a redirect; follow it once.
				rec = do(h, tt.method, rec.Header().Get("Location"), nil)
			}
			if rec.Code != tt.status {
				t.Fatalf("%s %s: status %d, want %d", tt.method, target, rec.Code, tt.status)
			}
			if got := rec.Header().Get("Content-Type"); tt.ctype != "" && got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := rec.Header().Get("Cache-Control"); tt.cache != "" && got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			want := strings.ReplaceAll(tt.contains, "{static}", static)
			if want != "" && !strings.Contains(rec.Body.String(), want) {
				t.Errorf("body does not contain %q:\n%s", want, rec.Body)
			}
			if rec.Header().Get("Content-Security-Policy") != securityPolicy {
				t.Errorf("Content-Security-Policy %q", rec.Header().Get("Content-Security-Policy"))
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered with a body")
			}
		})
	}
}

func TestSecurityPolicy(t *testing.T) {
	for _, want := range []string{
		"default-src 'self'",
		"script-src 'self'",
		"connect-src 'self'",
		"media-src 'self' blob: mediastream:",
		"object-src 'none'",
		"frame-ancestors 'none'",
	} {
		if !strings.Contains(securityPolicy, want) {
			t.Errorf("policy lacks %q", want)
		}
	}
	for _, bad := range []string{"http:", "https:", "*", "unsafe-inline", "unsafe-eval", "data:"} {
		if strings.Contains(securityPolicy, bad) {
			t.Errorf("policy allows %q", bad)
		}
	}
}

var (
	// attrURLRE finds asset URLs in src and href attributes.
	attrURLRE = regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
	// importRE finds relative module imports: import ... from './x.js',
	// import './x.js' and import('./x.js').
	importRE = regexp.MustCompile(`(?m)(?:\bfrom\s*|^\s*import\s*|\bimport\s*\(\s*)['"](\.{1,2}/[^'"]+)['"]`)
)

// TestAssetsReferenced fetches every asset the pages reference, and every
// module those import, so that a missing or misnamed file fails here rather
// than on a phone.
func TestAssetsReferenced(t *testing.T) {
	for _, opts := range []Options{{}, {Dir: "."}} {
		name := "embedded"
		if opts.Dir != "" {
			name = "dir"
		}
		t.Run(name, func(t *testing.T) {
			h := newHandler(t, opts)
			for _, page := range []struct {
				path   string
				script string
			}{
				{"/c/x", "watch.js"},
				{"/studio", "studio.js"},
				{"/tutor", "tutor.js"},
				{"/practice?c=x&s=1", "coach.js"},
				{"/review?c=x&s=1", "review.js"},
				{"/admin", "admin.js"},
			} {
				rec := do(h, http.MethodGet, page.path, nil)
				if rec.Code != http.StatusOK {
					t.Fatalf("GET %s: %d", page.path, rec.Code)
				}
				var queue []string
				for _, m := range attrURLRE.FindAllStringSubmatch(rec.Body.String(), -1) {
					queue = append(queue, m[1])
				}
				if !slices.ContainsFunc(queue, func(u string) bool { return strings.HasSuffix(u, "/"+page.script) }) {
					t.Errorf("%s does not load %s: %v", page.path, page.script, queue)
				}
				seen := map[string]bool{}
				for len(queue) > 0 {
					u := queue[0]
					queue = queue[1:]
					if seen[u] {
						continue
					}
					seen[u] = true
					rec := do(h, http.MethodGet, u, nil)
					if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
						t.Errorf("%s references %s: status %d, %d bytes", page.path, u, rec.Code, rec.Body.Len())
						continue
					}
					if ct := rec.Header().Get("Content-Type"); ct == "application/octet-stream" {
						t.Errorf("%s: Content-Type %s", u, ct)
					}
					if strings.HasSuffix(u, ".js") {
						for _, m := range importRE.FindAllStringSubmatch(rec.Body.String(), -1) {
							queue = append(queue, path.Join(path.Dir(u), m[1]))
						}
					}
				}
				if len(seen) < 4 {
					t.Errorf("%s: only %d assets found: %v", page.path, len(seen), seen)
				}
			}
		})
	}
}

func TestConditionalGet(t *testing.T) {
	h := newHandler(t, Options{})
	static := staticPrefix(t, h)
	for _, target := range []string{static + "/i18n.js", "/c/x", "/studio", "/tutor", "/practice", "/review"} {
		t.Run(target, func(t *testing.T) {
			first := do(h, http.MethodGet, target, nil)
			etag := first.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			again := do(h, http.MethodGet, target, http.Header{"If-None-Match": {etag}})
			if again.Code != http.StatusNotModified {
				t.Errorf("with If-None-Match: status %d, want 304", again.Code)
			}
		})
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, embedded); err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, Options{Dir: dir})
	static := staticPrefix(t, h)
	if static != "/static/dev" {
		t.Errorf("static prefix %q, want /static/dev", static)
	}

	// Edits show without a restart, and nothing is kept long.
	file := filepath.Join(dir, "static", "watch.js")
	if err := os.WriteFile(file, []byte("// edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := do(h, http.MethodGet, static+"/watch.js", nil)
	if rec.Code != http.StatusOK || rec.Body.String() != "// edited\n" {
		t.Errorf("edited asset: %d %q", rec.Code, rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}
	if rec := do(h, http.MethodGet, "/static/dev/", nil); rec.Code != http.StatusNotFound {
		t.Errorf("directory: %d, want 404", rec.Code)
	}
}

func TestDirMissing(t *testing.T) {
	for name, dir := range map[string]string{
		"empty":     t.TempDir(),
		"not there": filepath.Join(t.TempDir(), "nope"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Handler(Options{Dir: dir}); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestScripts checks the syntax of every module with node and runs the
// modules' own tests (testdata/*.test.js).
func TestScripts(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("DANGOL_TEST_STRICT") == "1" {
			t.Fatal("node is not installed (DANGOL_TEST_STRICT=1)")
		}
		t.Skip("SKIPPED: node is not installed; the browser modules are not checked")
	}
	scripts, err := fs.Glob(embedded, "static/*.js")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			// package.json ("type": "module") makes node parse them as modules.
			out, err := exec.Command(node, "--check", filepath.FromSlash(s)).CombinedOutput()
			if err != nil {
				t.Errorf("node --check %s: %v\n%s", s, err, out)
			}
		})
	}
	t.Run("unit", func(t *testing.T) {
		// Every test file of testdata/: the pages' modules each have theirs.
		tests, err := filepath.Glob(filepath.Join("testdata", "*.test.js"))
		if err != nil || len(tests) == 0 {
			t.Fatalf("no module tests in testdata: %v", err)
		}
		out, err := exec.Command(node, append([]string{"--test"}, tests...)...).CombinedOutput()
		if err != nil {
			t.Errorf("node --test: %v\n%s", err, out)
		}
	})
}

var (
	// scriptRE finds script elements, with their attributes and content.
	scriptRE = regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
	// inlineRE finds other things the Content-Security-Policy would block:
	// style elements and attributes, and event handler attributes.
	inlineRE = regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=`)
)

// TestTutorPages checks that the tutor's pages are served with the
// security policy and hold nothing it would block: they must work as they
// are, with no inline script or style.
func TestTutorPages(t *testing.T) {
	h := newHandler(t, Options{})
	for _, target := range []string{"/tutor", "/practice?c=kim-fish&s=7", "/review?c=kim-fish&s=7"} {
		t.Run(target, func(t *testing.T) {
			rec := do(h, http.MethodGet, target, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); csp != securityPolicy {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			body := rec.Body.String()
			for _, m := range scriptRE.FindAllStringSubmatch(body, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("inline script the policy blocks: %q", m[0])
				}
			}
			if m := inlineRE.FindString(body); m != "" {
				t.Errorf("inline code the policy blocks: %q", m)
			}
			for _, want := range []string{`<html lang="ko">`, `name="viewport"`, `/tutor.css"`, "data-lang-switch"} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if strings.Contains(body, "{{") {
				t.Error("page has an unrendered template action")
			}
		})
	}
}
