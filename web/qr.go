package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// Channel is what the QR code and the poster show of a channel.
type Channel struct {
	Slug     string
	Name     string
	Market   string // "" when not given
	Location string // "" when not given
}

// ErrNotFound is what Options.Channel returns, wrapped or not, for a
// channel that does not exist.
var ErrNotFound = errors.New("channel not found")

// QR code layout. The quiet zone of four modules is what the standard
// asks for; phone cameras misread codes printed closer to other ink.
const (
	qrQuiet       = 4
	qrDefaultSize = 512
	qrMinSize     = 128
	qrMaxSize     = 2048
	posterPage    = "poster.html"
)

// qrModules encodes text as a QR code with error correction level M (15%
// of the code may be lost: a smudge or a fold on a stall's poster) and
// returns its modules, dark as true, indexed [y][x], without quiet zone.
func qrModules(text string) ([][]bool, error) {
	bc, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("encode qr code: %w", err)
	}
	n := bc.Bounds().Dx()
	m := make([][]bool, n)
	for y := range m {
		m[y] = make([]bool, n)
		for x := range m[y] {
			r, _, _, _ := bc.At(bc.Bounds().Min.X+x, bc.Bounds().Min.Y+y).RGBA()
			m[y][x] = r < 0x8000
		}
	}
	return m, nil
}

