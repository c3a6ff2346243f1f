package commerce

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dangol/dangol/internal/lang"
)

// API is the merchant REST API: a channel's profile, schedule, products,
// orders and broadcasts, under /api/channels/{slug}/, the PIN login at
// /api/login, the tutors' routes under /api/tutor (api_tutor.go), and the
// photos under /photos/. It is documented in
// docs/api.md.
//
// Requests that change or reveal the stall's business carry the channel's
// stream key or studio token, or the token of a tutor the channel is
// assigned to, as "Authorization: Bearer ...". Reading the
// products and their photos is public: the watch page shows them to
// customers. So is a broadcast's replay document (replay.go), but for its
// sales summary, which only the merchant gets.
//
// An API holds no state of its own beyond a bound on concurrent photo
// processing and the count of recent wrong PINs (pinLimiter); it is safe
// for concurrent use and needs no closing.
type API struct {
	store  *Store
	photos PhotoStore
	log    *slog.Logger
	// photoSlots bounds the photos decoded at once: a large upload takes
	// up to 4 bytes a pixel, 160 MB at 40 megapixels.
	photoSlots chan struct{}
	// csvPage is how many orders the CSV export reads at once; tests lower it.
	csvPage int
	// logins limits PIN attempts per channel (POST /api/login).
	logins *pinLimiter
	mux    *http.ServeMux // the routes, for ServeHTTP

	// Replays, if set, finds the recording of a broadcast for the
	// broadcasts listing and the replay document: the URL path of its
	// playable file, its duration and when it started; ok is false when
	// there is none. A func rather than an interface so that commerce does
	// not depend on recordings: cmd/dangol wires it to
	// recordings.Replays.Info. Set it before serving.
	Replays func(ctx context.Context, slug string, broadcastID int64) (info ReplayInfo, ok bool)
	// OrderPlaced, if set, is told of an order placed through the API (from
	// a replay), so that the channel's live room shows it: Rooms.OrderPlaced.
	// Set it before serving.
	OrderPlaced func(slug string, o Order)
	// CoachTip, if set, shows a tutor's tip on the merchant's studio:
	// Rooms.CoachTip. Set it before serving.
	CoachTip func(slug string, n PracticeNote)
	// Crowds, if set, runs the simulated customers of practice sessions.
	// Without it, asking for them is 503. Set it before serving.
	Crowds PracticeCrowds
}

// Limits on request bodies.
const (
	apiMaxJSON      = 64 << 10
	apiMaxField     = 64 << 10              // a multipart form's text field
	apiMaxMultipart = photoMaxBytes + 1<<20 // the photo and the fields
)

// NewAPI returns the API over store, keeping photos in photos and logging
// to log.
func NewAPI(store *Store, photos PhotoStore, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{store: store, photos: photos, log: log.With("component", "api"), photoSlots: make(chan struct{}, 2), csvPage: 500, logins: newPINLimiter()}
	a.mux = http.NewServeMux()
	a.Routes(a.mux)
	return a
}

