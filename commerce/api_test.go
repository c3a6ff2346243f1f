package commerce

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
)

// apiEnv is a running API over a fresh store with two channels.
type apiEnv struct {
	s        *Store
	api      *API
	srv      *httptest.Server
	dataDir  string
	ch       Channel
	key      string // ch's stream key
	studio   string // ch's studio token
	other    Channel
	otherKey string
	otherTok string
}

func newAPIEnv(t *testing.T, newDB func(t *testing.T) storeOpener) *apiEnv {
	t.Helper()
	e := &apiEnv{s: newDB(t)(t), dataDir: t.TempDir()}
	photos, err := OpenDirPhotos(filepath.Join(e.dataDir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { photos.Close() })
	var sec, osec Secrets
	if e.ch, sec, err = e.s.CreateChannel(t.Context(), "kim-fish", "김씨네 생선가게"); err != nil {
		t.Fatal(err)
	}
	if e.other, osec, err = e.s.CreateChannel(t.Context(), "lee-veg", "이씨네 채소"); err != nil {
		t.Fatal(err)
	}
	e.key, e.studio, e.otherKey, e.otherTok = sec.StreamKey, sec.StudioToken, osec.StreamKey, osec.StudioToken
	api := NewAPI(e.s, photos, nil)
	e.api = api
	var h http.Handler = api
	if !apiUseOwnMux {
		mux := http.NewServeMux()
		api.Routes(mux)
		h = mux
	}
	e.srv = httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(e.srv.Close)
	return e
}

// apiReq is a request to the API.
type apiReq struct {
	method, path string
	auth         string // the Authorization header; "" for none
	ctype        string
	body         []byte
	header       map[string]string
}

type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (e *apiEnv) do(t *testing.T, q apiReq) apiResp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), q.method, e.srv.URL+q.path, bytes.NewReader(q.body))
	if err != nil {
		t.Fatal(err)
	}
	if q.auth != "" {
		req.Header.Set("Authorization", q.auth)
	}
	if q.ctype != "" {
		req.Header.Set("Content-Type", q.ctype)
	}
	for k, v := range q.header {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResp{res.StatusCode, res.Header, b}
}

// json sends v as JSON with the channel's stream key.
func (e *apiEnv) json(t *testing.T, method, path string, v any) apiResp {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return e.do(t, apiReq{method: method, path: path, auth: "Bearer " + e.key, ctype: "application/json", body: b})
}

func (r apiResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

type apiErrBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// wantError checks that r is a JSON error with the status and code.
func (r apiResp) wantError(t *testing.T, status int, code string) apiErrBody {
	t.Helper()
	var eb apiErrBody
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	r.decode(t, &eb)
	if eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("error %+v, want code %q and a message", eb.Error, code)
	}
	return eb
}

func (e *apiEnv) products(t *testing.T) []Product {
	t.Helper()
	ps, err := e.s.Products(t.Context(), e.ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// apiForm returns a multipart body of the fields (name, value pairs) and,
// if photo is not nil, a photo file.
func apiForm(t *testing.T, photo []byte, fields ...string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := mw.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if photo != nil {
		fw, err := mw.CreateFormFile("photo", "IMG_0001.jpg")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(photo)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// apiUseOwnMux makes newAPIEnv serve the API as a handler (ServeHTTP)
// rather than through Routes on a mux of the test's.
var apiUseOwnMux bool

func TestAPI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAPI(t, newSQLiteDB) })
	t.Run("sqlite as handler", func(t *testing.T) {
		apiUseOwnMux = true
		defer func() { apiUseOwnMux = false }()
		testAPIProducts(t, newSQLiteDB)
	})
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		testAPI(t, newPostgresDB)
	})
}

func testAPI(t *testing.T, newDB func(t *testing.T) storeOpener) {
	t.Run("products crud", func(t *testing.T) { testAPIProducts(t, newDB) })
	t.Run("auth", func(t *testing.T) { testAPIAuth(t, newDB) })
	t.Run("bad input", func(t *testing.T) { testAPIBadInput(t, newDB) })
	t.Run("orders", func(t *testing.T) { testAPIOrders(t, newDB) })
	t.Run("order pages", func(t *testing.T) { testAPIOrderPages(t, newDB) })
	t.Run("broadcasts", func(t *testing.T) { testAPIBroadcasts(t, newDB) })
	t.Run("public replays", func(t *testing.T) { testAPIPublicReplays(t, newDB) })
	t.Run("photos", func(t *testing.T) { testAPIPhotos(t, newDB) })
}

