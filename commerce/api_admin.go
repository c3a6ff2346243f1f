package commerce

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Admin serves the operator's routes under /api/admin/: what the
// `dangol tutor` and `dangol channel` commands do, for the page at /admin.
// Every route needs "Authorization: Bearer <admin token>".
//
// An Admin holds no state beyond its token's hash; it is safe for
// concurrent use.
type Admin struct {
	store *Store
	log   *slog.Logger
	// tokenHash is the admin token's SHA-256: comparing fixed-length
	// hashes in constant time tells nothing of the token, its length
	// included.
	tokenHash []byte
	// errs writes the errors, as the merchant API does: same shape, same
	// messages in Korean and English.
	errs *API

	// PINReset, if set, is told of a channel whose PIN the operator reset,
	// so that the old PIN's lockout does not hold the merchant back:
	// API.ForgetPINAttempts. Set it before serving.
	PINReset func(slug string)
}

// adminMinToken is the length below which NewAdmin warns: the token is the
// operator's master key and nothing limits the guesses at it.
const adminMinToken = 20

// NewAdmin returns the operator's routes over store, open to the bearer of
// token. An empty token disables them: every route answers 404.
func NewAdmin(store *Store, token string, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "admin")
	ad := &Admin{store: store, log: log, errs: &API{log: log}}
	if token != "" {
		ad.tokenHash = hashSecret(token)
		if len(token) < adminMinToken {
			log.Warn("the admin token is short; use a long random one", "min_length", adminMinToken)
		}
	}
	return ad
}

// Routes registers the operator's handlers on mux.
func (ad *Admin) Routes(mux *http.ServeMux) {
	const tutor = "/api/admin/tutors/{tutor}/channels/{slug}"
	mux.HandleFunc("GET /api/admin/tutors", ad.auth(ad.listTutors))
	mux.HandleFunc("POST /api/admin/tutors", ad.auth(ad.createTutor))
	mux.HandleFunc("POST "+tutor, ad.auth(ad.linkChannel))
	mux.HandleFunc("DELETE "+tutor, ad.auth(ad.unlinkChannel))
	mux.HandleFunc("GET /api/admin/channels", ad.auth(ad.listChannels))
	mux.HandleFunc("POST /api/admin/channels", ad.auth(ad.createChannel))
	mux.HandleFunc("POST /api/admin/channels/{slug}/pin", ad.auth(ad.resetPIN))
}

var (
	errAPIAdminUnauthorized = &apiError{status: http.StatusUnauthorized, code: ErrBadKey.Code(),
		ko: "운영자 키가 맞지 않습니다. 운영자 링크로 다시 들어와 주세요.", en: "The admin token is missing or wrong."}
	errAPIAdminOff = &apiError{status: http.StatusNotFound, code: ErrNotFound.Code(),
		ko: "찾을 수 없습니다.", en: "Not found."}
)

// auth calls h if the request carries the admin token; a missing or wrong
// one is 401. With no token configured, every route is 404, as if it were
// not there.
func (ad *Admin) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ad.tokenHash == nil {
			ad.errs.fail(w, r, errAPIAdminOff)
			return
		}
		token, ok := apiBearer(r)
		if !ok || !secretMatches(token, ad.tokenHash) {
			ad.errs.fail(w, r, errAPIAdminUnauthorized)
			return
		}
		h(w, r)
	}
}

// adminTutorJSON is a tutor as the operator lists it.
type adminTutorJSON struct {
	Tutor
	Channels []string `json:"channels"` // slugs
}

func (ad *Admin) listTutors(w http.ResponseWriter, r *http.Request) {
	ts, err := ad.store.Tutors(r.Context())
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	slugs, err := ad.store.TutorSlugs(r.Context())
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	out := make([]adminTutorJSON, len(ts))
	for i, t := range ts {
		out[i] = adminTutorJSON{Tutor: t, Channels: append([]string{}, slugs[t.ID]...)}
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"tutors": out})
}

// adminTutorBody is the body of POST /api/admin/tutors.
type adminTutorBody struct {
	Name   *string `json:"name"`
	Handle *string `json:"handle"`
	Phone  *string `json:"phone"`
}

