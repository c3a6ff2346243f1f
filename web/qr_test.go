package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

var testChannels = map[string]Channel{
	"kim-fish": {Slug: "kim-fish", Name: "김씨네 <생선> 가게", Market: "망원시장", Location: "정문에서 두 번째 골목"},
}

func newQRHandler(t *testing.T) http.Handler {
	t.Helper()
	return newHandler(t, Options{
		PublicURL: "https://market.example/",
		Channel: func(_ context.Context, slug string) (Channel, error) {
			if slug == "broken" {
				return Channel{}, errors.New("database on fire")
			}
			ch, ok := testChannels[slug]
			if !ok {
				return Channel{}, fmt.Errorf("channel %q: %w", slug, ErrNotFound)
			}
			return ch, nil
		},
	})
}

// decodeQR reads a QR code image back with an independent decoder.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("bitmap: %v", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode QR code: %v", err)
	}
	return res.GetText()
}

// svgModules reads the module grid back from qrSVG's path: n modules
// square inside a quiet zone of qrQuiet.
func svgModules(t *testing.T, svg string) [][]bool {
	t.Helper()
	vb := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(svg)
	d := regexp.MustCompile(` d="([^"]*)"`).FindStringSubmatch(svg)
	if vb == nil || d == nil || vb[1] != vb[2] {
		t.Fatalf("no square viewBox or path in %s", svg)
	}
	total, _ := strconv.Atoi(vb[1])
	n := total - 2*qrQuiet
	m := make([][]bool, n)
	for i := range m {
		m[i] = make([]bool, n)
	}
	runs := regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(d[1], -1)
	if strings.Join(regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).Split(d[1], -1), "") != "" {
		t.Fatalf("path has more than runs: %.200s", d[1])
	}
	for _, r := range runs {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		w, _ := strconv.Atoi(r[3])
		if r[3] != r[4] || x < qrQuiet || y < qrQuiet || x+w > qrQuiet+n || y >= qrQuiet+n {
			t.Fatalf("bad run %q", r[0])
		}
		for i := range w {
			if m[y-qrQuiet][x-qrQuiet+i] {
				t.Fatalf("module %d,%d drawn twice", x+i, y)
			}
			m[y-qrQuiet][x-qrQuiet+i] = true
		}
	}
	return m
}

// pngModules samples img at the centres of an n-module grid placed as
// qrPNG places it, and checks the quiet zone is white.
func pngModules(t *testing.T, img *image.Paletted, n int) [][]bool {
	t.Helper()
	side := img.Bounds().Dx()
	px := side / (n + 2*qrQuiet)
	off := (side - n*px) / 2
	dark := func(x, y int) bool { return img.ColorIndexAt(x, y) == 1 }
	for i := range off {
		for j := range side {
			if dark(i, j) || dark(j, i) || dark(side-1-i, j) || dark(j, side-1-i) {
				t.Fatalf("dark pixel in the quiet zone at %d,%d", i, j)
			}
		}
	}
	m := make([][]bool, n)
	for y := range m {
		m[y] = make([]bool, n)
		for x := range m[y] {
			cx, cy := off+x*px, off+y*px
			m[y][x] = dark(cx+px/2, cy+px/2)
			// A module is one colour throughout: the edges are sharp.
			if dark(cx, cy) != m[y][x] || dark(cx+px-1, cy+px-1) != m[y][x] {
				t.Fatalf("module %d,%d is not of one colour", x, y)
			}
		}
	}
	return m
}

func TestQRCode(t *testing.T) {
	h := newQRHandler(t)
	const link = "https://market.example/c/kim-fish"

	svgRec := do(h, "GET", "/c/kim-fish/qr.svg", nil)
	if svgRec.Code != 200 || svgRec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("qr.svg: %d %v", svgRec.Code, svgRec.Header())
	}
	svg := svgRec.Body.String()
	if strings.Contains(svg, "style=") || strings.Count(svg, "<path") != 1 {
		t.Errorf("svg has a style attribute or not exactly one path: %.300s", svg)
	}
	want := svgModules(t, svg)

	tests := []struct {
		query string
		size  int
	}{
		{"", qrDefaultSize},
		{"?size=128", 128},
		{"?size=333", 333}, // not a multiple of the modules: the quiet zone takes the rest
		{"?size=2048", 2048},
	}
	for _, tt := range tests {
		t.Run("png"+tt.query, func(t *testing.T) {
			rec := do(h, "GET", "/c/kim-fish/qr.png"+tt.query, nil)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" {
				t.Fatalf("status %d, headers %v: %s", rec.Code, rec.Header(), rec.Body)
			}
			img, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
			if err != nil {
				t.Fatalf("decode png: %v", err)
			}
			pal, ok := img.(*image.Paletted)
			if !ok || img.Bounds() != image.Rect(0, 0, tt.size, tt.size) {
				t.Fatalf("image %T %v, want %dx%d paletted", img, img.Bounds(), tt.size, tt.size)
			}
			if got := decodeQR(t, img); got != link {
				t.Errorf("PNG holds %q, want %q", got, link)
			}
			if got := pngModules(t, pal, len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Error("PNG and SVG modules differ")
			}
		})
	}

	// The SVG, drawn from its own path, decodes to the link too.
	img := image.NewPaletted(image.Rect(0, 0, (len(want)+2*qrQuiet)*4, (len(want)+2*qrQuiet)*4), pngPalette())
	for y, row := range want {
		for x, dark := range row {
			if dark {
				for i := range 16 {
					img.SetColorIndex((x+qrQuiet)*4+i%4, (y+qrQuiet)*4+i/4, 1)
				}
			}
		}
	}
	if got := decodeQR(t, img); got != link {
		t.Errorf("SVG holds %q, want %q", got, link)
	}
}

