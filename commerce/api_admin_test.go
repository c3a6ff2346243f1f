package commerce

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestAPIAdmin(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAPIAdmin(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		testAPIAdmin(t, newPostgresDB)
	})
}

func testAPIAdmin(t *testing.T, newDB func(t *testing.T) storeOpener) {
	t.Run("auth", func(t *testing.T) { testAPIAdminAuth(t, newDB) })
	t.Run("disabled", func(t *testing.T) { testAPIAdminDisabled(t, newDB) })
	t.Run("tutors", func(t *testing.T) { testAPIAdminTutors(t, newDB) })
	t.Run("links", func(t *testing.T) { testAPIAdminLinks(t, newDB) })
	t.Run("channels", func(t *testing.T) { testAPIAdminChannels(t, newDB) })
	t.Run("pin", func(t *testing.T) { testAPIAdminPIN(t, newDB) })
}

const apiAdminToken = "op-7QKXN2M4VJ6P3RZ5T8WY"

// apiAdminEnv is the apiTutorEnv's store (kim-fish with jiwoo-park,
// lee-veg with minji) served by an Admin: its requests (tutorReq, do) go to
// the Admin's routes.
type apiAdminEnv struct {
	*apiTutorEnv
	api *API   // the merchant API, whose PIN lockout the Admin clears
	pin string // kim-fish's PIN
}

func newAPIAdminEnv(t *testing.T, newDB func(t *testing.T) storeOpener, token string) *apiAdminEnv {
	t.Helper()
	e := newAPITutorEnv(t, newDB)
	pin, err := e.s.ResetPIN(t.Context(), "kim-fish")
	if err != nil {
		t.Fatal(err)
	}
	ad := NewAdmin(e.s, token, nil)
	ad.PINReset = e.api.ForgetPINAttempts
	mux := http.NewServeMux()
	ad.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	onAdmin := *e.apiEnv
	onAdmin.srv = srv
	te := *e
	te.apiEnv = &onAdmin
	return &apiAdminEnv{apiTutorEnv: &te, api: e.api, pin: pin}
}

// admin sends a request with the admin token.
func (e *apiAdminEnv) admin(t *testing.T, method, path, body string) apiResp {
	t.Helper()
	return e.tutorReq(t, apiAdminToken, method, path, body)
}

// state is everything the admin routes could change, to check that a
// refused request changed nothing.
func (e *apiAdminEnv) state(t *testing.T) string {
	t.Helper()
	ts, err := e.s.Tutors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	chs, err := e.s.AdminChannels(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, pinErr := e.s.CheckPIN(t.Context(), "kim-fish", e.pin)
	b, err := json.Marshal([]any{ts, chs, pinErr == nil})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// apiAdminRoutes are all the admin routes, each with a body it accepts.
var apiAdminRoutes = []struct{ method, path, body string }{
	{"GET", "/api/admin/tutors", ""},
	{"POST", "/api/admin/tutors", `{"name":"Hana Lee"}`},
	{"POST", "/api/admin/tutors/minji/channels/kim-fish", ""},
	{"DELETE", "/api/admin/tutors/minji/channels/lee-veg", ""},
	{"GET", "/api/admin/channels", ""},
	{"POST", "/api/admin/channels", `{"slug":"park-rice","name":"박씨네 쌀"}`},
	{"POST", "/api/admin/channels/kim-fish/pin", ""},
}

// apiAdminRefused is a request the admin routes refuse.
type apiAdminRefused struct {
	name, method, path, body string
	auth                     string // the Authorization header
	status                   int
	code, field              string
}

// run checks that each request is refused with its error, in Korean and
// in English, and changes nothing.
func (e *apiAdminEnv) runRefused(t *testing.T, cases []apiAdminRefused) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.state(t)
			for _, lang := range []string{"ko", "en"} {
				q := apiReq{method: c.method, path: c.path, auth: c.auth, header: map[string]string{"Accept-Language": lang}}
				if c.body != "" {
					q.ctype, q.body = "application/json", []byte(c.body)
				}
				eb := e.do(t, q).wantError(t, c.status, c.code)
				if eb.Error.Field != c.field {
					t.Errorf("field %q, want %q", eb.Error.Field, c.field)
				}
				if hangul := strings.ContainsFunc(eb.Error.Message, func(r rune) bool { return r >= 0xAC00 && r <= 0xD7A3 }); hangul != (lang == "ko") {
					t.Errorf("%s message %q", lang, eb.Error.Message)
				}
			}
			if after := e.state(t); after != before {
				t.Errorf("state changed:\n%s\n%s", before, after)
			}
		})
	}
}