func testAPIProducts(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	base := "/api/channels/kim-fish/products"

	r := e.json(t, "POST", base, map[string]any{"name": " 고등어 ", "price_won": 5000, "stock": 10, "description": "제주산\n싱싱해요"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var p productJSON
	r.decode(t, &p)
	if p.Name != "고등어" || p.PriceWon != 5000 || p.Stock != 10 || p.Description != "제주산\n싱싱해요" || p.ChannelID != e.ch.ID {
		t.Fatalf("created %+v", p)
	}
	if loc := r.header.Get("Location"); loc != fmt.Sprintf("%s/%d", base, p.ID) {
		t.Errorf("Location %q", loc)
	}
	// Only name and price are required.
	r = e.json(t, "POST", base, map[string]any{"name": "갈치", "price_won": 0})
	if r.status != http.StatusCreated {
		t.Fatalf("create minimal: %d %s", r.status, r.body)
	}
	var p2 productJSON
	r.decode(t, &p2)

	// Reading is public.
	r = e.do(t, apiReq{method: "GET", path: fmt.Sprintf("%s/%d", base, p.ID)})
	var got productJSON
	r.decode(t, &got)
	if r.status != 200 || got.Name != "고등어" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r = e.do(t, apiReq{method: "GET", path: base})
	var list struct{ Products []productJSON }
	r.decode(t, &list)
	if len(list.Products) != 2 || list.Products[0].ID != p.ID || list.Products[1].ID != p2.ID {
		t.Fatalf("list: %s", r.body)
	}
	// The other channel's list is its own.
	r = e.do(t, apiReq{method: "GET", path: "/api/channels/lee-veg/products"})
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"products":[]`)) {
		t.Fatalf("other list: %d %s", r.status, r.body)
	}

	// PATCH changes only what it names.
	r = e.json(t, "PATCH", fmt.Sprintf("%s/%d", base, p.ID), map[string]any{"price_won": 4500, "stock": 7})
	r.decode(t, &got)
	if r.status != 200 || got.PriceWon != 4500 || got.Stock != 7 || got.Name != "고등어" || got.Description != "제주산\n싱싱해요" {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = e.json(t, "PATCH", fmt.Sprintf("%s/%d", base, p.ID), map[string]any{"name": "고등어 (대)"})
	r.decode(t, &got)
	if r.status != 200 || got.Name != "고등어 (대)" || got.PriceWon != 4500 {
		t.Fatalf("patch name: %d %s", r.status, r.body)
	}

	// DELETE hides it.
	r = e.do(t, apiReq{method: "DELETE", path: fmt.Sprintf("%s/%d", base, p.ID), auth: "Bearer " + e.studio})
	if r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.do(t, apiReq{method: "GET", path: fmt.Sprintf("%s/%d", base, p.ID)}).wantError(t, 404, "not_found")
	e.do(t, apiReq{method: "DELETE", path: fmt.Sprintf("%s/%d", base, p.ID), auth: "Bearer " + e.key}).wantError(t, 404, "not_found")
	if ps := e.products(t); len(ps) != 1 || ps[0].ID != p2.ID {
		t.Fatalf("after delete: %+v", ps)
	}
	e.do(t, apiReq{method: "GET", path: "/api/channels/nobody/products"}).wantError(t, 404, "not_found")
}

func testAPIAuth(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	p, err := e.s.CreateProduct(t.Context(), e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	op, err := e.s.CreateProduct(t.Context(), e.other.ID, ProductInput{Name: "배추", PriceWon: 3000, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	prod := fmt.Sprintf("/api/channels/kim-fish/products/%d", p.ID)
	body := []byte(`{"name":"해킹","price_won":1}`)
	routes := []apiReq{
		{method: "POST", path: "/api/channels/kim-fish/products", ctype: "application/json", body: body},
		{method: "PATCH", path: prod, ctype: "application/json", body: []byte(`{"stock":0}`)},
		{method: "DELETE", path: prod},
		{method: "PUT", path: prod + "/photo", ctype: "image/png", body: []byte("x")},
		{method: "DELETE", path: prod + "/photo"},
		{method: "GET", path: "/api/channels/kim-fish/orders"},
		{method: "GET", path: "/api/channels/kim-fish/orders?format=csv"},
		{method: "GET", path: "/api/channels/kim-fish/orders/1"},
		{method: "GET", path: "/api/channels/kim-fish/broadcasts"},
	}
	creds := []struct{ name, auth string }{
		{"none", ""},
		{"empty bearer", "Bearer "},
		{"basic", "Basic " + e.key},
		{"key without scheme", e.key},
		{"wrong key", "Bearer 64BFYNP5PFR74LVVWFYHTB74B4"},
		{"other channel's key", "Bearer " + e.otherKey},
		{"other channel's studio token", "Bearer " + e.otherTok},
		{"key with junk", "Bearer " + e.key + "x"},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				q := rt
				q.auth = c.auth
				r := e.do(t, q)
				r.wantError(t, http.StatusUnauthorized, "unauthorized")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	if ps := e.products(t); len(ps) != 1 || !reflect.DeepEqual(ps[0], p) {
		t.Fatalf("products changed: %+v", ps)
	}
	// Both secrets work, in any case of "Bearer".
	for _, auth := range []string{"Bearer " + e.key, "bearer " + e.studio} {
		r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders", auth: auth})
		if r.status != 200 {
			t.Errorf("%q: %d %s", auth, r.status, r.body)
		}
	}
	// A valid key cannot reach another channel's product through its own
	// channel's path.
	e.json(t, "PATCH", fmt.Sprintf("/api/channels/kim-fish/products/%d", op.ID), map[string]any{"stock": 0}).wantError(t, 404, "not_found")
	if got, _ := e.s.Product(t.Context(), e.other.ID, op.ID); got.Stock != 3 {
		t.Errorf("other channel's stock changed: %+v", got)
	}
	e.do(t, apiReq{method: "GET", path: "/api/channels/nobody/orders", auth: "Bearer " + e.key}).wantError(t, 404, "not_found")
}

func testAPIBadInput(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	p, err := e.s.CreateProduct(t.Context(), e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 3, Description: "제주산"})
	if err != nil {
		t.Fatal(err)
	}
	before := e.products(t)
	const js = "application/json"
	form := func(photo []byte, fields ...string) (string, []byte) { return apiForm(t, photo, fields...) }
	notImageCT, notImage := form([]byte("이것은 사진이 아닙니다"), "name", "갈치", "price_won", "1000")
	bigCT, big := form(bytes.Repeat([]byte{0xFF}, photoMaxBytes+1), "name", "갈치", "price_won", "1000")
	unknownCT, unknown := form(nil, "name", "갈치", "price_won", "1000", "color", "red")
	priceCT, price := form(nil, "name", "갈치", "price_won", "천원")
	twiceCT, twice := form(nil, "name", "갈치", "name", "삼치", "price_won", "1")
	hugeCT, huge := form(apiHugePNGHeader(10000, 10000), "name", "갈치", "price_won", "1000")
	tests := []struct {
		name   string
		method string
		path   string // under /api/channels/kim-fish/products
		ctype  string
		body   string
		status int
		code   string
		field  string
	}{
		{"malformed json", "POST", "", js, `{"name":"갈치",`, 400, "bad_request", ""},
		{"not an object", "POST", "", js, `["갈치"]`, 400, "invalid", ""},
		{"two values", "POST", "", js, `{"name":"갈치","price_won":1}{}`, 400, "bad_request", ""},
		{"unknown field", "POST", "", js, `{"name":"갈치","price_won":1,"owner":"x"}`, 400, "invalid", "owner"},
		{"negative price", "POST", "", js, `{"name":"갈치","price_won":-1}`, 400, "invalid", "price_won"},
		{"price too high", "POST", "", js, `{"name":"갈치","price_won":100000001}`, 400, "invalid", "price_won"},
		{"price overflow", "POST", "", js, `{"name":"갈치","price_won":99999999999999999999}`, 400, "invalid", "price_won"},
		{"fractional price", "POST", "", js, `{"name":"갈치","price_won":10.5}`, 400, "invalid", "price_won"},
		{"price as text", "POST", "", js, `{"name":"갈치","price_won":"1000"}`, 400, "invalid", "price_won"},
		{"negative stock", "POST", "", js, `{"name":"갈치","price_won":1,"stock":-1}`, 400, "invalid", "stock"},
		{"missing name", "POST", "", js, `{"price_won":1}`, 400, "invalid", "name"},
		{"missing price", "POST", "", js, `{"name":"갈치"}`, 400, "invalid", "price_won"},
		{"empty name", "POST", "", js, `{"name":"","price_won":1}`, 400, "invalid", "name"},
		{"blank name", "POST", "", js, `{"name":" \u3000 ","price_won":1}`, 400, "invalid", "name"},
		{"name too long", "POST", "", js, `{"name":"` + strings.Repeat("갈", 81) + `","price_won":1}`, 400, "invalid", "name"},
		{"name with line break", "POST", "", js, `{"name":"갈\n치","price_won":1}`, 400, "invalid", ""},
		{"name with bidi override", "POST", "", js, `{"name":"갈\u202e치","price_won":1}`, 400, "invalid", ""},
		{"description too long", "POST", "", js, `{"name":"갈치","price_won":1,"description":"` + strings.Repeat("a", 2001) + `"}`, 400, "invalid", "description"},
		{"photo key", "POST", "", js, `{"name":"갈치","price_won":1,"photo_key":"products/2/x.jpg"}`, 400, "invalid", "photo_key"},
		{"body too large", "POST", "", js, `{"name":"갈치","price_won":1,"description":"` + strings.Repeat("a", 70000) + `"}`, 413, "too_large", ""},
		{"text/plain", "POST", "", "text/plain", `{"name":"갈치","price_won":1}`, 415, "unsupported_media_type", ""},
		{"no content type", "POST", "", "", `{"name":"갈치","price_won":1}`, 415, "unsupported_media_type", ""},
		{"form not an image", "POST", "", notImageCT, string(notImage), 400, "not_image", "photo"},
		{"form photo too big", "POST", "", bigCT, string(big), 413, "too_large", ""},
		{"form too many pixels", "POST", "", hugeCT, string(huge), 400, "image_too_large", "photo"},
		{"form unknown field", "POST", "", unknownCT, string(unknown), 400, "invalid", "color"},
		{"form price not a number", "POST", "", priceCT, string(price), 400, "invalid", "price_won"},
		{"form field twice", "POST", "", twiceCT, string(twice), 400, "invalid", "name"},
		{"form without boundary", "POST", "", "multipart/form-data", "--x\r\n", 400, "bad_request", ""},
		{"patch negative stock", "PATCH", "/{id}", js, `{"stock":-5}`, 400, "invalid", "stock"},
		{"patch stock too high", "PATCH", "/{id}", js, `{"stock":1000001}`, 400, "invalid", "stock"},
		{"patch empty name", "PATCH", "/{id}", js, `{"name":"","stock":1}`, 400, "invalid", "name"},
		{"patch unknown field", "PATCH", "/{id}", js, `{"stock":1,"price":1}`, 400, "invalid", "price"},
		{"patch photo key", "PATCH", "/{id}", js, `{"photo_key":"../../x.jpg"}`, 400, "invalid", "photo_key"},
		{"patch malformed", "PATCH", "/{id}", js, `{"stock":`, 400, "bad_request", ""},
		{"patch form", "PATCH", "/{id}", unknownCT, string(unknown), 415, "unsupported_media_type", ""},
		{"patch missing product", "PATCH", "/999999", js, `{"stock":1}`, 404, "not_found", ""},
		{"patch bad id", "PATCH", "/abc", js, `{"stock":1}`, 404, "not_found", ""},
		{"photo not an image", "PUT", "/{id}/photo", "image/jpeg", "not a jpeg", 400, "not_image", "photo"},
		{"photo wrong type", "PUT", "/{id}/photo", "application/pdf", "%PDF", 415, "unsupported_media_type", ""},
		{"photo form without photo", "POST", "/{id}/photo", priceCT, string(price), 400, "invalid", ""},
		{"photo too big", "PUT", "/{id}/photo", "image/png", string(bytes.Repeat([]byte{1}, photoMaxBytes+1)), 413, "too_large", ""},
		{"photo too many pixels", "PUT", "/{id}/photo", "image/png", string(apiHugePNGHeader(8000, 6000)), 400, "image_too_large", "photo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/channels/kim-fish/products" + strings.ReplaceAll(tt.path, "{id}", fmt.Sprint(p.ID))
			r := e.do(t, apiReq{method: tt.method, path: path, auth: "Bearer " + e.key, ctype: tt.ctype, body: []byte(tt.body)})
			eb := r.wantError(t, tt.status, tt.code)
			if tt.field != "" && eb.Error.Field != tt.field {
				t.Errorf("field %q, want %q", eb.Error.Field, tt.field)
			}
			if !strings.ContainsFunc(eb.Error.Message, func(r rune) bool { return unicode.Is(unicode.Hangul, r) }) {
				t.Errorf("message %q is not in Korean", eb.Error.Message)
			}
			if after := e.products(t); !reflect.DeepEqual(after, before) {
				t.Errorf("products changed:\n%+v\nwant\n%+v", after, before)
			}
		})
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dataDir, "photos", "products")); len(ents) != 0 {
		t.Errorf("refused uploads stored photos: %v", ents)
	}

	t.Run("english", func(t *testing.T) {
		for _, al := range []string{"en", "en-US,en;q=0.9", "ko;q=0.5, en;q=0.8", "fr, en;q=0.5"} {
			r := e.do(t, apiReq{method: "POST", path: "/api/channels/kim-fish/products", auth: "Bearer " + e.key,
				ctype: js, body: []byte(`{"name":"갈치","price_won":-1}`), header: map[string]string{"Accept-Language": al}})
			eb := r.wantError(t, 400, "invalid")
			if eb.Error.Message != "price_won must be from 0 to 100000000." {
				t.Errorf("Accept-Language %q: message %q", al, eb.Error.Message)
			}
		}
	})
}

// apiHugePNGHeader returns the start of a PNG that claims to be w×h: enough
// for image.DecodeConfig, nothing to decode.
func apiHugePNGHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func testAPIOrders(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	ctx := t.Context()
	b, err := e.s.StartBroadcast(ctx, e.ch.ID, "오늘의 생선", false)
	if err != nil {
		t.Fatal(err)
	}
	fish, _ := e.s.CreateProduct(ctx, e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 10})
	squid, _ := e.s.CreateProduct(ctx, e.ch.ID, ProductInput{Name: "오징어, 손질", PriceWon: 12000, Stock: 10})
	v, _, err := e.s.CreateViewer(ctx, e.ch.ID, "손님")
	if err != nil {
		t.Fatal(err)
	}
	o1, err := e.s.PlaceOrder(ctx, "o1", v.ID, OrderInput{BroadcastID: b.ID,
		Items: []ItemInput{{fish.ID, 2}, {squid.ID, 1}}, Buyer: Buyer{"박영희", "010-1234-5678"}, Note: `5시에 "꼭" 갈게요`})
	if err != nil {
		t.Fatal(err)
	}
	o2, err := e.s.PlaceOrder(ctx, "o2", v.ID, OrderInput{
		Items: []ItemInput{{fish.ID, 1}}, Buyer: Buyer{"=HYPERLINK(\"http://x\")", "+82 10-9999-0000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SetOrderStatus(ctx, "s1", e.ch.ID, o1.ID, StatusAccepted); err != nil {
		t.Fatal(err)
	}
	// An order of the other channel stays out of reach.
	ov, _, _ := e.s.CreateViewer(ctx, e.other.ID, "남")
	op, _ := e.s.CreateProduct(ctx, e.other.ID, ProductInput{Name: "배추", PriceWon: 3000, Stock: 10})
	oo, err := e.s.PlaceOrder(ctx, "o3", ov.ID, OrderInput{Items: []ItemInput{{op.ID, 1}}, Buyer: Buyer{"남", "01011112222"}})
	if err != nil {
		t.Fatal(err)
	}

	auth := "Bearer " + e.key
	list := func(t *testing.T, query string) []Order {
		t.Helper()
		r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders" + query, auth: auth})
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		var out struct{ Orders []Order }
		r.decode(t, &out)
		ids := []Order{}
		return append(ids, out.Orders...)
	}
	ids := func(os []Order) []int64 {
		var out []int64
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{o2.ID, o1.ID}},
		{"?status=accepted", []int64{o1.ID}},
		{"?status=placed", []int64{o2.ID}},
		{"?status=ready", nil},
		{fmt.Sprintf("?broadcast=%d", b.ID), []int64{o1.ID}},
		{fmt.Sprintf("?broadcast=%d&status=placed", b.ID), nil},
		{"?limit=1", []int64{o2.ID}},
		{"?format=json", []int64{o2.ID, o1.ID}},
	} {
		if got := ids(list(t, tt.query)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: orders %v, want %v", tt.query, got, tt.want)
		}
	}
	if os := list(t, "?status=accepted"); len(os[0].Items) != 2 || os[0].TotalWon != 22000 || os[0].Buyer.Name != "박영희" {
		t.Errorf("order %+v", os[0])
	}
	for _, q := range []string{"?status=shipped", "?broadcast=x", "?broadcast=-1", "?limit=0", "?limit=5000", "?format=xml"} {
		e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders" + q, auth: auth}).wantError(t, 400, "invalid")
	}

	t.Run("detail", func(t *testing.T) {
		r := e.do(t, apiReq{method: "GET", path: fmt.Sprintf("/api/channels/kim-fish/orders/%d", o1.ID), auth: auth})
		var got orderJSON
		r.decode(t, &got)
		if r.status != 200 || got.ID != o1.ID || got.Status != StatusAccepted || len(got.History) != 2 ||
			got.History[0].To != StatusPlaced || got.History[1].From != StatusPlaced || got.History[1].To != StatusAccepted ||
			got.History[1].Actor != ActorMerchant {
			t.Fatalf("detail: %d %s", r.status, r.body)
		}
		for _, id := range []string{fmt.Sprint(oo.ID), "999999", "abc", "0"} {
			e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders/" + id, auth: auth}).wantError(t, 404, "not_found")
		}
	})

	t.Run("csv", func(t *testing.T) {
		for _, q := range []apiReq{
			{path: "?format=csv"},
			{path: "", header: map[string]string{"Accept": "text/csv"}},
			{path: "", header: map[string]string{"Accept": "text/csv;q=0.9, application/json;q=0.1"}},
		} {
			r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders" + q.path, auth: auth, header: q.header})
			if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" {
				t.Fatalf("%+v: %d %v %s", q, r.status, r.header, r.body)
			}
			if !strings.HasPrefix(r.header.Get("Content-Disposition"), `attachment; filename="orders-kim-fish-`) {
				t.Errorf("Content-Disposition %q", r.header.Get("Content-Disposition"))
			}
			body, ok := bytes.CutPrefix(r.body, []byte("\xEF\xBB\xBF"))
			if !ok {
				t.Fatalf("no UTF-8 BOM: %q", r.body[:min(10, len(r.body))])
			}
			rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("parse csv: %v\n%s", err, body)
			}
			if len(rows) != 3 || !reflect.DeepEqual(rows[0], apiCSVHeader) {
				t.Fatalf("rows %q", rows)
			}
			want1 := []string{fmt.Sprint(o1.ID), o1.CreatedAt.In(apiKST).Format("2006-01-02 15:04:05"), "주문 확인", "accepted",
				fmt.Sprint(b.ID), "박영희", "010-1234-5678", "고등어 x2, 오징어, 손질 x1", "3", "22000", "0", "22000", "", `5시에 "꼭" 갈게요`, "라이브"}
			if !reflect.DeepEqual(rows[2], want1) {
				t.Errorf("row\n%q\nwant\n%q", rows[2], want1)
			}
			if rows[1][0] != fmt.Sprint(o2.ID) || rows[1][5] != `'=HYPERLINK("http://x")` || rows[1][6] != "'+82 10-9999-0000" || rows[1][4] != "" {
				t.Errorf("row %q: formula not defused", rows[1])
			}
		}
	})
}