// check validates the body as CreateTutor will, so that the operator is
// told which field is wrong, and returns the input.
func (b adminTutorBody) check() (TutorInput, error) {
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		return TutorInput{}, apiInvalid("name", "튜터 이름을 입력해 주세요.", "name is required.")
	}
	name, err := cleanName(*b.Name)
	if err != nil {
		return TutorInput{}, apiInvalid("name", fmt.Sprintf("튜터 이름은 %d자까지, 줄바꿈 없이 써 주세요.", maxNameLen), apiInvalidDetail(err)+".")
	}
	in := TutorInput{Name: name}
	if b.Handle != nil {
		in.Handle = strings.TrimSpace(*b.Handle)
	}
	switch {
	case in.Handle != "":
		if err := ValidHandle(in.Handle); err != nil {
			return TutorInput{}, apiInvalid("handle", fmt.Sprintf("아이디는 영어 소문자, 숫자, '-'로 %d~%d자입니다. (숫자만은 안 됩니다)", minSlugLen, maxSlugLen),
				apiInvalidDetail(err)+".")
		}
	case HandleFromName(name) == "":
		// A name in Hangul gives no handle; the CLI asks for --handle.
		return TutorInput{}, apiInvalid("handle", "영문 아이디를 정해 주세요. (영어 소문자, 숫자, '-')",
			"handle is required: none can be made from this name (a-z, 0-9, '-').")
	}
	if b.Phone != nil && strings.TrimSpace(*b.Phone) != "" {
		if in.Phone, err = cleanPhone(*b.Phone); err != nil {
			return TutorInput{}, apiInvalid("phone", "전화번호는 숫자 8~15자리로 써 주세요. (예: 010-1234-5678)", apiInvalidDetail(err)+".")
		}
	}
	return in, nil
}

// tutorPath is the tutor page logged in with token: the path of the link
// `dangol tutor add` prints. The token rides in the fragment, which
// browsers never send, so it stays out of logs.
func tutorPath(token string) string {
	return "/tutor#t=" + url.QueryEscape(token)
}

func (ad *Admin) createTutor(w http.ResponseWriter, r *http.Request) {
	var b adminTutorBody
	if err := apiDecodeJSON(w, r, &b); err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	in, err := b.check()
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	t, token, err := ad.store.CreateTutor(r.Context(), in)
	if errors.Is(err, ErrExists) {
		err = &apiError{status: http.StatusConflict, code: ErrExists.Code(), field: "handle",
			ko: "이미 있는 아이디입니다. 다른 아이디를 정해 주세요.", en: "This handle is taken; choose another."}
	}
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	ad.log.Info("admin created tutor", "tutor", t.Handle)
	apiWriteJSON(w, http.StatusCreated, map[string]any{
		"tutor":     adminTutorJSON{Tutor: t, Channels: []string{}},
		"login_url": tutorPath(token),
		"token":     token,
	})
}

// pathTutor returns the tutor named, by handle or id, in the path.
func (ad *Admin) pathTutor(r *http.Request) (Tutor, error) {
	return ad.tutor(r, r.PathValue("tutor"))
}

// errAdminNoChannel is the 404 for an unknown channel.
func errAdminNoChannel(slug string) *apiError {
	return &apiError{status: http.StatusNotFound, code: ErrNotFound.Code(), field: "slug",
		ko: "그런 가게 채널이 없습니다.", en: fmt.Sprintf("There is no channel %q.", slug)}
}

// linkChannel assigns the channel to the tutor, as `dangol tutor link`.
func (ad *Admin) linkChannel(w http.ResponseWriter, r *http.Request) {
	ad.changeLink(w, r, func(t Tutor, slug string) error {
		err := ad.store.AssignChannel(r.Context(), t.ID, slug)
		switch {
		case errors.Is(err, ErrNotFound):
			return errAdminNoChannel(slug)
		case errors.Is(err, ErrExists):
			return &apiError{status: http.StatusConflict, code: ErrExists.Code(),
				ko: "이미 이 튜터가 맡은 가게입니다.", en: fmt.Sprintf("%s already looks after %s.", t.Handle, slug)}
		}
		return err
	})
}