func testAPIAdminAuth(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIAdminEnv(t, newDB, apiAdminToken)
	creds := []struct{ name, auth string }{
		{"none", ""},
		{"wrong token", "Bearer op-7QKXN2M4VJ6P3RZ5T8WZ"},
		{"prefix of the token", "Bearer " + apiAdminToken[:10]},
		{"not bearer", "Basic " + apiAdminToken},
		// A tutor's or a merchant's secret is not the operator's.
		{"tutor token", "Bearer " + e.jiwooTok},
		{"stream key", "Bearer " + e.key},
	}
	var cases []apiAdminRefused
	for _, rt := range apiAdminRoutes {
		for _, c := range creds {
			cases = append(cases, apiAdminRefused{name: rt.method + " " + rt.path + " " + c.name,
				method: rt.method, path: rt.path, body: rt.body, auth: c.auth, status: http.StatusUnauthorized, code: "unauthorized"})
		}
	}
	e.runRefused(t, cases)
	r := e.tutorReq(t, "", "GET", "/api/admin/tutors", "")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
}

func testAPIAdminDisabled(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIAdminEnv(t, newDB, "")
	var cases []apiAdminRefused
	for _, rt := range apiAdminRoutes {
		for _, auth := range []string{"", "Bearer ", "Bearer " + apiAdminToken} {
			cases = append(cases, apiAdminRefused{name: fmt.Sprintf("%s %s %q", rt.method, rt.path, auth),
				method: rt.method, path: rt.path, body: rt.body, auth: auth, status: http.StatusNotFound, code: "not_found"})
		}
	}
	e.runRefused(t, cases)
}

// apiAdminTutorsDoc is GET /api/admin/tutors.
type apiAdminTutorsDoc struct {
	Tutors []adminTutorJSON `json:"tutors"`
}

func (e *apiAdminEnv) tutors(t *testing.T) map[string][]string {
	t.Helper()
	r := e.admin(t, "GET", "/api/admin/tutors", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET tutors: %d %s", r.status, r.body)
	}
	var doc apiAdminTutorsDoc
	r.decode(t, &doc)
	out := map[string][]string{}
	for _, tu := range doc.Tutors {
		if tu.Channels == nil {
			t.Errorf("tutor %s: channels null", tu.Handle)
		}
		out[tu.Handle] = tu.Channels
	}
	return out
}