// testAPIOrderPages checks that the CSV export has every order, however
// many pages it reads them in, and that the JSON listing's next_before walks
// them all.
func testAPIOrderPages(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	e.api.csvPage = 5 // several pages without placing thousands of orders
	ctx := t.Context()
	fish, err := e.s.CreateProduct(ctx, e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 1000})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := e.s.CreateViewer(ctx, e.ch.ID, "손님")
	if err != nil {
		t.Fatal(err)
	}
	ov, _, _ := e.s.CreateViewer(ctx, e.other.ID, "남")
	op, _ := e.s.CreateProduct(ctx, e.other.ID, ProductInput{Name: "배추", PriceWon: 3000, Stock: 1000})
	var all, accepted []int64 // newest first, as listed
	for i := range 23 {
		o, err := e.s.PlaceOrder(ctx, fmt.Sprintf("o%d", i), v.ID, OrderInput{
			Items: []ItemInput{{fish.ID, 1}}, Buyer: Buyer{fmt.Sprintf("손님 %d", i), "010-1234-5678"}})
		if err != nil {
			t.Fatal(err)
		}
		all = append([]int64{o.ID}, all...)
		if i%3 == 0 {
			if _, err := e.s.SetOrderStatus(ctx, fmt.Sprintf("s%d", i), e.ch.ID, o.ID, StatusAccepted); err != nil {
				t.Fatal(err)
			}
			accepted = append([]int64{o.ID}, accepted...)
		}
		// The other channel's orders interleave with ids of their own and stay out.
		if _, err := e.s.PlaceOrder(ctx, fmt.Sprintf("x%d", i), ov.ID, OrderInput{
			Items: []ItemInput{{op.ID, 1}}, Buyer: Buyer{"남", "01011112222"}}); err != nil {
			t.Fatal(err)
		}
	}
	auth := "Bearer " + e.key

	t.Run("csv", func(t *testing.T) {
		for _, tt := range []struct {
			name, query string
			want        []int64
		}{
			{"all", "?format=csv", all},
			{"filtered", "?format=csv&status=accepted", accepted},
			{"limit", "?format=csv&limit=7", all[:7]},
			{"limit at a page end", "?format=csv&limit=10", all[:10]},
			{"before", fmt.Sprintf("?format=csv&before=%d", all[4]), all[5:]},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders" + tt.query, auth: auth})
				if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" {
					t.Fatalf("%d %v %s", r.status, r.header, r.body)
				}
				body, ok := bytes.CutPrefix(r.body, []byte("\xEF\xBB\xBF"))
				if !ok {
					t.Fatalf("no UTF-8 BOM: %q", r.body[:min(10, len(r.body))])
				}
				rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
				if err != nil {
					t.Fatalf("parse csv: %v\n%s", err, body)
				}
				if len(rows) == 0 || !reflect.DeepEqual(rows[0], apiCSVHeader) {
					t.Fatalf("header %q", rows)
				}
				var got []int64
				for _, row := range rows[1:] {
					var id int64
					if _, err := fmt.Sscan(row[0], &id); err != nil {
						t.Fatalf("row %q: %v", row, err)
					}
					got = append(got, id)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("orders %v, want %v (each once, newest first)", got, tt.want)
				}
			})
		}
	})

	t.Run("json next_before", func(t *testing.T) {
		for _, tt := range []struct {
			name, query string
			want        []int64
		}{
			{"all", "limit=4", all},
			{"exact pages", "limit=23", all},
			{"filtered", "limit=3&status=accepted", accepted},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var got []int64
				next := int64(0)
				for pages := 0; ; pages++ {
					if pages > len(all)+1 {
						t.Fatalf("still paging after %d pages: %v", pages, got)
					}
					q := "?" + tt.query
					if next != 0 {
						q += fmt.Sprintf("&before=%d", next)
					}
					r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders" + q, auth: auth})
					if r.status != 200 {
						t.Fatalf("%s: %d %s", q, r.status, r.body)
					}
					var out struct {
						Orders     []Order `json:"orders"`
						NextBefore *int64  `json:"next_before"`
					}
					r.decode(t, &out)
					for _, o := range out.Orders {
						got = append(got, o.ID)
					}
					if out.NextBefore == nil {
						break
					}
					if len(out.Orders) == 0 || *out.NextBefore != out.Orders[len(out.Orders)-1].ID {
						t.Fatalf("%s: next_before %d, want the page's last id", q, *out.NextBefore)
					}
					next = *out.NextBefore
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("orders %v, want %v", got, tt.want)
				}
			})
		}
	})

	for _, q := range []string{"?before=x", "?before=0", "?before=-3", "?format=csv&before=x"} {
		e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders" + q, auth: auth}).wantError(t, 400, "invalid")
	}
}

