package commerce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The tutor API, under /api/tutor: a tutor's own merchants and what a tutor
// does for them (new channels, studio links for their phones, PINs). A
// tutor also uses the merchant API of those channels with the same token
// (see checkMerchant).
func (a *API) tutorRoutes(mux *http.ServeMux) {
	const ch = "/api/tutor/channels/{slug}"
	mux.HandleFunc("GET /api/tutor", a.tutor(a.getTutor))
	mux.HandleFunc("POST /api/tutor/channels", a.tutor(a.postTutorChannel))
	mux.HandleFunc("POST "+ch+"/studio-link", a.tutorChannel(a.postStudioLink))
	mux.HandleFunc("POST "+ch+"/pin", a.tutorChannel(a.postTutorPIN))
	// The merchant's own listing, practice broadcasts and all.
	mux.HandleFunc("GET "+ch+"/broadcasts", a.tutorChannel(a.listBroadcasts))
}

var errAPITutorUnauthorized = &apiError{status: http.StatusUnauthorized, code: ErrBadKey.Code(),
	ko: "튜터 로그인이 필요합니다. 받은 튜터 링크로 다시 들어와 주세요.", en: "A tutor token is required."}

// tutorHandler is a handler for the tutor t.
type tutorHandler func(w http.ResponseWriter, r *http.Request, t Tutor)

// tutor checks that the request carries a tutor's token and calls h with
// the tutor; a missing or wrong token is 401.
func (a *API) tutor(h tutorHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := a.checkTutor(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, t)
	}
}

func (a *API) checkTutor(r *http.Request) (Tutor, error) {
	token, ok := apiBearer(r)
	if !ok {
		return Tutor{}, errAPITutorUnauthorized
	}
	t, err := a.store.CheckTutorToken(r.Context(), token)
	if errors.Is(err, ErrBadKey) {
		return Tutor{}, errAPITutorUnauthorized
	}
	return t, err
}

// tutorChannel checks, as tutor does, that the request carries a tutor's
// token, and that the channel in the path is assigned to that tutor, and
// calls h with the channel. An unknown channel is 404; another tutor's (or
// nobody's) is 403: channels are public, so there is nothing to hide by
// answering 404, and the tutor learns the stall is not theirs.
func (a *API) tutorChannel(h merchantHandler) http.HandlerFunc {
	return a.tutor(func(w http.ResponseWriter, r *http.Request, t Tutor) {
		ch, err := a.store.TutorChannel(r.Context(), t.ID, r.PathValue("slug"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, ch)
	})
}

func (a *API) getTutor(w http.ResponseWriter, r *http.Request, t Tutor) {
	chs, err := a.store.TutorChannels(r.Context(), t.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"tutor": t, "channels": chs})
}

// tutorChannelBody is the body of POST /api/tutor/channels.
type tutorChannelBody struct {
	Slug *string `json:"slug"`
	Name *string `json:"name"`
}

// studioPath is the studio page logged in with token: the path of the link
// `dangol channel add` prints. The token rides in the fragment, which
// browsers never send, so it stays out of logs.
func studioPath(slug, token string) string {
	return "/studio?c=" + url.QueryEscape(slug) + "#t=" + url.QueryEscape(token)
}

func (a *API) postTutorChannel(w http.ResponseWriter, r *http.Request, t Tutor) {
	var b tutorChannelBody
	if err := apiDecodeJSON(w, r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	slug, err := checkNewChannel(b.Slug, b.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ch, sec, err := createChannelAs(r.Context(), a.store, t.ID, slug, *b.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("tutor created channel", "tutor", t.Handle, "channel", ch.Slug)
	w.Header().Set("Location", "/api/channels/"+ch.Slug)
	apiWriteJSON(w, http.StatusCreated, newChannelDoc(ch, sec))
}

// checkNewChannel checks the slug and name of a channel to create, as the
// tutor's and the operator's forms send them, and returns the slug trimmed.
func checkNewChannel(slug, name *string) (string, error) {
	if slug == nil || strings.TrimSpace(*slug) == "" {
		return "", apiInvalid("slug", "가게 주소(영문)를 입력해 주세요.", "slug is required.")
	}
	s := strings.TrimSpace(*slug)
	if err := ValidSlug(s); err != nil {
		return "", apiInvalid("slug", fmt.Sprintf("가게 주소는 영어 소문자, 숫자, '-'로 %d~%d자입니다. (api, studio 같은 말은 쓸 수 없습니다)", minSlugLen, maxSlugLen),
			apiInvalidDetail(err)+".")
	}
	if name == nil {
		return "", apiInvalid("name", "가게 이름을 입력해 주세요.", "name is required.")
	}
	if err := (channelFields{Name: name}).check(); err != nil {
		return "", err
	}
	return s, nil
}

// createChannelAs creates the channel, assigned to the tutor tutorID (0:
// none), and answers a taken slug as the forms show it.
func createChannelAs(ctx context.Context, store *Store, tutorID int64, slug, name string) (Channel, Secrets, error) {
	var (
		ch  Channel
		sec Secrets
		err error
	)
	if tutorID != 0 {
		ch, sec, err = store.CreateTutorChannel(ctx, tutorID, slug, name)
	} else {
		ch, sec, err = store.CreateChannel(ctx, slug, name)
	}
	if errors.Is(err, ErrExists) {
		err = &apiError{status: http.StatusConflict, code: ErrExists.Code(), field: "slug",
			ko: "이미 쓰고 있는 가게 주소입니다. 다른 주소를 골라 주세요.", en: fmt.Sprintf("The slug %q is taken.", slug)}
	}
	return ch, sec, err
}

// newChannelDoc is a new channel with its secrets, shown this once.
func newChannelDoc(ch Channel, sec Secrets) map[string]string {
	return map[string]string{
		"slug": ch.Slug, "name": ch.Name,
		"channel_url":  "/c/" + ch.Slug,
		"studio_url":   studioPath(ch.Slug, sec.StudioToken),
		"studio_token": sec.StudioToken,
		"stream_key":   sec.StreamKey,
		"pin":          sec.PIN,
	}
}

// postStudioLink opens a new studio session for the merchant's phone. The
// studio token cannot be given out again (only its hash is kept), and
// phones already logged in keep their sessions.
func (a *API) postStudioLink(w http.ResponseWriter, r *http.Request, ch Channel) {
	token, err := a.store.OpenStudioSession(r.Context(), ch.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("tutor opened studio session", "channel", ch.Slug)
	apiWriteJSON(w, http.StatusCreated, map[string]string{
		"studio_url": studioPath(ch.Slug, token), "studio_token": token,
	})
}

// postTutorPIN resets the channel's PIN for a merchant who forgot it, as
// `dangol channel pin` does.
func (a *API) postTutorPIN(w http.ResponseWriter, r *http.Request, ch Channel) {
	pin, err := a.store.ResetPIN(r.Context(), ch.Slug)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The old PIN may have been locked out by wrong tries; the new one
	// starts afresh.
	a.logins.succeeded(ch.Slug)
	a.log.Info("tutor reset pin", "channel", ch.Slug)
	apiWriteJSON(w, http.StatusOK, map[string]string{"pin": pin})
}