func testAPIAdminTutors(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIAdminEnv(t, newDB, apiAdminToken)
	auth := "Bearer " + apiAdminToken
	r := e.admin(t, "GET", "/api/admin/tutors", "")
	var doc apiAdminTutorsDoc
	r.decode(t, &doc)
	if len(doc.Tutors) != 2 || doc.Tutors[0].Tutor != e.jiwoo || doc.Tutors[1].Tutor != e.minji ||
		!slices.Equal(doc.Tutors[0].Channels, []string{"kim-fish"}) || !slices.Equal(doc.Tutors[1].Channels, []string{"lee-veg"}) {
		t.Fatalf("tutors = %+v", doc)
	}

	const p = "/api/admin/tutors"
	e.runRefused(t, []apiAdminRefused{
		{"no name", "POST", p, `{"handle":"hana"}`, auth, 400, "invalid", "name"},
		{"blank name", "POST", p, `{"name":"  ","handle":"hana"}`, auth, 400, "invalid", "name"},
		{"long name", "POST", p, `{"name":"` + strings.Repeat("가", 81) + `","handle":"hana"}`, auth, 400, "invalid", "name"},
		{"hangul name, no handle", "POST", p, `{"name":"박서연"}`, auth, 400, "invalid", "handle"},
		{"bad handle", "POST", p, `{"name":"Seoyeon","handle":"Seo Yeon"}`, auth, 400, "invalid", "handle"},
		{"digits handle", "POST", p, `{"name":"Seoyeon","handle":"123"}`, auth, 400, "invalid", "handle"},
		{"bad phone", "POST", p, `{"name":"Seoyeon","phone":"call me"}`, auth, 400, "invalid", "phone"},
		{"unknown field", "POST", p, `{"name":"Seoyeon","token":"x"}`, auth, 400, "invalid", "token"},
		{"not json", "POST", p, `{"name":`, auth, 400, "bad_request", ""},
		{"taken handle", "POST", p, `{"name":"김민지","handle":"minji"}`, auth, 409, "exists", "handle"},
		{"taken derived handle", "POST", p, `{"name":"Jiwoo Park"}`, auth, 409, "exists", "handle"},
	})
	e.runRefused(t, []apiAdminRefused{{"form", "POST", p, "", auth, 415, "unsupported_media_type", ""}})

	var created struct {
		Tutor    adminTutorJSON `json:"tutor"`
		LoginURL string         `json:"login_url"`
		Token    string         `json:"token"`
	}
	for _, c := range []struct{ body, handle, name, phone string }{
		{`{"name":" 박서연 ","handle":"seoyeon","phone":"010-3333-4444"}`, "seoyeon", "박서연", "010-3333-4444"},
		{`{"name":"Hana Lee","handle":"","phone":""}`, "hana-lee", "Hana Lee", ""},
	} {
		r := e.admin(t, "POST", p, c.body)
		if r.status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", c.body, r.status, r.body)
		}
		r.decode(t, &created)
		tu := created.Tutor
		if tu.Handle != c.handle || tu.Name != c.name || tu.Phone != c.phone || tu.ID == 0 || tu.Channels == nil || len(tu.Channels) != 0 ||
			created.LoginURL != "/tutor#t="+created.Token || created.Token == "" {
			t.Fatalf("created = %+v", created)
		}
		if got, err := e.s.CheckTutorToken(t.Context(), created.Token); err != nil || got.ID != tu.ID {
			t.Errorf("login token: %+v %v", got, err)
		}
	}
	if got := e.tutors(t); len(got) != 4 || len(got["seoyeon"]) != 0 || len(got["hana-lee"]) != 0 {
		t.Errorf("tutors after create = %v", got)
	}
}