// qrPNG draws modules on a white square of side pixels. Every module gets
// the same whole number of pixels, so that edges stay sharp; what side
// leaves over widens the quiet zone.
func qrPNG(modules [][]bool, side int) ([]byte, error) {
	n := len(modules)
	px := side / (n + 2*qrQuiet)
	if px < 1 { // too many modules for the size: grow rather than blur
		px, side = 1, n+2*qrQuiet
	}
	off := (side - n*px) / 2
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y, row := range modules {
		for x, dark := range row {
			if !dark {
				continue
			}
			for dy := range px {
				i := img.PixOffset(off+x*px, off+y*px+dy)
				for dx := range px {
					img.Pix[i+dx] = 1
				}
			}
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode qr png: %w", err)
	}
	return b.Bytes(), nil
}

// qrSVG returns modules as an SVG image: one path of the dark modules,
// each row's runs merged, on a white square with the quiet zone. The
// drawing is in module units (viewBox), so it is crisp at any size. It
// carries no style attribute, which the pages' CSP would refuse; fill is
// a presentation attribute. width, when not 0, sets its size in CSS
// pixels; without it the page's stylesheet sizes it.
func qrSVG(modules [][]bool, label string, width int) string {
	n := len(modules)
	total := n + 2*qrQuiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 %d %d"`, total, total)
	if width > 0 {
		fmt.Fprintf(&b, ` width="%d" height="%d"`, width, width)
	}
	fmt.Fprintf(&b, ` shape-rendering="crispEdges" role="img" aria-label="%s">`, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, total, total)
	for y, row := range modules {
		for x := 0; x < n; {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < n && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+qrQuiet, y+qrQuiet, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// channelURL is the link the QR code holds: the channel's watch page.
func (s *site) channelURL(slug string) string {
	return s.publicURL + "/c/" + slug
}

// channel looks up the channel in the request's path, answering the
// request itself (404 or 500) when there is none to show.
func (s *site) channel(w http.ResponseWriter, r *http.Request) (Channel, bool) {
	if s.lookup == nil {
		serveNotFound(w, r)
		return Channel{}, false
	}
	ch, err := s.lookup(r.Context(), r.PathValue("slug"))
	switch {
	case errors.Is(err, ErrNotFound):
		serveNotFound(w, r)
		return Channel{}, false
	case err != nil:
		if !errors.Is(err, context.Canceled) {
			s.log.Error("look up channel", "slug", r.PathValue("slug"), "err", err)
		}
		serveText(w, http.StatusInternalServerError, serverErrorText)
		return Channel{}, false
	}
	return ch, true
}

// channelModules returns the QR code of the channel's link.
func (s *site) channelModules(w http.ResponseWriter, ch Channel) ([][]bool, bool) {
	m, err := qrModules(s.channelURL(ch.Slug))
	if err != nil {
		s.log.Error("qr code", "slug", ch.Slug, "err", err)
		serveText(w, http.StatusInternalServerError, serverErrorText)
		return nil, false
	}
	return m, true
}

// serveQRPNG serves GET /c/{slug}/qr.png?size=N: the channel link's QR
// code, N pixels square (128 to 2048, 512 by default).
func (s *site) serveQRPNG(w http.ResponseWriter, r *http.Request) {
	size := qrDefaultSize
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < qrMinSize || n > qrMaxSize {
			serveText(w, http.StatusBadRequest, fmt.Sprintf(
				"size는 %d에서 %d 사이의 숫자여야 해요.\nsize must be a number from %d to %d.\n",
				qrMinSize, qrMaxSize, qrMinSize, qrMaxSize))
			return
		}
		size = n
	}
	ch, ok := s.channel(w, r)
	if !ok {
		return
	}
	m, ok := s.channelModules(w, ch)
	if !ok {
		return
	}
	data, err := qrPNG(m, size)
	if err != nil {
		s.log.Error("qr code", "slug", ch.Slug, "err", err)
		serveText(w, http.StatusInternalServerError, serverErrorText)
		return
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="dangol-%s-qr.png"`, ch.Slug))
	serveAsset(w, r, newAsset("qr.png", data), cacheQR)
}

// serveQRSVG serves GET /c/{slug}/qr.svg: the same code as a vector image,
// for printing at any size.
func (s *site) serveQRSVG(w http.ResponseWriter, r *http.Request) {
	ch, ok := s.channel(w, r)
	if !ok {
		return
	}
	m, ok := s.channelModules(w, ch)
	if !ok {
		return
	}
	svg := qrSVG(m, s.channelURL(ch.Slug), (len(m)+2*qrQuiet)*8)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="dangol-%s-qr.svg"`, ch.Slug))
	serveAsset(w, r, newAsset("qr.svg", []byte(svg)), cacheQR)
}

// posterData is what pages/poster.html sees.
type posterData struct {
	Static   string
	Paper    string // "a4" or "a5"
	Name     string
	Market   string
	Location string
	URL      string        // the channel link, printed under the code
	QR       template.HTML // the code as inline SVG (qrSVG escapes the label)
}

// servePoster serves GET /c/{slug}/poster?paper=a4|a5: a page to print and
// hang at the stall, with the stall's name, the QR code and how to use it.
func (s *site) servePoster(w http.ResponseWriter, r *http.Request) {
	paper := r.URL.Query().Get("paper")
	switch paper {
	case "":
		paper = "a4"
	case "a4", "a5":
	default:
		serveText(w, http.StatusBadRequest, "paper는 a4 또는 a5예요.\npaper must be a4 or a5.\n")
		return
	}
	ch, ok := s.channel(w, r)
	if !ok {
		return
	}
	m, ok := s.channelModules(w, ch)
	if !ok {
		return
	}
	t := s.poster
	if s.dev {
		var err error
		if t, err = template.ParseFS(s.fsys, "pages/"+posterPage); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	link := s.channelURL(ch.Slug)
	var b bytes.Buffer
	err := t.Execute(&b, posterData{
		Static: "/static/" + s.version, Paper: paper,
		Name: ch.Name, Market: ch.Market, Location: ch.Location, URL: link,
		QR: template.HTML(qrSVG(m, link, 0)), //nolint:gosec // built from modules and an escaped label
	})
	if err != nil {
		s.log.Error("render poster", "slug", ch.Slug, "err", err)
		serveText(w, http.StatusInternalServerError, serverErrorText)
		return
	}
	serveAsset(w, r, newAsset(posterPage, b.Bytes()), cacheRevalidate)
}

// cacheQR lets a QR code be kept a day: it changes only with the server's
// public URL.
const cacheQR = "public, max-age=86400"

const serverErrorText = `서버에 문제가 생겼어요. 잠시 후 다시 해 주세요.
Something went wrong on the server. Please try again shortly.
`

func serveText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", cacheRevalidate)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}