// unlinkChannel takes the channel from the tutor, as `dangol tutor unlink`.
func (ad *Admin) unlinkChannel(w http.ResponseWriter, r *http.Request) {
	ad.changeLink(w, r, func(t Tutor, slug string) error {
		err := ad.store.UnassignChannel(r.Context(), t.ID, slug)
		if errors.Is(err, ErrNotFound) {
			// No such channel, or not the tutor's: either way nothing to undo.
			return &apiError{status: http.StatusNotFound, code: ErrNotFound.Code(), field: "slug",
				ko: "이 튜터가 맡은 가게가 아닙니다.", en: fmt.Sprintf("%s does not look after %s.", t.Handle, slug)}
		}
		return err
	})
}

// changeLink runs change on the tutor and channel of the path and answers
// the tutor with its channels as they are after it.
func (ad *Admin) changeLink(w http.ResponseWriter, r *http.Request, change func(t Tutor, slug string) error) {
	t, err := ad.pathTutor(r)
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	slug := r.PathValue("slug")
	if err := change(t, slug); err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	ad.log.Info("admin changed tutor's channels", "method", r.Method, "tutor", t.Handle, "channel", slug)
	slugs, err := ad.store.TutorSlugs(r.Context())
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, adminTutorJSON{Tutor: t, Channels: append([]string{}, slugs[t.ID]...)})
}

func (ad *Admin) listChannels(w http.ResponseWriter, r *http.Request) {
	chs, err := ad.store.AdminChannels(r.Context())
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"channels": chs})
}

// adminChannelBody is the body of POST /api/admin/channels.
type adminChannelBody struct {
	Slug  *string `json:"slug"`
	Name  *string `json:"name"`
	Tutor *string `json:"tutor"` // handle or id; absent or "" for none
}

// createChannel creates a channel, for a tutor if one is named, as
// `dangol channel add [--tutor]`, and answers its secrets, which cannot be
// read again.
func (ad *Admin) createChannel(w http.ResponseWriter, r *http.Request) {
	var b adminChannelBody
	if err := apiDecodeJSON(w, r, &b); err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	slug, err := checkNewChannel(b.Slug, b.Name)
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	var t Tutor
	if b.Tutor != nil && strings.TrimSpace(*b.Tutor) != "" {
		if t, err = ad.tutor(r, strings.TrimSpace(*b.Tutor)); err != nil {
			ad.errs.fail(w, r, err)
			return
		}
	}
	ch, sec, err := createChannelAs(r.Context(), ad.store, t.ID, slug, *b.Name)
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	ad.log.Info("admin created channel", "channel", ch.Slug, "tutor", t.Handle)
	w.Header().Set("Location", "/api/channels/"+ch.Slug)
	doc := newChannelDoc(ch, sec)
	doc["tutor"] = t.Handle
	apiWriteJSON(w, http.StatusCreated, doc)
}

// tutor returns the tutor ref names, by handle or id, or a 404 naming the
// tutor field.
func (ad *Admin) tutor(r *http.Request, ref string) (Tutor, error) {
	t, err := ad.store.Tutor(r.Context(), ref)
	if errors.Is(err, ErrNotFound) {
		return Tutor{}, &apiError{status: http.StatusNotFound, code: ErrNotFound.Code(), field: "tutor",
			ko: "그런 튜터가 없습니다.", en: fmt.Sprintf("There is no tutor %q.", ref)}
	}
	return t, err
}

// resetPIN gives the channel a new PIN, as `dangol channel pin`.
func (ad *Admin) resetPIN(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	pin, err := ad.store.ResetPIN(r.Context(), slug)
	if errors.Is(err, ErrNotFound) {
		err = errAdminNoChannel(slug)
	}
	if err != nil {
		ad.errs.fail(w, r, err)
		return
	}
	if ad.PINReset != nil {
		ad.PINReset(slug)
	}
	ad.log.Info("admin reset pin", "channel", slug)
	apiWriteJSON(w, http.StatusOK, map[string]string{"pin": pin})
}