func testAPIAdminLinks(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIAdminEnv(t, newDB, apiAdminToken)
	auth := "Bearer " + apiAdminToken
	link := func(tutor, slug string) string { return "/api/admin/tutors/" + tutor + "/channels/" + slug }
	e.runRefused(t, []apiAdminRefused{
		{"link unknown tutor", "POST", link("nobody", "kim-fish"), "", auth, 404, "not_found", "tutor"},
		{"link unknown tutor id", "POST", link("9999", "kim-fish"), "", auth, 404, "not_found", "tutor"},
		{"link unknown channel", "POST", link("minji", "nowhere"), "", auth, 404, "not_found", "slug"},
		{"link twice", "POST", link("minji", "lee-veg"), "", auth, 409, "exists", ""},
		{"unlink unknown tutor", "DELETE", link("nobody", "lee-veg"), "", auth, 404, "not_found", "tutor"},
		{"unlink not linked", "DELETE", link("minji", "kim-fish"), "", auth, 404, "not_found", "slug"},
		{"unlink unknown channel", "DELETE", link("minji", "nowhere"), "", auth, 404, "not_found", "slug"},
	})

	steps := []struct {
		method, path string
		want         []string // the tutor's channels after
		all          map[string][]string
	}{
		{"POST", link("minji", "kim-fish"), []string{"kim-fish", "lee-veg"},
			map[string][]string{"jiwoo-park": {"kim-fish"}, "minji": {"kim-fish", "lee-veg"}}},
		{"POST", link(fmt.Sprint(e.jiwoo.ID), "lee-veg"), []string{"kim-fish", "lee-veg"}, // by id, as the CLI
			map[string][]string{"jiwoo-park": {"kim-fish", "lee-veg"}, "minji": {"kim-fish", "lee-veg"}}},
		{"DELETE", link("minji", "lee-veg"), []string{"kim-fish"},
			map[string][]string{"jiwoo-park": {"kim-fish", "lee-veg"}, "minji": {"kim-fish"}}},
		{"DELETE", link("jiwoo-park", "kim-fish"), []string{"lee-veg"},
			map[string][]string{"jiwoo-park": {"lee-veg"}, "minji": {"kim-fish"}}},
	}
	for _, s := range steps {
		r := e.admin(t, s.method, s.path, "")
		if r.status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", s.method, s.path, r.status, r.body)
		}
		var got adminTutorJSON
		r.decode(t, &got)
		if !slices.Equal(got.Channels, s.want) {
			t.Errorf("%s %s: channels %v, want %v", s.method, s.path, got.Channels, s.want)
		}
		all := e.tutors(t)
		for h, want := range s.all {
			if !slices.Equal(all[h], want) {
				t.Errorf("after %s %s: %s has %v, want %v", s.method, s.path, h, all[h], want)
			}
		}
	}
}

// apiAdminChannelsDoc is GET /api/admin/channels.
type apiAdminChannelsDoc struct {
	Channels []AdminChannel `json:"channels"`
}