// Routes registers the API's handlers on mux.
func (a *API) Routes(mux *http.ServeMux) {
	const ch = "/api/channels/{slug}"
	mux.HandleFunc("GET "+ch, a.getChannel) // public: the channel page
	mux.HandleFunc("PATCH "+ch, a.merchant(a.patchChannel))
	mux.HandleFunc("PUT "+ch+"/photo", a.merchant(a.putChannelPhoto))
	mux.HandleFunc("POST "+ch+"/photo", a.merchant(a.putChannelPhoto))
	mux.HandleFunc("DELETE "+ch+"/photo", a.merchant(a.deleteChannelPhoto))
	mux.HandleFunc("GET "+ch+"/schedule", a.getSchedule) // public: the channel page
	mux.HandleFunc("POST "+ch+"/schedule", a.merchant(a.postSchedule))
	mux.HandleFunc("DELETE "+ch+"/schedule/{id}", a.merchant(a.deleteSchedule))
	mux.HandleFunc("POST /api/login", a.login)
	mux.HandleFunc("GET "+ch+"/products", a.listProducts)
	mux.HandleFunc("POST "+ch+"/products", a.merchant(a.createProduct))
	mux.HandleFunc("GET "+ch+"/products/{id}", a.getProduct)
	mux.HandleFunc("PATCH "+ch+"/products/{id}", a.merchant(a.patchProduct))
	mux.HandleFunc("DELETE "+ch+"/products/{id}", a.merchant(a.deleteProduct))
	mux.HandleFunc("PUT "+ch+"/products/{id}/photo", a.merchant(a.putPhoto))
	mux.HandleFunc("POST "+ch+"/products/{id}/photo", a.merchant(a.putPhoto))
	mux.HandleFunc("DELETE "+ch+"/products/{id}/photo", a.merchant(a.deletePhoto))
	mux.HandleFunc("GET "+ch+"/orders", a.merchant(a.listOrders))
	mux.HandleFunc("GET "+ch+"/orders/{id}", a.merchant(a.getOrder))
	mux.HandleFunc("GET "+ch+"/broadcasts", a.merchant(a.listBroadcasts))
	mux.HandleFunc("GET "+ch+"/replays", a.listReplays)                      // public: the channel page's
	mux.HandleFunc("GET "+ch+"/broadcasts/{id}/replay", a.getReplay)         // public: see getReplay
	mux.HandleFunc("POST "+ch+"/broadcasts/{id}/orders", a.placeReplayOrder) // public, as the replay page
	mux.HandleFunc("GET "+ch+"/settings", a.merchant(a.getSettings))
	mux.HandleFunc("PATCH "+ch+"/settings", a.merchant(a.patchSettings))
	mux.HandleFunc("GET /photos/{key...}", a.getPhoto)
	a.tutorRoutes(mux)
	a.practiceRoutes(mux)
}

// ServeHTTP serves the API's routes (as Routes registers them) on a mux of
// its own, for a server that mounts the API as one handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mux.ServeHTTP(w, r)
}

// apiError is an error answered to a client: an HTTP status, a stable code
// and a message in Korean and in English.
type apiError struct {
	status int
	code   string
	ko, en string
	field  string // the input field at fault, if one is
}

func (e *apiError) Error() string { return e.code + ": " + e.en }

// apiInvalid returns a 400 "invalid" error about field.
func apiInvalid(field, ko, en string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: ErrInvalid.Code(), ko: ko, en: en, field: field}
}

// API-only error codes; the others are the Store's (see Code).
var (
	errAPIUnauthorized = &apiError{status: http.StatusUnauthorized, code: ErrBadKey.Code(),
		ko: "방송 키 또는 스튜디오 로그인이 필요합니다.", en: "A stream key or studio token for this channel is required."}
	errAPIBadJSON = &apiError{status: http.StatusBadRequest, code: "bad_request",
		ko: "요청 내용을 읽을 수 없습니다.", en: "The request body is not valid JSON."}
	errAPITooLarge = &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large",
		ko: "보낸 내용이 너무 큽니다. (사진은 10MB까지)", en: "The request body is too large (photos up to 10 MB)."}
	errAPIMediaType = &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
		ko: "지원하지 않는 형식입니다.", en: "Unsupported content type."}
	errAPINotImage = &apiError{status: http.StatusBadRequest, code: "not_image", field: "photo",
		ko: "사진 파일(JPEG, PNG)만 올릴 수 있습니다.", en: "The photo must be a JPEG, PNG or GIF image."}
	errAPIImageHuge = &apiError{status: http.StatusBadRequest, code: "image_too_large", field: "photo",
		ko: "사진 해상도가 너무 큽니다. (4천만 화소까지)", en: "The photo has too many pixels (40 megapixels at most)."}
)

// apiStoreMessages are the messages for the Store's error codes.
var apiStoreMessages = map[string][2]string{
	"not_found":      {"찾을 수 없습니다.", "Not found."},
	"unauthorized":   {"방송 키가 맞지 않습니다.", "Wrong stream key or studio token."},
	"exists":         {"이미 있습니다.", "Already exists."},
	"invalid":        {"입력한 내용이 올바르지 않습니다.", "Invalid input."},
	"bad_transition": {"주문 상태를 그렇게 바꿀 수 없습니다.", "The order status cannot change that way."},
	"forbidden":      {"담당하지 않는 가게입니다.", "This channel is not assigned to you."},
	"out_of_stock":   {"재고가 부족합니다.", "Not enough stock left."},
	"live":           {"방송 중에는 할 수 없습니다. 방송을 먼저 끝내 주세요.", "The channel is live: end the broadcast first."},
	"not_live":       {"방송 중이 아닙니다.", "The broadcast is not live."},
	"internal":       {"서버에 문제가 생겼습니다. 잠시 후 다시 해 주세요.", "Something went wrong on the server. Please try again shortly."},
}