func testAPIBroadcasts(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	ctx := t.Context()
	b1, err := e.s.StartBroadcast(ctx, e.ch.ID, "연습", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.EndBroadcast(ctx, e.ch.ID, b1.ID); err != nil {
		t.Fatal(err)
	}
	b2, err := e.s.StartBroadcast(ctx, e.ch.ID, "오늘의 생선", false)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := e.s.StartBroadcast(ctx, e.other.ID, "남의 방송", false)
	if err != nil {
		t.Fatal(err)
	}

	// b2 sells 2 × 5000 less a 1000 coupon, and 5000 from its replay; a
	// cancelled and a rejected order, and the other stall's order, do not count.
	p, err := e.s.CreateProduct(ctx, e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 20})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := e.s.CreateViewer(ctx, e.ch.ID, "민수")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.s.DropCoupon(ctx, "drop-1", e.ch.ID, b2.ID, CouponInput{Title: "천 원 할인", DiscountWon: 1000, Quantity: 5, ExpiresIn: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ClaimCoupon(ctx, "claim-1", v.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	place := func(cmd string, qty int, couponID int64) Order {
		t.Helper()
		o, err := e.s.PlaceOrder(ctx, cmd, v.ID, OrderInput{BroadcastID: b2.ID, Items: []ItemInput{{p.ID, qty}}, CouponID: couponID, Buyer: Buyer{Name: "박영희", Phone: "010-1234-5678"}})
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		return o
	}
	place("order-1", 2, c.ID)
	if _, err := e.s.CancelOrder(ctx, "cancel-1", v.ID, place("order-2", 3, 0).ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SetOrderStatus(ctx, "reject-1", e.ch.ID, place("order-3", 4, 0).ID, StatusRejected); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, apiReq{method: "POST", path: fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/orders", b2.ID), ctype: "application/json",
		body: fmt.Appendf(nil, `{"items": [{"product_id": %d, "qty": 1}], "buyer": {"name": "박영희", "phone": "010-1234-5678"}}`, p.ID)}); r.status != http.StatusCreated {
		t.Fatalf("replay order: %d %s", r.status, r.body)
	}
	op, err := e.s.CreateProduct(ctx, e.other.ID, ProductInput{Name: "배추", PriceWon: 3000, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	ov, _, err := e.s.CreateViewer(ctx, e.other.ID, "철수")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.PlaceOrder(ctx, "order-4", ov.ID, OrderInput{BroadcastID: ob.ID, Items: []ItemInput{{op.ID, 1}}, Buyer: Buyer{Name: "박영희", Phone: "010-1234-5678"}}); err != nil {
		t.Fatal(err)
	}

	r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/broadcasts", auth: "Bearer " + e.studio})
	var out struct {
		Broadcasts []map[string]any
	}
	r.decode(t, &out)
	if r.status != 200 || len(out.Broadcasts) != 2 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	live, ended := out.Broadcasts[0], out.Broadcasts[1]
	if live["id"] != float64(b2.ID) || live["live"] != true || live["ended_at"] != nil || live["title"] != "오늘의 생선" {
		t.Errorf("live %v", live)
	}
	if ended["id"] != float64(b1.ID) || ended["live"] != false || ended["ended_at"] == nil || ended["practice"] != true {
		t.Errorf("ended %v", ended)
	}
	sales := []struct {
		name               string
		got                map[string]any
		orders, revenueWon float64
	}{
		{"with orders", live, 2, 9000 + 5000},
		{"without orders", ended, 0, 0},
	}
	for _, tt := range sales {
		orders, ok1 := tt.got["orders"]
		revenue, ok2 := tt.got["revenue_won"]
		if !ok1 || !ok2 || orders != tt.orders || revenue != tt.revenueWon {
			t.Errorf("%s: orders %v, revenue_won %v; want %v, %v", tt.name, orders, revenue, tt.orders, tt.revenueWon)
		}
	}
	if _, ok := ended["replay_url"]; ok {
		t.Errorf("replay_url without replays wired: %v", ended)
	}

	// With recordings wired, as cmd/dangol does: only the recorded broadcast has a replay.
	e.api.Replays = func(_ context.Context, slug string, id int64) (ReplayInfo, bool) {
		if slug != "kim-fish" || id != b1.ID {
			return ReplayInfo{}, false
		}
		return ReplayInfo{URL: fmt.Sprintf("/replays/kim-fish/%d.webm", id), DurationS: 12.5}, true
	}
	r = e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/broadcasts", auth: "Bearer " + e.studio})
	r.decode(t, &out)
	live, ended = out.Broadcasts[0], out.Broadcasts[1]
	if ended["replay_url"] != fmt.Sprintf("/replays/kim-fish/%d.webm", b1.ID) || ended["duration_s"] != 12.5 {
		t.Errorf("recorded broadcast: %v", ended)
	}
	if _, ok := live["replay_url"]; ok {
		t.Errorf("replay_url of a broadcast without a recording: %v", live)
	}
	r = e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/broadcasts?limit=1", auth: "Bearer " + e.studio})
	r.decode(t, &out)
	if len(out.Broadcasts) != 1 {
		t.Errorf("limit=1: %s", r.body)
	}
	e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/broadcasts?limit=-1", auth: "Bearer " + e.key}).wantError(t, 400, "invalid")
}

// apiTestImage returns a w×h image whose left half is red and right half
// blue.
func apiTestImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// apiJPEGWithOrientation encodes img as a JPEG carrying an EXIF segment
// with orientation o, in the byte order bo.
func apiJPEGWithOrientation(t *testing.T, img image.Image, o uint16, bo binary.ByteOrder) []byte {
	t.Helper()
	var j bytes.Buffer
	if err := jpeg.Encode(&j, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	var tiff bytes.Buffer
	if bo == binary.BigEndian {
		tiff.WriteString("MM")
	} else {
		tiff.WriteString("II")
	}
	binary.Write(&tiff, bo, uint16(42))
	binary.Write(&tiff, bo, uint32(8)) // IFD0
	binary.Write(&tiff, bo, uint16(2)) // entries
	// An unrelated tag first (ImageDescription offset), then Orientation.
	binary.Write(&tiff, bo, []uint16{0x010E, 2})
	binary.Write(&tiff, bo, []uint32{1, 0})
	binary.Write(&tiff, bo, []uint16{0x0112, 3})
	binary.Write(&tiff, bo, uint32(1))
	binary.Write(&tiff, bo, []uint16{o, 0})
	binary.Write(&tiff, bo, uint32(0)) // no next IFD
	app1 := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	var out bytes.Buffer
	out.Write([]byte{0xFF, 0xD8, 0xFF, 0xE1})
	binary.Write(&out, binary.BigEndian, uint16(len(app1)+2))
	out.Write(app1)
	out.Write(j.Bytes()[2:])
	return out.Bytes()
}

func apiPNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// near reports whether c is within 40 of want on each channel.
func apiNear(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { return int(a>>8)-int(b) < 40 && int(b)-int(a>>8) < 40 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func testAPIPhotos(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	red, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}

	getImage := func(t *testing.T, url string) image.Image {
		t.Helper()
		r := e.do(t, apiReq{method: "GET", path: url})
		if r.status != 200 || r.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("GET %s: %d %v", url, r.status, r.header)
		}
		if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
			t.Errorf("Cache-Control %q", cc)
		}
		img, format, err := image.Decode(bytes.NewReader(r.body))
		if err != nil || format != "jpeg" {
			t.Fatalf("decode %s: %v %s", url, err, format)
		}
		return img
	}

	// A large PNG in the create form: resized to 1080 on the long side.
	ct, body := apiForm(t, apiPNG(t, apiTestImage(2000, 1000)), "name", "고등어", "price_won", "5000", "stock", "4", "description", "싱싱")
	r := e.do(t, apiReq{method: "POST", path: "/api/channels/kim-fish/products", auth: "Bearer " + e.key, ctype: ct, body: body})
	if r.status != 201 {
		t.Fatalf("create with photo: %d %s", r.status, r.body)
	}
	var p productJSON
	r.decode(t, &p)
	if p.PhotoKey == "" || p.PhotoURL != "/photos/"+p.PhotoKey || p.ThumbURL != "/photos/"+thumbPhotoKey(p.PhotoKey) || p.Stock != 4 {
		t.Fatalf("product %+v", p)
	}
	if !strings.HasPrefix(p.PhotoKey, fmt.Sprintf("products/%d/", e.ch.ID)) {
		t.Errorf("photo key %q", p.PhotoKey)
	}
	img := getImage(t, p.PhotoURL)
	if img.Bounds().Dx() != 1080 || img.Bounds().Dy() != 540 {
		t.Errorf("photo %v, want 1080x540", img.Bounds())
	}
	if !apiNear(img.At(100, 270), red) || !apiNear(img.At(980, 270), blue) {
		t.Errorf("photo colours %v %v", img.At(100, 270), img.At(980, 270))
	}
	th := getImage(t, p.ThumbURL)
	if th.Bounds().Dx() != 320 || th.Bounds().Dy() != 160 {
		t.Errorf("thumb %v, want 320x160", th.Bounds())
	}
	// Conditional GET.
	r = e.do(t, apiReq{method: "GET", path: p.PhotoURL, header: map[string]string{"If-None-Match": `"` + p.PhotoKey + `"`}})
	if r.status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", r.status)
	}

	// gone checks that a replaced photo and its thumbnail were deleted.
	gone := func(t *testing.T, key string) {
		t.Helper()
		for _, k := range []string{key, thumbPhotoKey(key)} {
			if r := e.do(t, apiReq{method: "GET", path: "/photos/" + k}); r.status != 404 {
				t.Errorf("replaced photo %s: %d, want 404 (deleted)", k, r.status)
			}
		}
	}
	current := p.PhotoKey

	// A phone photo: stored 400x200 landscape with orientation 6 (turn
	// right to show) is a 200x400 portrait, red on top.
	for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
		for _, method := range []string{"PUT", "POST"} {
			t.Run(fmt.Sprint(bo, method), func(t *testing.T) {
				data := apiJPEGWithOrientation(t, apiTestImage(400, 200), 6, bo)
				var q apiReq
				if method == "PUT" {
					q = apiReq{ctype: "image/jpeg", body: data}
				} else {
					q.ctype, q.body = apiForm(t, data)
				}
				q.method, q.path, q.auth = method, fmt.Sprintf("/api/channels/kim-fish/products/%d/photo", p.ID), "Bearer "+e.studio
				r := e.do(t, q)
				var got productJSON
				r.decode(t, &got)
				if r.status != 200 || got.PhotoKey == "" || got.PhotoKey == p.PhotoKey {
					t.Fatalf("put photo: %d %s", r.status, r.body)
				}
				img := getImage(t, got.PhotoURL)
				if img.Bounds().Dx() != 200 || img.Bounds().Dy() != 400 {
					t.Fatalf("oriented photo %v, want 200x400", img.Bounds())
				}
				if !apiNear(img.At(100, 50), red) || !apiNear(img.At(100, 350), blue) {
					t.Errorf("oriented colours: top %v bottom %v, want red over blue", img.At(100, 50), img.At(100, 350))
				}
				gone(t, current)
				current = got.PhotoKey
			})
		}
	}

	// Removing the photo.
	r = e.do(t, apiReq{method: "DELETE", path: fmt.Sprintf("/api/channels/kim-fish/products/%d/photo", p.ID), auth: "Bearer " + e.key})
	var got productJSON
	r.decode(t, &got)
	if r.status != 200 || got.PhotoKey != "" || got.PhotoURL != "" {
		t.Fatalf("delete photo: %d %s", r.status, r.body)
	}
	gone(t, current)
	// And with PATCH photo_key "".
	r = e.do(t, apiReq{method: "PUT", path: fmt.Sprintf("/api/channels/kim-fish/products/%d/photo", p.ID), auth: "Bearer " + e.key,
		ctype: "image/png", body: apiPNG(t, apiTestImage(40, 40))})
	r.decode(t, &got)
	if r.status != 200 || got.PhotoKey == "" {
		t.Fatalf("put photo: %d %s", r.status, r.body)
	}
	r = e.do(t, apiReq{method: "PATCH", path: fmt.Sprintf("/api/channels/kim-fish/products/%d", p.ID), auth: "Bearer " + e.key,
		ctype: "application/json", body: []byte(`{"photo_key":""}`)})
	if r.status != 200 {
		t.Fatalf("patch photo_key: %d %s", r.status, r.body)
	}
	gone(t, got.PhotoKey)
	e.do(t, apiReq{method: "PUT", path: "/api/channels/kim-fish/products/999999/photo", auth: "Bearer " + e.key,
		ctype: "image/png", body: apiPNG(t, apiTestImage(4, 4))}).wantError(t, 404, "not_found")

	t.Run("traversal", func(t *testing.T) {
		secret := filepath.Join(e.dataDir, "secret.jpg")
		if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(e.dataDir, "photos", "products")
		if err := os.Symlink(secret, filepath.Join(dir, "link.jpg")); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{
			"/photos/../secret.jpg",
			"/photos/%2e%2e/secret.jpg",
			"/photos/..%2fsecret.jpg",
			"/photos/products/..%2f..%2fsecret.jpg",
			"/photos/products/%2e%2e/%2e%2e/secret.jpg",
			"/photos/products/link.jpg",
			"/photos/%2fetc%2fpasswd",
			"/photos/products//x.jpg",
			"/photos/products/x.db",
			"/photos/products/x.jpg%00.png",
			"/photos/products\\..\\..\\secret.jpg",
			"/photos/",
		} {
			r := e.do(t, apiReq{method: "GET", path: path})
			if r.status == 200 || bytes.Contains(r.body, []byte("SECRET")) {
				t.Errorf("GET %s: %d %q", path, r.status, r.body)
			}
		}
		photos, err := OpenDirPhotos(filepath.Join(e.dataDir, "photos"))
		if err != nil {
			t.Fatal(err)
		}
		defer photos.Close()
		for _, key := range []string{"", "../secret.jpg", "/etc/passwd.jpg", "products/../../secret.jpg", "a//b.jpg",
			"./a.jpg", "a/./b.jpg", "a\\b.jpg", "a.jpg/..", "products/x.db", "products/x.jpg\x00"} {
			if err := photos.Put(t.Context(), key, []byte("x"), "image/jpeg"); err == nil {
				t.Errorf("Put(%q) succeeded", key)
			}
			ph, err := photos.Open(t.Context(), key)
			if err == nil {
				ph.Close()
				t.Errorf("Open(%q) succeeded", key)
			}
		}
		// A link out of the folder is not followed.
		if ph, err := photos.Open(t.Context(), "products/link.jpg"); !errors.Is(err, ErrNotFound) {
			if err == nil {
				ph.Close()
			}
			t.Errorf("Open(link out of the folder): %v, want ErrNotFound", err)
		}
		if b, _ := os.ReadFile(secret); string(b) != "SECRET" {
			t.Errorf("secret overwritten: %q", b)
		}
		if err := photos.Put(t.Context(), "products/a.jpg", []byte("x"), "image/png"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Put with mismatched type: %v", err)
		}
	})
}

func TestJPEGOrientation(t *testing.T) {
	img := apiTestImage(8, 4)
	for o := uint16(0); o <= 9; o++ {
		for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
			want := int(o)
			if o < 1 || o > 8 {
				want = 1
			}
			if got := jpegOrientation(apiJPEGWithOrientation(t, img, o, bo)); got != want {
				t.Errorf("orientation %d (%v): got %d", o, bo, got)
			}
		}
	}
	var plain bytes.Buffer
	jpeg.Encode(&plain, img, nil)
	for name, data := range map[string][]byte{
		"no exif":   plain.Bytes(),
		"empty":     nil,
		"truncated": apiJPEGWithOrientation(t, img, 6, binary.BigEndian)[:20],
		"png":       apiPNG(t, img),
	} {
		if got := jpegOrientation(data); got != 1 {
			t.Errorf("%s: %d, want 1", name, got)
		}
	}
}

func TestOrientImage(t *testing.T) {
	// A 3x2 image with each pixel's red value its index.
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range 6 {
		src.SetRGBA(i%3, i/3, color.RGBA{uint8(i), 0, 0, 255})
	}
	// Rows of the upright image, as stored indexes:
	// stored  0 1 2
	//         3 4 5
	tests := []struct {
		o    int
		want [][]uint8
	}{
		{1, [][]uint8{{0, 1, 2}, {3, 4, 5}}},
		{2, [][]uint8{{2, 1, 0}, {5, 4, 3}}},
		{3, [][]uint8{{5, 4, 3}, {2, 1, 0}}},
		{4, [][]uint8{{3, 4, 5}, {0, 1, 2}}},
		{5, [][]uint8{{0, 3}, {1, 4}, {2, 5}}},
		{6, [][]uint8{{3, 0}, {4, 1}, {5, 2}}},
		{7, [][]uint8{{5, 2}, {4, 1}, {3, 0}}},
		{8, [][]uint8{{2, 5}, {1, 4}, {0, 3}}},
	}
	for _, tt := range tests {
		out := orientImage(src, tt.o)
		var got [][]uint8
		for y := range out.Bounds().Dy() {
			var row []uint8
			for x := range out.Bounds().Dx() {
				row = append(row, out.RGBAAt(x, y).R)
			}
			got = append(got, row)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("orientation %d: %v, want %v", tt.o, got, tt.want)
		}
	}
}

func TestDownscale(t *testing.T) {
	tests := []struct {
		w, h, max, ww, wh int
	}{
		{2000, 1000, 1080, 1080, 540},
		{1000, 2000, 1080, 540, 1080},
		{1080, 1080, 1080, 1080, 1080},
		{500, 300, 1080, 500, 300},
		{1, 5000, 1080, 1, 1080},
		{5000, 1, 1080, 1080, 1},
		{4032, 3024, 320, 320, 240},
	}
	for _, tt := range tests {
		out := downscale(image.NewRGBA(image.Rect(0, 0, tt.w, tt.h)), tt.max)
		if out.Bounds().Dx() != tt.ww || out.Bounds().Dy() != tt.wh {
			t.Errorf("%dx%d to %d: %v, want %dx%d", tt.w, tt.h, tt.max, out.Bounds(), tt.ww, tt.wh)
		}
	}
	// Averaging: a 1-pixel black and white checkerboard turns grey, and a
	// transparent image turns white.
	cb := image.NewGray(image.Rect(0, 0, 400, 400))
	for i := range cb.Pix {
		if (i%400+i/400)%2 == 0 {
			cb.Pix[i] = 255
		}
	}
	if c := downscale(cb, 100).RGBAAt(50, 50); c.R < 120 || c.R > 135 {
		t.Errorf("checkerboard averages to %v", c)
	}
	if c := downscale(image.NewNRGBA(image.Rect(0, 0, 10, 10)), 5).RGBAAt(2, 2); c != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("transparent becomes %v", c)
	}
}
