package commerce

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPITutor(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAPITutor(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		testAPITutor(t, newPostgresDB)
	})
}

func testAPITutor(t *testing.T, newDB func(t *testing.T) storeOpener) {
	t.Run("auth", func(t *testing.T) { testAPITutorAuth(t, newDB) })
	t.Run("channels", func(t *testing.T) { testAPITutorChannels(t, newDB) })
	t.Run("merchant routes", func(t *testing.T) { testAPITutorMerchant(t, newDB) })
	t.Run("broadcasts", func(t *testing.T) { testAPITutorBroadcasts(t, newDB) })
}

// apiTutorEnv is an apiEnv with two tutors: jiwoo looks after kim-fish,
// minji after lee-veg.
type apiTutorEnv struct {
	*apiEnv
	jiwoo, minji       Tutor
	jiwooTok, minjiTok string
}

func newAPITutorEnv(t *testing.T, newDB func(t *testing.T) storeOpener) *apiTutorEnv {
	t.Helper()
	e := &apiTutorEnv{apiEnv: newAPIEnv(t, newDB)}
	var err error
	if e.jiwoo, e.jiwooTok, err = e.s.CreateTutor(t.Context(), TutorInput{Name: "Jiwoo Park", Phone: "010-1111-2222"}); err != nil {
		t.Fatal(err)
	}
	if e.minji, e.minjiTok, err = e.s.CreateTutor(t.Context(), TutorInput{Handle: "minji", Name: "김민지"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AssignChannel(t.Context(), e.jiwoo.ID, "kim-fish"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AssignChannel(t.Context(), e.minji.ID, "lee-veg"); err != nil {
		t.Fatal(err)
	}
	return e
}

// tutorReq sends a request with tok as the bearer token and body, if not
// nil, as JSON.
func (e *apiTutorEnv) tutorReq(t *testing.T, tok, method, path, body string) apiResp {
	t.Helper()
	q := apiReq{method: method, path: path}
	if tok != "" {
		q.auth = "Bearer " + tok
	}
	if body != "" {
		q.ctype, q.body = "application/json", []byte(body)
	}
	return e.do(t, q)
}

func testAPITutorAuth(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPITutorEnv(t, newDB)
	routes := []struct{ method, path, body string }{
		{"GET", "/api/tutor", ""},
		{"POST", "/api/tutor/channels", `{"slug":"park-rice","name":"박씨네 쌀"}`},
		{"POST", "/api/tutor/channels/kim-fish/studio-link", ""},
		{"POST", "/api/tutor/channels/kim-fish/pin", ""},
		{"GET", "/api/tutor/channels/kim-fish/broadcasts", ""},
	}
	creds := []struct{ name, tok string }{
		{"none", ""},
		{"wrong token", "64BFYNP5PFR74LVVWFYHTB74B4"},
		// A merchant's secrets are not a tutor's.
		{"stream key", e.key},
		{"studio token", e.studio},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				r := e.tutorReq(t, c.tok, rt.method, rt.path, rt.body)
				r.wantError(t, http.StatusUnauthorized, "unauthorized")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	// Another tutor's channel is 403, an unknown one 404, in Korean and
	// English.
	for _, suffix := range []string{"/studio-link", "/pin", "/broadcasts"} {
		method := "POST"
		if suffix == "/broadcasts" {
			method = "GET"
		}
		for _, c := range []struct {
			slug   string
			status int
			code   string
			msg    string
		}{
			{"lee-veg", http.StatusForbidden, "forbidden", "담당"},
			{"nobody", http.StatusNotFound, "not_found", "찾을 수 없"},
		} {
			t.Run(method+" "+c.slug+suffix, func(t *testing.T) {
				r := e.tutorReq(t, e.jiwooTok, method, "/api/tutor/channels/"+c.slug+suffix, "")
				if eb := r.wantError(t, c.status, c.code); !strings.Contains(eb.Error.Message, c.msg) {
					t.Errorf("message %q, want one with %q", eb.Error.Message, c.msg)
				}
				q := apiReq{method: method, path: "/api/tutor/channels/" + c.slug + suffix, auth: "Bearer " + e.jiwooTok,
					header: map[string]string{"Accept-Language": "en"}}
				if eb := e.do(t, q).wantError(t, c.status, c.code); strings.ContainsFunc(eb.Error.Message, func(r rune) bool { return r >= 0xAC00 && r <= 0xD7A3 }) {
					t.Errorf("English message %q has Hangul", eb.Error.Message)
				}
			})
		}
	}
}

// apiTutorDoc is GET /api/tutor.
type apiTutorDoc struct {
	Tutor    Tutor          `json:"tutor"`
	Channels []TutorChannel `json:"channels"`
}

func testAPITutorChannels(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPITutorEnv(t, newDB)
	var doc apiTutorDoc
	r := e.tutorReq(t, e.jiwooTok, "GET", "/api/tutor", "")
	if r.status != 200 {
		t.Fatalf("GET /api/tutor: %d %s", r.status, r.body)
	}
	r.decode(t, &doc)
	if doc.Tutor != e.jiwoo || len(doc.Channels) != 1 || doc.Channels[0].Slug != "kim-fish" || doc.Channels[0].LastBroadcastAt != nil {
		t.Fatalf("GET /api/tutor = %+v", doc)
	}

	bad := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"no slug", `{"name":"박씨네 쌀"}`, 400, "invalid", "slug"},
		{"bad slug", `{"slug":"Park_Rice","name":"박씨네 쌀"}`, 400, "invalid", "slug"},
		{"reserved slug", `{"slug":"tutor","name":"박씨네 쌀"}`, 400, "invalid", "slug"},
		{"no name", `{"slug":"park-rice"}`, 400, "invalid", "name"},
		{"empty name", `{"slug":"park-rice","name":" "}`, 400, "invalid", "name"},
		{"taken slug", `{"slug":"lee-veg","name":"박씨네 쌀"}`, 409, "exists", "slug"},
		{"unknown field", `{"slug":"park-rice","name":"쌀","pin":"123456"}`, 400, "invalid", "pin"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			eb := e.tutorReq(t, e.jiwooTok, "POST", "/api/tutor/channels", b.body).wantError(t, b.status, b.code)
			if eb.Error.Field != b.field {
				t.Errorf("field %q, want %q", eb.Error.Field, b.field)
			}
		})
	}

	r = e.tutorReq(t, e.jiwooTok, "POST", "/api/tutor/channels", `{"slug":"park-rice","name":" 박씨네 쌀 "}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/tutor/channels: %d %s", r.status, r.body)
	}
	var created struct {
		Slug, Name, PIN string
		ChannelURL      string `json:"channel_url"`
		StudioURL       string `json:"studio_url"`
		StudioToken     string `json:"studio_token"`
		StreamKey       string `json:"stream_key"`
	}
	r.decode(t, &created)
	if created.Slug != "park-rice" || created.Name != "박씨네 쌀" || created.ChannelURL != "/c/park-rice" ||
		created.StudioURL != "/studio?c=park-rice#t="+created.StudioToken || !validPIN(created.PIN) || created.StreamKey == "" {
		t.Fatalf("created = %+v", created)
	}
	if _, err := e.s.CheckStudioToken(t.Context(), "park-rice", created.StudioToken); err != nil {
		t.Errorf("studio token: %v", err)
	}
	if _, err := e.s.CheckStreamKey(t.Context(), "park-rice", created.StreamKey); err != nil {
		t.Errorf("stream key: %v", err)
	}
	if _, err := e.s.CheckPIN(t.Context(), "park-rice", created.PIN); err != nil {
		t.Errorf("PIN: %v", err)
	}
	e.tutorReq(t, e.jiwooTok, "GET", "/api/tutor", "").decode(t, &doc)
	if len(doc.Channels) != 2 || doc.Channels[1].Slug != "park-rice" || doc.Channels[1].Name != "박씨네 쌀" {
		t.Errorf("channels after create = %+v", doc.Channels)
	}
	e.tutorReq(t, e.minjiTok, "GET", "/api/tutor", "").decode(t, &doc)
	if doc.Tutor != e.minji || len(doc.Channels) != 1 || doc.Channels[0].Slug != "lee-veg" {
		t.Errorf("minji's = %+v", doc)
	}

	// A studio link for another phone: a new session, and the old ones
	// stay logged in.
	var links [2]struct {
		StudioURL   string `json:"studio_url"`
		StudioToken string `json:"studio_token"`
	}
	for i := range links {
		r := e.tutorReq(t, e.jiwooTok, "POST", "/api/tutor/channels/kim-fish/studio-link", "")
		if r.status != http.StatusCreated {
			t.Fatalf("studio-link: %d %s", r.status, r.body)
		}
		r.decode(t, &links[i])
		if links[i].StudioURL != "/studio?c=kim-fish#t="+links[i].StudioToken {
			t.Errorf("studio link %+v", links[i])
		}
	}
	if links[0].StudioToken == links[1].StudioToken {
		t.Errorf("two studio links share a token")
	}
	for _, tok := range []string{e.studio, links[0].StudioToken, links[1].StudioToken} {
		if r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders", auth: "Bearer " + tok}); r.status != 200 {
			t.Errorf("studio token %q on orders: %d %s", tok, r.status, r.body)
		}
	}

	// A PIN reset: the new PIN logs in, the old one does not.
	var pins [2]string
	for i := range pins {
		var out struct{ PIN string }
		r := e.tutorReq(t, e.jiwooTok, "POST", "/api/tutor/channels/park-rice/pin", "")
		if r.status != 200 {
			t.Fatalf("pin: %d %s", r.status, r.body)
		}
		r.decode(t, &out)
		pins[i] = out.PIN
	}
	for _, c := range []struct {
		pin    string
		status int
	}{{created.PIN, 401}, {pins[0], 401}, {pins[1], 200}} {
		if pins[0] == pins[1] && c.pin == pins[0] {
			continue // one in a million: both resets drew the same PIN
		}
		r := e.tutorReq(t, "", "POST", "/api/login", fmt.Sprintf(`{"channel":"park-rice","pin":%q}`, c.pin))
		if r.status != c.status {
			t.Errorf("login with %s: %d %s, want %d", c.pin, r.status, r.body, c.status)
		}
	}
}

// testAPITutorMerchant checks that a tutor may use the merchant routes of
// their own channels, and only theirs.
func testAPITutorMerchant(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPITutorEnv(t, newDB)
	p, err := e.s.CreateProduct(t.Context(), e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	starts := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	routes := []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/channels/kim-fish/products", `{"name":"갈치","price_won":12000,"stock":5}`, http.StatusCreated},
		{"PATCH", fmt.Sprintf("/api/channels/kim-fish/products/%d", p.ID), `{"stock":10}`, http.StatusOK},
		{"PATCH", "/api/channels/kim-fish", `{"market":"망원시장"}`, http.StatusOK},
		{"POST", "/api/channels/kim-fish/schedule", `{"title":"주말 특가","starts_at":"` + starts + `"}`, http.StatusCreated},
		{"GET", "/api/channels/kim-fish/orders", "", http.StatusOK},
		{"GET", "/api/channels/kim-fish/broadcasts", "", http.StatusOK},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			// Another tutor's token is refused like another channel's key,
			// and changes nothing: it goes first.
			e.tutorReq(t, e.minjiTok, rt.method, rt.path, rt.body).wantError(t, http.StatusUnauthorized, "unauthorized")
			if r := e.tutorReq(t, e.jiwooTok, rt.method, rt.path, rt.body); r.status != rt.want {
				t.Fatalf("tutor's own channel: %d %s, want %d", r.status, r.body, rt.want)
			}
		})
	}
	got, err := e.s.Product(t.Context(), e.ch.ID, p.ID)
	if err != nil || got.Stock != 10 {
		t.Errorf("product after tutor's patch = %+v, %v", got, err)
	}
	if ch, err := e.s.Channel(t.Context(), "kim-fish"); err != nil || ch.Market != "망원시장" {
		t.Errorf("channel after tutor's patch = %+v, %v", ch, err)
	}
	// Unlinked, the tutor loses the channel at once.
	if err := e.s.UnassignChannel(t.Context(), e.jiwoo.ID, "kim-fish"); err != nil {
		t.Fatal(err)
	}
	e.tutorReq(t, e.jiwooTok, "GET", "/api/channels/kim-fish/orders", "").wantError(t, http.StatusUnauthorized, "unauthorized")
	e.tutorReq(t, e.jiwooTok, "POST", "/api/tutor/channels/kim-fish/pin", "").wantError(t, http.StatusForbidden, "forbidden")
}

func testAPITutorBroadcasts(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPITutorEnv(t, newDB)
	ctx := t.Context()
	var ids []int64
	for i, practice := range []bool{true, false, true} {
		b, err := e.s.StartBroadcast(ctx, e.ch.ID, fmt.Sprintf("방송 %d", i), practice)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
		if i < 2 {
			if _, err := e.s.EndBroadcast(ctx, e.ch.ID, b.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.s.StartBroadcast(ctx, e.other.ID, "남의 방송", false); err != nil {
		t.Fatal(err)
	}
	r := e.tutorReq(t, e.jiwooTok, "GET", "/api/tutor/channels/kim-fish/broadcasts", "")
	if r.status != 200 {
		t.Fatalf("broadcasts: %d %s", r.status, r.body)
	}
	var got struct {
		Broadcasts []struct {
			ID       int64 `json:"id"`
			Practice bool  `json:"practice"`
			Live     bool  `json:"live"`
		} `json:"broadcasts"`
	}
	r.decode(t, &got)
	want := []struct {
		id             int64
		practice, live bool
	}{{ids[2], true, true}, {ids[1], false, false}, {ids[0], true, false}}
	if len(got.Broadcasts) != len(want) {
		t.Fatalf("broadcasts = %+v, want %d", got.Broadcasts, len(want))
	}
	for i, w := range want {
		if g := got.Broadcasts[i]; g.ID != w.id || g.Practice != w.practice || g.Live != w.live {
			t.Errorf("broadcast %d = %+v, want %+v", i, g, w)
		}
	}

	var doc apiTutorDoc
	e.tutorReq(t, e.jiwooTok, "GET", "/api/tutor", "").decode(t, &doc)
	if c := doc.Channels[0]; c.Broadcasts != 1 || c.PracticeBroadcasts != 2 || !c.Live || !c.LivePractice || c.LastBroadcastAt == nil {
		t.Errorf("channel summary = %+v", c)
	}
}