func testAPIAdminChannels(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIAdminEnv(t, newDB, apiAdminToken)
	auth := "Bearer " + apiAdminToken
	list := func() []AdminChannel {
		t.Helper()
		r := e.admin(t, "GET", "/api/admin/channels", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET channels: %d %s", r.status, r.body)
		}
		var doc apiAdminChannelsDoc
		r.decode(t, &doc)
		return doc.Channels
	}
	chs := list()
	if len(chs) != 2 || chs[0].Slug != "kim-fish" || chs[0].Name != "김씨네 생선가게" || chs[0].Live ||
		!slices.Equal(chs[0].Tutors, []string{"jiwoo-park"}) || chs[1].Slug != "lee-veg" || !slices.Equal(chs[1].Tutors, []string{"minji"}) {
		t.Fatalf("channels = %+v", chs)
	}
	if _, err := e.s.StartBroadcast(t.Context(), e.ch.ID, "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.StartBroadcast(t.Context(), e.other.ID, "", true); err != nil {
		t.Fatal(err)
	}
	if chs = list(); !chs[0].Live || chs[0].LivePractice || !chs[1].Live || !chs[1].LivePractice {
		t.Errorf("live channels = %+v", chs)
	}

	const p = "/api/admin/channels"
	e.runRefused(t, []apiAdminRefused{
		{"no slug", "POST", p, `{"name":"박씨네 쌀"}`, auth, 400, "invalid", "slug"},
		{"bad slug", "POST", p, `{"slug":"Park_Rice","name":"박씨네 쌀"}`, auth, 400, "invalid", "slug"},
		{"reserved slug", "POST", p, `{"slug":"admin","name":"박씨네 쌀"}`, auth, 400, "invalid", "slug"},
		{"no name", "POST", p, `{"slug":"park-rice"}`, auth, 400, "invalid", "name"},
		{"empty name", "POST", p, `{"slug":"park-rice","name":" "}`, auth, 400, "invalid", "name"},
		{"unknown field", "POST", p, `{"slug":"park-rice","name":"쌀","pin":"123456"}`, auth, 400, "invalid", "pin"},
		{"unknown tutor", "POST", p, `{"slug":"park-rice","name":"쌀","tutor":"nobody"}`, auth, 404, "not_found", "tutor"},
		{"taken slug", "POST", p, `{"slug":"lee-veg","name":"쌀"}`, auth, 409, "exists", "slug"},
		{"taken slug, for a tutor", "POST", p, `{"slug":"lee-veg","name":"쌀","tutor":"jiwoo-park"}`, auth, 409, "exists", "slug"},
	})

	for _, c := range []struct{ body, slug, tutor string }{
		{`{"slug":"park-rice","name":" 박씨네 쌀 "}`, "park-rice", ""},
		{`{"slug":"choi-tofu","name":"최씨네 두부","tutor":"minji"}`, "choi-tofu", "minji"},
		{fmt.Sprintf(`{"slug":"han-kimchi","name":"한씨네 김치","tutor":"%d"}`, e.jiwoo.ID), "han-kimchi", "jiwoo-park"},
	} {
		r := e.admin(t, "POST", p, c.body)
		if r.status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", c.body, r.status, r.body)
		}
		var got map[string]string
		r.decode(t, &got)
		if got["slug"] != c.slug || got["tutor"] != c.tutor || got["channel_url"] != "/c/"+c.slug ||
			got["studio_url"] != "/studio?c="+c.slug+"#t="+got["studio_token"] || !validPIN(got["pin"]) || got["stream_key"] == "" {
			t.Fatalf("created = %+v", got)
		}
		if _, err := e.s.CheckStudioToken(t.Context(), c.slug, got["studio_token"]); err != nil {
			t.Errorf("studio token: %v", err)
		}
		if _, err := e.s.CheckStreamKey(t.Context(), c.slug, got["stream_key"]); err != nil {
			t.Errorf("stream key: %v", err)
		}
		if _, err := e.s.CheckPIN(t.Context(), c.slug, got["pin"]); err != nil {
			t.Errorf("PIN: %v", err)
		}
	}
	chs = list()
	var slugs []string
	tutors := map[string][]string{}
	for _, c := range chs {
		slugs = append(slugs, c.Slug)
		tutors[c.Slug] = c.Tutors
	}
	if !slices.Equal(slugs, []string{"choi-tofu", "han-kimchi", "kim-fish", "lee-veg", "park-rice"}) ||
		len(tutors["park-rice"]) != 0 || tutors["park-rice"] == nil || !slices.Equal(tutors["choi-tofu"], []string{"minji"}) ||
		!slices.Equal(tutors["han-kimchi"], []string{"jiwoo-park"}) {
		t.Errorf("channels after create = %+v", chs)
	}
}

func testAPIAdminPIN(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIAdminEnv(t, newDB, apiAdminToken)
	e.runRefused(t, []apiAdminRefused{
		{"unknown channel", "POST", "/api/admin/channels/nowhere/pin", "", "Bearer " + apiAdminToken, 404, "not_found", "slug"},
	})
	// Locked out by wrong tries on the merchant API: the new PIN starts afresh.
	for {
		if _, ok := e.api.logins.begin("kim-fish"); !ok {
			break
		}
	}
	r := e.admin(t, "POST", "/api/admin/channels/kim-fish/pin", "")
	if r.status != http.StatusOK {
		t.Fatalf("reset pin: %d %s", r.status, r.body)
	}
	var got struct{ PIN string }
	r.decode(t, &got)
	if !validPIN(got.PIN) {
		t.Fatalf("pin %q", got.PIN)
	}
	if _, err := e.s.CheckPIN(t.Context(), "kim-fish", got.PIN); err != nil {
		t.Errorf("new PIN: %v", err)
	}
	if got.PIN != e.pin {
		if _, err := e.s.CheckPIN(t.Context(), "kim-fish", e.pin); err == nil {
			t.Error("the old PIN still works")
		}
	}
	if _, ok := e.api.logins.begin("kim-fish"); !ok {
		t.Error("still locked out after the reset")
	}
}