func pngPalette() []color.Color { return []color.Color{color.White, color.Black} }

func TestQRErrors(t *testing.T) {
	h := newQRHandler(t)
	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/c/nobody-here/qr.png", 404, "Page not found"},
		{"/c/nobody-here/qr.svg", 404, "Page not found"},
		{"/c/nobody-here/poster", 404, "Page not found"},
		{"/c/broken/qr.png", 500, "try again"},
		{"/c/kim-fish/qr.png?size=127", 400, "128"},
		{"/c/kim-fish/qr.png?size=2049", 400, "2048"},
		{"/c/kim-fish/qr.png?size=big", 400, "size"},
		{"/c/kim-fish/poster?paper=letter", 400, "a4"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := do(h, "GET", tt.path, nil)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("%d %q, want %d containing %q", rec.Code, rec.Body, tt.status, tt.contains)
			}
			if rec.Header().Get("Content-Security-Policy") != securityPolicy {
				t.Error("no CSP")
			}
		})
	}
	// Without a lookup the pages do not exist.
	rec := do(newHandler(t, Options{}), "GET", "/c/kim-fish/qr.svg", nil)
	if rec.Code != 404 {
		t.Errorf("without Channel: %d", rec.Code)
	}
}

func TestPoster(t *testing.T) {
	h := newQRHandler(t)
	for _, paper := range []string{"", "a4", "a5"} {
		t.Run("paper="+paper, func(t *testing.T) {
			rec := do(h, "GET", "/c/kim-fish/poster?paper="+paper, nil)
			body := rec.Body.String()
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("%d %v", rec.Code, rec.Header())
			}
			if rec.Header().Get("Content-Security-Policy") != securityPolicy {
				t.Errorf("CSP %q", rec.Header().Get("Content-Security-Policy"))
			}
			want := "a4"
			if paper != "" {
				want = paper
			}
			for _, s := range []string{
				"김씨네 &lt;생선&gt; 가게", // the name, escaped
				"망원시장", "정문에서 두 번째 골목", "https://market.example/c/kim-fish",
				"QR을 찍으면 방송을 보고 주문할 수 있어요", "Scan to watch and order",
				`class="paper-` + want + `"`, `<svg xmlns="http://www.w3.org/2000/svg" class="qr"`,
				`/poster.css"`,
			} {
				if !strings.Contains(body, s) {
					t.Errorf("poster lacks %q", s)
				}
			}
			// What the CSP (no inline script or style) would block.
			for _, s := range []string{"<script", "<style", "style=", "javascript:"} {
				if strings.Contains(strings.ToLower(body), s) {
					t.Errorf("poster contains %q, which the CSP forbids", s)
				}
			}
			if h := regexp.MustCompile(`\son[a-z]+=`).FindString(body); h != "" {
				t.Errorf("poster has an event handler attribute %q, which the CSP forbids", h)
			}
			// The inline code is the one qr.svg serves.
			svg := do(h, "GET", "/c/kim-fish/qr.svg", nil).Body.String()
			inline := body[strings.Index(body, "<svg"):]
			inline = inline[:strings.Index(inline, "</svg>")+len("</svg>")]
			if fmt.Sprint(svgModules(t, inline)) != fmt.Sprint(svgModules(t, svg)) {
				t.Error("the poster's code differs from qr.svg")
			}
		})
	}
	// The stylesheet is served, with the @page sizes.
	static := staticPrefix(t, h)
	css := do(h, "GET", static+"/poster.css", nil)
	if css.Code != 200 || !strings.Contains(css.Body.String(), "size: A4") || !strings.Contains(css.Body.String(), "size: A5") {
		t.Errorf("poster.css: %d", css.Code)
	}
}