// errorFor turns err into what the client is told.
func (a *API) errorFor(r *http.Request, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errAPITooLarge
	}
	code := Code(err)
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrBadKey):
		status = http.StatusUnauthorized
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, ErrExists), errors.Is(err, ErrBadTransition):
		status = http.StatusConflict
	case code == CodeInternal:
		if r.Context().Err() == nil {
			a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	default:
		status = http.StatusConflict
	}
	msg, ok := apiStoreMessages[code]
	if !ok {
		msg = apiStoreMessages["invalid"]
	}
	e := &apiError{status: status, code: code, ko: msg[0], en: msg[1]}
	if code == ErrInvalid.Code() {
		// The Store says exactly what is wrong, in English.
		e.en = apiInvalidDetail(err)
	}
	return e
}

// apiInvalidDetail returns the part of an ErrInvalid error after "invalid: ".
func apiInvalidDetail(err error) string {
	s := err.Error()
	if i := strings.Index(s, ErrInvalid.text+": "); i >= 0 {
		return s[i+len(ErrInvalid.text)+2:]
	}
	return s
}

// fail writes err as a JSON error.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := a.errorFor(r, err)
	msg := e.ko
	if lang.Pick(r.Header.Get("Accept-Language")) == "en" {
		msg = e.en
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dangol"`)
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	apiWriteJSON(w, e.status, map[string]body{"error": {e.code, msg, e.field}})
}

func apiWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// merchantHandler is a handler for the merchant of the channel ch.
type merchantHandler func(w http.ResponseWriter, r *http.Request, ch Channel)

// merchant checks that the request carries the stream key or the studio
// token of the channel in its path, and calls h with the channel. A
// missing or wrong secret (another channel's included) is 401; an unknown
// channel is 404.
func (a *API) merchant(h merchantHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ch, err := a.checkMerchant(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, ch)
	}
}

// checkMerchant returns the channel in the request's path if the request
// carries its stream key or studio token, or the token of a tutor the
// channel is assigned to, errAPIUnauthorized if not.
func (a *API) checkMerchant(r *http.Request) (Channel, error) {
	return a.checkChannelSecret(r, r.PathValue("slug"))
}

// checkChannelSecret is checkMerchant for the channel slug.
func (a *API) checkChannelSecret(r *http.Request, slug string) (Channel, error) {
	token, ok := apiBearer(r)
	if !ok {
		return Channel{}, errAPIUnauthorized
	}
	ch, err := a.store.CheckStreamKey(r.Context(), slug, token)
	if errors.Is(err, ErrBadKey) {
		ch, err = a.store.CheckStudioToken(r.Context(), slug, token)
	}
	if errors.Is(err, ErrBadKey) {
		// A tutor sets the stall up with the merchant, so may do what the
		// merchant does. Another tutor's token is a wrong secret here, as
		// another channel's key is.
		var t Tutor
		if t, err = a.store.CheckTutorToken(r.Context(), token); err == nil {
			ch, err = a.store.TutorChannel(r.Context(), t.ID, slug)
		}
	}
	if errors.Is(err, ErrBadKey) || errors.Is(err, ErrForbidden) {
		return Channel{}, errAPIUnauthorized
	}
	return ch, err
}

// apiBearer returns the request's "Authorization: Bearer" token, if it
// has one.
func apiBearer(r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// apiPathID returns the {id} of the path, or a 404 error.
func apiPathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("id %q: %w", r.PathValue("id"), ErrNotFound)
	}
	return id, nil
}

// apiMediaType returns the request's content type without parameters.
func apiMediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// apiDecodeJSON reads a request's JSON body, of at most apiMaxJSON bytes, into
// v, refusing unknown fields and anything after the value.
func apiDecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if apiMediaType(r) != "application/json" {
		return errAPIMediaType
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, apiMaxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiJSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errAPITooLarge
		}
		return errAPIBadJSON
	}
	return nil
}

// apiJSONError turns a decoding error into a client error naming the field.
func apiJSONError(err error) error {
	var (
		mbe *http.MaxBytesError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return errAPITooLarge
	case errors.As(err, &ute):
		return apiInvalid(ute.Field, ute.Field+" 값의 형식이 맞지 않습니다.",
			fmt.Sprintf("%s must be a %s.", ute.Field, apiJSONKind(ute.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apiInvalid(f, "알 수 없는 항목입니다: "+f, "Unknown field: "+f)
	}
	return errAPIBadJSON
}

func apiJSONKind(k string) string {
	if strings.HasPrefix(k, "int") {
		return "whole number"
	}
	return k
}

// productFields are a product's fields as a client sends them; nil when
// absent.
type productFields struct {
	Name        *string `json:"name"`
	PriceWon    *int64  `json:"price_won"`
	Stock       *int    `json:"stock"`
	Description *string `json:"description"`
	PhotoKey    *string `json:"photo_key"` // PATCH only, and only "" (remove the photo)
}

// check validates the fields that are set, in the client's terms, before
// the Store checks them again.
func (f productFields) check(create bool) error {
	if create && f.Name == nil {
		return apiInvalid("name", "상품 이름을 입력해 주세요.", "name is required.")
	}
	if create && f.PriceWon == nil {
		return apiInvalid("price_won", "가격을 입력해 주세요.", "price_won is required.")
	}
	if f.Name != nil {
		n := utf8.RuneCountInString(strings.TrimSpace(*f.Name))
		if n == 0 {
			return apiInvalid("name", "상품 이름을 입력해 주세요.", "name must not be empty.")
		}
		if n > maxProductNameLen {
			return apiInvalid("name", fmt.Sprintf("상품 이름은 %d자까지 쓸 수 있습니다.", maxProductNameLen),
				fmt.Sprintf("name must be at most %d characters.", maxProductNameLen))
		}
	}
	if f.PriceWon != nil && (*f.PriceWon < 0 || *f.PriceWon > maxPriceWon) {
		return apiInvalid("price_won", "가격은 0원에서 1억 원 사이로 입력해 주세요.",
			fmt.Sprintf("price_won must be from 0 to %d.", maxPriceWon))
	}
	if f.Stock != nil && (*f.Stock < 0 || *f.Stock > maxStock) {
		return apiInvalid("stock", "재고는 0개에서 100만 개 사이로 입력해 주세요.",
			fmt.Sprintf("stock must be from 0 to %d.", maxStock))
	}
	if f.Description != nil && utf8.RuneCountInString(strings.TrimSpace(*f.Description)) > maxDescriptionLen {
		return apiInvalid("description", fmt.Sprintf("설명은 %d자까지 쓸 수 있습니다.", maxDescriptionLen),
			fmt.Sprintf("description must be at most %d characters.", maxDescriptionLen))
	}
	if f.PhotoKey != nil && (create || *f.PhotoKey != "") {
		return apiInvalid("photo_key", "사진은 사진 올리기로 바꿔 주세요.",
			`photo_key can only be set to "" (remove the photo); upload photos to /products/{id}/photo.`)
	}
	return nil
}

// productJSON is a product as the API shows it, with its photo's URLs.
type productJSON struct {
	Product
	PhotoURL string `json:"photo_url,omitempty"`
	ThumbURL string `json:"thumb_url,omitempty"`
	// Clip is the product's latest clip from a broadcast, in the products
	// list only.
	Clip *clipJSON `json:"clip,omitempty"`
}

func toProductJSON(p Product) productJSON {
	pj := productJSON{Product: p}
	if p.PhotoKey != "" {
		pj.PhotoURL = "/photos/" + p.PhotoKey
		pj.ThumbURL = "/photos/" + thumbPhotoKey(p.PhotoKey)
	}
	return pj
}

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	ch, err := a.store.Channel(r.Context(), r.PathValue("slug"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps, err := a.store.Products(r.Context(), ch.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	clips, err := a.store.ProductClips(r.Context(), ch.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]productJSON, len(ps))
	for i, p := range ps {
		out[i] = toProductJSON(p)
		if c, ok := clips[p.ID]; ok {
			out[i].Clip = toClipJSON(c)
		}
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"products": out})
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	ch, err := a.store.Channel(r.Context(), r.PathValue("slug"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := apiPathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.store.Product(r.Context(), ch.ID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, toProductJSON(p))
}

func (a *API) createProduct(w http.ResponseWriter, r *http.Request, ch Channel) {
	var (
		f     productFields
		photo []byte
		err   error
	)
	switch apiMediaType(r) {
	case "application/json":
		err = apiDecodeJSON(w, r, &f)
	case "multipart/form-data":
		f, photo, err = a.readProductForm(w, r)
	default:
		err = errAPIMediaType
	}
	if err == nil {
		err = f.check(true)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	in := ProductInput{Name: *f.Name, PriceWon: *f.PriceWon}
	if f.Stock != nil {
		in.Stock = *f.Stock
	}
	if f.Description != nil {
		in.Description = *f.Description
	}
	if photo != nil {
		if in.PhotoKey, err = a.savePhoto(r.Context(), "products", ch.ID, photo); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	p, err := a.store.CreateProduct(r.Context(), ch.ID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/channels/%s/products/%d", ch.Slug, p.ID))
	apiWriteJSON(w, http.StatusCreated, toProductJSON(p))
}

// readProductForm reads a multipart product form: the text fields name,
// price_won, stock and description, and an optional photo file.
func (a *API) readProductForm(w http.ResponseWriter, r *http.Request) (productFields, []byte, error) {
	var (
		f     productFields
		photo []byte
	)
	r.Body = http.MaxBytesReader(w, r.Body, apiMaxMultipart)
	mr, err := r.MultipartReader()
	if err != nil {
		return f, nil, errAPIBadJSON
	}
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return f, nil, apiFormError(err)
		}
		name := part.FormName()
		if seen[name] {
			return f, nil, apiInvalid(name, "같은 항목이 두 번 있습니다: "+name, "Field given twice: "+name)
		}
		seen[name] = true
		if name == "photo" {
			if photo, err = apiReadLimited(part, photoMaxBytes); err != nil {
				return f, nil, err
			}
			continue
		}
		b, err := apiReadLimited(part, apiMaxField)
		if err != nil {
			return f, nil, err
		}
		v := string(b)
		switch name {
		case "name":
			f.Name = &v
		case "description":
			f.Description = &v
		case "price_won":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return f, nil, apiInvalid(name, "가격은 숫자로 입력해 주세요.", "price_won must be a whole number.")
			}
			f.PriceWon = &n
		case "stock":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return f, nil, apiInvalid(name, "재고는 숫자로 입력해 주세요.", "stock must be a whole number.")
			}
			f.Stock = &n
		default:
			return f, nil, apiInvalid(name, "알 수 없는 항목입니다: "+name, "Unknown field: "+name)
		}
	}
	return f, photo, nil
}

// apiReadLimited reads all of r, or returns errAPITooLarge if it holds more
// than limit bytes.
func apiReadLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, apiFormError(err)
	}
	if int64(len(b)) > limit {
		return nil, errAPITooLarge
	}
	return b, nil
}

func apiFormError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errAPITooLarge
	}
	return &apiError{status: http.StatusBadRequest, code: "bad_request",
		ko: "요청 내용을 읽을 수 없습니다.", en: "The form could not be read: " + err.Error()}
}

// savePhoto makes an upload ready for phones, stores it and its thumbnail
// under kind ("products" or "channels", see newPhotoKeys), and returns its
// key.
func (a *API) savePhoto(ctx context.Context, kind string, channelID int64, data []byte) (string, error) {
	if a.photos == nil {
		return "", &apiError{status: http.StatusServiceUnavailable, code: "photos_unavailable",
			ko: "사진 저장소가 설정되지 않았습니다.", en: "Photo storage is not configured."}
	}
	select {
	case a.photoSlots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	p, err := processPhoto(data)
	<-a.photoSlots
	switch {
	case errors.Is(err, errImageHuge):
		return "", errAPIImageHuge
	case errors.Is(err, ErrInvalid):
		return "", errAPINotImage
	case err != nil:
		return "", err
	}
	full, thumb := newPhotoKeys(kind, channelID)
	// The thumbnail first: a product never points at a photo whose
	// thumbnail is missing.
	if err := a.photos.Put(ctx, thumb, p.thumb, "image/jpeg"); err != nil {
		return "", err
	}
	if err := a.photos.Put(ctx, full, p.full, "image/jpeg"); err != nil {
		return "", err
	}
	return full, nil
}

func (a *API) patchProduct(w http.ResponseWriter, r *http.Request, ch Channel) {
	id, err := apiPathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var f productFields
	if err := apiDecodeJSON(w, r, &f); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := f.check(false); err != nil {
		a.fail(w, r, err)
		return
	}
	var old string
	if f.PhotoKey != nil { // removing the photo ("" is all check allows)
		before, err := a.store.Product(r.Context(), ch.ID, id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		old = before.PhotoKey
	}
	p, err := a.store.UpdateProduct(r.Context(), ch.ID, id, ProductPatch{
		Name: f.Name, PriceWon: f.PriceWon, Stock: f.Stock, Description: f.Description, PhotoKey: f.PhotoKey,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Photo keys are never reused, so a key read before the update and
	// replaced since is no product's any more, whichever update came last.
	if old != p.PhotoKey {
		a.deletePhotoFiles(old)
	}
	apiWriteJSON(w, http.StatusOK, toProductJSON(p))
}

func (a *API) deleteProduct(w http.ResponseWriter, r *http.Request, ch Channel) {
	id, err := apiPathID(r)
	if err == nil {
		err = a.store.DeleteProduct(r.Context(), ch.ID, id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// putPhoto replaces a product's photo with a multipart "photo" file or a
// bare image body (Content-Type image/jpeg, image/png or image/gif).
func (a *API) putPhoto(w http.ResponseWriter, r *http.Request, ch Channel) {
	id, err := apiPathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Check the product before the work of decoding.
	if _, err := a.store.Product(r.Context(), ch.ID, id); err != nil {
		a.fail(w, r, err)
		return
	}
	data, err := a.readPhotoUpload(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	key, err := a.savePhoto(r.Context(), "products", ch.ID, data)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, old, err := a.store.SetProductPhoto(r.Context(), ch.ID, id, key)
	if err != nil {
		a.deletePhotoFiles(key) // nothing refers to it
		a.fail(w, r, err)
		return
	}
	a.deletePhotoFiles(old)
	apiWriteJSON(w, http.StatusOK, toProductJSON(p))
}

// readPhotoUpload reads a photo sent as a multipart "photo" file or as a
// bare image body (Content-Type image/jpeg, image/png or image/gif).
func (a *API) readPhotoUpload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	switch mt := apiMediaType(r); {
	case mt == "multipart/form-data":
		var f productFields
		f, data, err = a.readProductForm(w, r)
		if err == nil && (f != productFields{}) {
			err = apiInvalid("", "사진만 보내 주세요.", "Only the photo field is accepted here.")
		}
		if err == nil && data == nil {
			err = apiInvalid("photo", "사진 파일을 골라 주세요.", "The photo field is missing.")
		}
	case strings.HasPrefix(mt, "image/"):
		data, err = apiReadLimited(http.MaxBytesReader(w, r.Body, photoMaxBytes+1), photoMaxBytes)
	default:
		err = errAPIMediaType
	}
	return data, err
}

// deletePhotoFiles deletes a photo that no product or channel refers to any
// more, and its thumbnail. A failure leaves a file behind, which is logged, not the
// request's error: the product is already as asked.
func (a *API) deletePhotoFiles(key string) {
	if key == "" || a.photos == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range []string{key, thumbPhotoKey(key)} {
		if err := a.photos.Delete(ctx, k); err != nil {
			a.log.Warn("photo left behind", "key", k, "err", err)
		}
	}
}

func (a *API) deletePhoto(w http.ResponseWriter, r *http.Request, ch Channel) {
	id, err := apiPathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, old, err := a.store.SetProductPhoto(r.Context(), ch.ID, id, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.deletePhotoFiles(old)
	apiWriteJSON(w, http.StatusOK, toProductJSON(p))
}

// getPhoto serves a stored photo. Keys are random and never reused, so a
// photo can be cached for a year.
func (a *API) getPhoto(w http.ResponseWriter, r *http.Request) {
	if a.photos == nil {
		a.fail(w, r, fmt.Errorf("photo: %w", ErrNotFound))
		return
	}
	key := r.PathValue("key")
	if err := checkStoredPhotoKey(key); err != nil {
		// A key that cannot exist is simply not found.
		a.fail(w, r, fmt.Errorf("photo %q: %w", key, ErrNotFound))
		return
	}
	ph, err := a.photos.Open(r.Context(), key)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer ph.Close()
	w.Header().Set("Content-Type", ph.ContentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("ETag", `"`+key+`"`)
	http.ServeContent(w, r, "", ph.ModTime, ph)
}

// orderJSON is an order with its status history.
type orderJSON struct {
	Order
	History []StatusChange `json:"history"`
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request, ch Channel) {
	q := r.URL.Query()
	var f OrderFilter
	if s := q.Get("status"); s != "" {
		f.Status = OrderStatus(s)
		if !f.Status.Valid() {
			a.fail(w, r, apiInvalid("status", "주문 상태가 올바르지 않습니다: "+s,
				"status must be placed, accepted, ready, picked_up, rejected or cancelled."))
			return
		}
	}
	if s := q.Get("broadcast"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			a.fail(w, r, apiInvalid("broadcast", "방송 번호가 올바르지 않습니다.", "broadcast must be a broadcast id."))
			return
		}
		f.BroadcastID = n
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			a.fail(w, r, apiInvalid("before", "before는 주문번호여야 합니다.", "before must be an order id."))
			return
		}
		f.Before = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxOrderPage {
			a.fail(w, r, apiInvalid("limit", "limit은 1에서 1000 사이여야 합니다.", "limit must be from 1 to 1000."))
			return
		}
		f.Limit = n
	}
	csvOut := q.Get("format") == "csv"
	if !csvOut && q.Get("format") == "" {
		csvOut = apiAcceptsCSV(r.Header.Get("Accept"))
	} else if !csvOut && q.Get("format") != "json" {
		a.fail(w, r, apiInvalid("format", "format은 csv 또는 json입니다.", "format must be csv or json."))
		return
	}
	if csvOut {
		a.writeOrdersCSV(w, r, ch, f)
		return
	}
	orders, err := a.store.ListOrders(r.Context(), ch.ID, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := map[string]any{"orders": orders}
	// A full page may have more behind it; the last page may then come back empty.
	if limit := cmp.Or(f.Limit, 100); len(orders) == limit {
		out["next_before"] = orders[len(orders)-1].ID
	}
	apiWriteJSON(w, http.StatusOK, out)
}

// apiAcceptsCSV reports whether an Accept header asks for text/csv before
// JSON.
func apiAcceptsCSV(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv":
			return true
		case "application/json", "*/*":
			return false
		}
	}
	return false
}

// apiKST is Korea Standard Time, which has no daylight saving; the CSV shows
// the stall's local time.
var apiKST = time.FixedZone("KST", 9*60*60)

// apiStatusLabels are the order statuses in Korean, for the CSV.
var apiStatusLabels = map[OrderStatus]string{
	StatusPlaced: "주문 접수", StatusAccepted: "주문 확인", StatusReady: "준비 완료",
	StatusPickedUp: "픽업 완료", StatusRejected: "주문 거절", StatusCancelled: "주문 취소",
}

// apiCSVHeader is the orders CSV's header row.
var apiCSVHeader = []string{
	"주문번호 Order", "주문시각 Placed (KST)", "상태 Status", "상태코드 Status code", "방송 Broadcast",
	"주문자 Buyer", "연락처 Phone", "상품 Items", "수량 Qty", "소계 Subtotal (KRW)", "할인 Discount (KRW)",
	"합계 Total (KRW)", "쿠폰 Coupon", "메모 Note", "출처 Source",
}

// apiSourceLabels are the order sources in Korean, for the CSV.
var apiSourceLabels = map[OrderSource]string{SourceLive: "라이브", SourceReplay: "다시보기"}

// writeOrdersCSV writes the orders f selects as CSV, one row an order, with
// a UTF-8 byte order mark: without it Excel reads the file as the local code
// page and garbles the Korean. Every order goes out, not one page (f.Limit,
// if set, caps the rows): the stall's bookkeeping needs all of them. The
// orders are read a.csvPage at a time, by id, so memory stays bounded
// however many there are.
func (a *API) writeOrdersCSV(w http.ResponseWriter, r *http.Request, ch Channel, f OrderFilter) {
	left := f.Limit // 0: no cap
	page := func() ([]Order, error) {
		pf := f
		pf.Limit = a.csvPage
		if left > 0 {
			pf.Limit = min(pf.Limit, left)
		}
		return a.store.ListOrders(r.Context(), ch.ID, pf)
	}
	// The first page is read before the header is sent, so a failing store
	// still gets a JSON error.
	orders, err := page()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="orders-%s-%s.csv"`,
		ch.Slug, time.Now().In(apiKST).Format("20060102")))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "\uFEFF")
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // what Excel writes
	_ = cw.Write(apiCSVHeader)
	for {
		for _, o := range orders {
			_ = cw.Write(apiCSVRow(o))
		}
		if left > 0 {
			if left -= len(orders); left <= 0 {
				break
			}
		}
		if len(orders) < a.csvPage {
			break
		}
		f.Before = orders[len(orders)-1].ID
		if orders, err = page(); err != nil {
			break
		}
		cw.Flush() // each page goes out before the next is read
	}
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		if r.Context().Err() == nil { // else the client left: nothing to tell
			a.log.Warn("write orders csv", "channel", ch.Slug, "err", err)
		}
		// The status is sent: abort the response, so the client sees a broken
		// download rather than a file that looks complete and lacks orders.
		panic(http.ErrAbortHandler)
	}
}

// apiCSVRow is an order's row in the orders CSV.
func apiCSVRow(o Order) []string {
	var items []string
	qty := 0
	for _, it := range o.Items {
		items = append(items, fmt.Sprintf("%s x%d", it.Name, it.Qty))
		qty += it.Qty
	}
	opt := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	return []string{
		strconv.FormatInt(o.ID, 10),
		o.CreatedAt.In(apiKST).Format("2006-01-02 15:04:05"),
		apiStatusLabels[o.Status],
		string(o.Status),
		opt(o.BroadcastID),
		apiCSVText(o.Buyer.Name),
		apiCSVText(o.Buyer.Phone),
		apiCSVText(strings.Join(items, ", ")),
		strconv.Itoa(qty),
		strconv.FormatInt(o.SubtotalWon, 10),
		strconv.FormatInt(o.DiscountWon, 10),
		strconv.FormatInt(o.TotalWon, 10),
		opt(o.CouponID),
		apiCSVText(o.Note),
		apiSourceLabels[o.Source],
	}
}

// apiCSVText defuses text a customer typed against spreadsheet formula
// injection: a cell starting with =, +, -, @, tab or CR is a formula to
// Excel, so it gets a leading apostrophe, which Excel shows as text.
func apiCSVText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request, ch Channel) {
	id, err := apiPathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.store.Order(r.Context(), ch.ID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h, err := a.store.OrderHistory(r.Context(), ch.ID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, orderJSON{Order: o, History: h})
}

// broadcastJSON is a broadcast as the API shows it: ended_at is null
// while it is live.
type broadcastJSON struct {
	Broadcast
	EndedAt *time.Time `json:"ended_at"`
	Live    bool       `json:"live"`
	// Set when a recording exists; a live broadcast's replay is what is
	// recorded so far.
	ReplayURL string  `json:"replay_url,omitempty"`
	HLSURL    string  `json:"replay_hls_url,omitempty"` // MP4 recordings: the same as HLS, for iPhones
	DurationS float64 `json:"duration_s,omitempty"`
	// Set when the channel's retention deleted the recording: the replay
	// is gone.
	RecordingDeletedAt *time.Time `json:"recording_deleted_at,omitempty"`
	// As the replay's sales summary counts them (Store.SalesTotals).
	Orders     int64 `json:"orders"`
	RevenueWon int64 `json:"revenue_won"`
}

func (a *API) listBroadcasts(w http.ResponseWriter, r *http.Request, ch Channel) {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			a.fail(w, r, apiInvalid("limit", "limit은 1에서 1000 사이여야 합니다.", "limit must be from 1 to 1000."))
			return
		}
		limit = n
	}
	bs, err := a.store.Broadcasts(r.Context(), ch.ID, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ids := make([]int64, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	totals, err := a.store.SalesTotals(r.Context(), ids)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]broadcastJSON, len(bs))
	for i, b := range bs {
		sales := totals[b.ID]
		out[i] = broadcastJSON{Broadcast: b, Live: b.Live(), Orders: sales.Orders, RevenueWon: sales.RevenueWon}
		if !b.Live() {
			t := b.EndedAt
			out[i].EndedAt = &t
		}
		if !b.RecordingDeletedAt.IsZero() {
			t := b.RecordingDeletedAt
			out[i].RecordingDeletedAt = &t
		} else if a.Replays != nil {
			if info, ok := a.Replays(r.Context(), ch.Slug, b.ID); ok {
				out[i].ReplayURL, out[i].HLSURL, out[i].DurationS = info.URL, info.HLSURL, info.DurationS
			}
		}
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"broadcasts": out})
}
