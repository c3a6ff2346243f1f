package commerce

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAPIChannel(t *testing.T) {
	run := func(t *testing.T, newDB func(t *testing.T) storeOpener) {
		t.Run("profile", func(t *testing.T) { testAPIChannelProfile(t, newDB) })
		t.Run("photo", func(t *testing.T) { testAPIChannelPhoto(t, newDB) })
		t.Run("schedule", func(t *testing.T) { testAPISchedule(t, newDB) })
		t.Run("login", func(t *testing.T) { testAPILogin(t, newDB) })
	}
	t.Run("sqlite", func(t *testing.T) { run(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		run(t, newPostgresDB)
	})
}

// apiChannelDoc is GET /api/channels/{slug} as a client reads it.
type apiChannelDoc struct {
	Slug, Name, Market, Location, Hours, Description string
	PhotoURL                                         string `json:"photo_url"`
	ThumbURL                                         string `json:"thumb_url"`
	Live                                             bool
	Broadcast                                        *struct {
		ID    int64
		Title string
	}
	Schedule []ScheduledBroadcast
}

func (e *apiEnv) channelDoc(t *testing.T, slug string) apiChannelDoc {
	t.Helper()
	r := e.do(t, apiReq{method: "GET", path: "/api/channels/" + slug})
	if r.status != 200 {
		t.Fatalf("GET channel: %d %s", r.status, r.body)
	}
	var d apiChannelDoc
	r.decode(t, &d)
	return d
}

func testAPIChannelProfile(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	clock := newTestClock()
	e.s.now = clock.Now

	// Public, and not live at first.
	d := e.channelDoc(t, "kim-fish")
	if d.Slug != "kim-fish" || d.Name != "김씨네 생선가게" || d.Live || d.Broadcast != nil || d.PhotoURL != "" || d.Schedule == nil {
		t.Fatalf("new channel: %+v", d)
	}
	e.do(t, apiReq{method: "GET", path: "/api/channels/nobody-here"}).wantError(t, 404, "not_found")

	r := e.json(t, "PATCH", "/api/channels/kim-fish", map[string]any{
		"name": "김씨네", "market": "망원시장", "location": "정문에서 두 번째 골목", "hours": "9시-19시\n일요일 쉼", "description": "싱싱한 생선",
	})
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	want := apiChannelDoc{Slug: "kim-fish", Name: "김씨네", Market: "망원시장", Location: "정문에서 두 번째 골목", Hours: "9시-19시\n일요일 쉼", Description: "싱싱한 생선", Schedule: []ScheduledBroadcast{}}
	var got apiChannelDoc
	r.decode(t, &got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("patched %+v, want %+v", got, want)
	}

	// Nothing changes on a bad request, whatever else it holds.
	bad := []struct {
		name   string
		auth   string
		body   string
		status int
		code   string
		field  string
	}{
		{"no auth", "", `{"market":"통인시장"}`, 401, "unauthorized", ""},
		{"other channel's key", "Bearer " + e.otherKey, `{"market":"통인시장"}`, 401, "unauthorized", ""},
		{"empty name", "Bearer " + e.key, `{"market":"통인시장","name":" "}`, 400, "invalid", "name"},
		{"long name", "Bearer " + e.key, `{"name":"` + strings.Repeat("가", maxNameLen+1) + `"}`, 400, "invalid", "name"},
		{"long market", "Bearer " + e.key, `{"name":"새 이름","market":"` + strings.Repeat("시", maxMarketLen+1) + `"}`, 400, "invalid", "market"},
		{"long location", "Bearer " + e.key, `{"location":"` + strings.Repeat("a", maxLocationLen+1) + `"}`, 400, "invalid", "location"},
		{"long hours", "Bearer " + e.key, `{"hours":"` + strings.Repeat("a", maxHoursLen+1) + `"}`, 400, "invalid", "hours"},
		{"long description", "Bearer " + e.key, `{"description":"` + strings.Repeat("a", maxStallDescriptionLen+1) + `"}`, 400, "invalid", "description"},
		{"line break in location", "Bearer " + e.key, `{"market":"통인시장","location":"a\nb"}`, 400, "invalid", "location"},
		{"photo_url is not a field", "Bearer " + e.key, `{"market":"통인시장","photo_url":"/x.jpg"}`, 400, "invalid", "photo_url"},
		{"wrong type", "Bearer " + e.key, `{"market":3}`, 400, "invalid", "market"},
		{"not json", "Bearer " + e.key, `market=x`, 400, "bad_request", ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, apiReq{method: "PATCH", path: "/api/channels/kim-fish", auth: tt.auth, ctype: "application/json", body: []byte(tt.body),
				header: map[string]string{"Accept-Language": "en"}})
			eb := r.wantError(t, tt.status, tt.code)
			if eb.Error.Field != tt.field {
				t.Errorf("field %q, want %q", eb.Error.Field, tt.field)
			}
			if got := e.channelDoc(t, "kim-fish"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("changed to %+v", got)
			}
		})
	}
	// The messages are Korean by default.
	r = e.do(t, apiReq{method: "PATCH", path: "/api/channels/kim-fish", auth: "Bearer " + e.key, ctype: "application/json", body: []byte(`{"market":"` + strings.Repeat("시", 41) + `"}`)})
	if eb := r.wantError(t, 400, "invalid"); !strings.Contains(eb.Error.Message, "시장 이름은 40자까지") {
		t.Errorf("Korean message %q", eb.Error.Message)
	}

	// The studio token edits too; "" clears, absent keeps.
	r = e.do(t, apiReq{method: "PATCH", path: "/api/channels/kim-fish", auth: "Bearer " + e.studio, ctype: "application/json", body: []byte(`{"market":"","hours":null}`)})
	r.decode(t, &got)
	if r.status != 200 || got.Market != "" || got.Hours != want.Hours || got.Name != "김씨네" {
		t.Fatalf("clear market: %d %s", r.status, r.body)
	}

	// Live: the broadcast shows, a practice does not.
	b, err := e.s.StartBroadcast(t.Context(), e.ch.ID, "오늘의 생선", false)
	if err != nil {
		t.Fatal(err)
	}
	if d := e.channelDoc(t, "kim-fish"); !d.Live || d.Broadcast == nil || d.Broadcast.ID != b.ID || d.Broadcast.Title != "오늘의 생선" {
		t.Fatalf("live: %+v", d)
	}
	if _, err := e.s.StartBroadcast(t.Context(), e.other.ID, "연습", true); err != nil {
		t.Fatal(err)
	}
	if d := e.channelDoc(t, "lee-veg"); d.Live || d.Broadcast != nil {
		t.Fatalf("practice shown live: %+v", d)
	}
}

func testAPIChannelPhoto(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	path := "/api/channels/kim-fish/photo"

	r := e.do(t, apiReq{method: "PUT", path: path, auth: "Bearer " + e.key, ctype: "image/png", body: apiPNG(t, apiTestImage(2000, 1000))})
	if r.status != 200 {
		t.Fatalf("put photo: %d %s", r.status, r.body)
	}
	var d apiChannelDoc
	r.decode(t, &d)
	prefix := fmt.Sprintf("/photos/channels/%d/", e.ch.ID)
	if !strings.HasPrefix(d.PhotoURL, prefix) || !strings.HasPrefix(d.ThumbURL, prefix) || d.PhotoURL == d.ThumbURL {
		t.Fatalf("photo URLs %q %q", d.PhotoURL, d.ThumbURL)
	}
	for _, u := range []string{d.PhotoURL, d.ThumbURL} {
		if r := e.do(t, apiReq{method: "GET", path: u}); r.status != 200 || r.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("GET %s: %d", u, r.status)
		}
	}
	if got := e.channelDoc(t, "kim-fish"); got.PhotoURL != d.PhotoURL {
		t.Fatalf("public doc photo %q, want %q", got.PhotoURL, d.PhotoURL)
	}
	first := d

	// Refused: no auth, another channel's key, not an image. Nothing changes.
	e.do(t, apiReq{method: "PUT", path: path, ctype: "image/png", body: apiPNG(t, apiTestImage(10, 10))}).wantError(t, 401, "unauthorized")
	e.do(t, apiReq{method: "PUT", path: path, auth: "Bearer " + e.otherKey, ctype: "image/png", body: apiPNG(t, apiTestImage(10, 10))}).wantError(t, 401, "unauthorized")
	e.do(t, apiReq{method: "PUT", path: path, auth: "Bearer " + e.key, ctype: "image/png", body: []byte("not a png")}).wantError(t, 400, "not_image")
	e.do(t, apiReq{method: "DELETE", path: path, auth: "Bearer " + e.otherTok}).wantError(t, 401, "unauthorized")
	if got := e.channelDoc(t, "kim-fish"); got.PhotoURL != first.PhotoURL {
		t.Fatalf("photo changed to %q", got.PhotoURL)
	}

	// Replaced in a multipart form: the old files go.
	ct, body := apiForm(t, apiPNG(t, apiTestImage(300, 300)))
	r = e.do(t, apiReq{method: "PUT", path: path, auth: "Bearer " + e.studio, ctype: ct, body: body})
	if r.status != 200 {
		t.Fatalf("replace photo: %d %s", r.status, r.body)
	}
	r.decode(t, &d)
	if d.PhotoURL == first.PhotoURL {
		t.Fatal("photo not replaced")
	}
	photoFile := func(u string) string {
		return filepath.Join(e.dataDir, "photos", filepath.FromSlash(strings.TrimPrefix(u, "/photos/")))
	}
	for _, u := range []string{first.PhotoURL, first.ThumbURL} {
		if _, err := os.Stat(photoFile(u)); !os.IsNotExist(err) {
			t.Errorf("old photo %s left behind: %v", u, err)
		}
	}

	r = e.do(t, apiReq{method: "DELETE", path: path, auth: "Bearer " + e.key})
	var after apiChannelDoc
	r.decode(t, &after)
	if r.status != 200 || after.PhotoURL != "" || after.ThumbURL != "" {
		t.Fatalf("delete photo: %d %s", r.status, r.body)
	}
	if _, err := os.Stat(photoFile(d.PhotoURL)); !os.IsNotExist(err) {
		t.Errorf("deleted photo left behind: %v", err)
	}
}

func testAPISchedule(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	clock := newTestClock()
	e.s.now = clock.Now
	now := clock.Now()
	base := "/api/channels/kim-fish/schedule"
	at := func(d time.Duration) string { return now.Add(d).In(apiKST).Format(time.RFC3339) }

	bad := []struct {
		name  string
		auth  string
		body  map[string]any
		code  string
		field string
	}{
		{"past", e.key, map[string]any{"title": "x", "starts_at": at(-time.Minute)}, "invalid", "starts_at"},
		{"now", e.key, map[string]any{"starts_at": at(0)}, "invalid", "starts_at"},
		{"too far", e.key, map[string]any{"starts_at": at(MaxScheduleAhead + time.Minute)}, "invalid", "starts_at"},
		{"missing time", e.key, map[string]any{"title": "x"}, "invalid", "starts_at"},
		{"bad time", e.key, map[string]any{"starts_at": "내일 3시"}, "invalid", "starts_at"},
		{"long title", e.key, map[string]any{"title": strings.Repeat("가", maxTitleLen+1), "starts_at": at(time.Hour)}, "invalid", "title"},
		{"unknown field", e.key, map[string]any{"starts_at": at(time.Hour), "ends_at": at(2 * time.Hour)}, "invalid", "ends_at"},
		{"other channel's key", e.otherKey, map[string]any{"starts_at": at(time.Hour)}, "unauthorized", ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, apiReq{method: "POST", path: base, auth: "Bearer " + tt.auth, ctype: "application/json", body: apiJSONBody(t, tt.body)})
			status := 400
			if tt.code == "unauthorized" {
				status = 401
			}
			if eb := r.wantError(t, status, tt.code); eb.Error.Field != tt.field {
				t.Errorf("field %q, want %q", eb.Error.Field, tt.field)
			}
		})
	}

	post := func(title string, d time.Duration) ScheduledBroadcast {
		t.Helper()
		r := e.json(t, "POST", base, map[string]any{"title": title, "starts_at": at(d)})
		if r.status != 201 {
			t.Fatalf("schedule: %d %s", r.status, r.body)
		}
		var sb ScheduledBroadcast
		r.decode(t, &sb)
		if r.header.Get("Location") != fmt.Sprintf("%s/%d", base, sb.ID) {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		return sb
	}
	later := post("주말 특가", 72*time.Hour)
	soon := post("아침 생선", 30*time.Minute)
	if !soon.StartsAt.Equal(now.Add(30*time.Minute)) || soon.Title != "아침 생선" {
		t.Fatalf("scheduled %+v", soon)
	}
	for i := range 3 {
		post("", time.Duration(100+i)*time.Hour)
	}
	var list struct{ Schedule []ScheduledBroadcast }
	r := e.do(t, apiReq{method: "GET", path: base}) // public
	r.decode(t, &list)
	if r.status != 200 || len(list.Schedule) != 5 || list.Schedule[0].ID != soon.ID || list.Schedule[1].ID != later.ID {
		t.Fatalf("schedule: %d %s", r.status, r.body)
	}
	// The channel document carries the next few.
	if d := e.channelDoc(t, "kim-fish"); len(d.Schedule) != channelPageSchedule || d.Schedule[0].ID != soon.ID {
		t.Fatalf("channel doc schedule %+v", d.Schedule)
	}
	if r := e.do(t, apiReq{method: "GET", path: "/api/channels/lee-veg/schedule"}); r.status != 200 || !strings.Contains(string(r.body), `"schedule":[]`) {
		t.Fatalf("other schedule: %s", r.body)
	}

	// Past its start by more than two hours, it is no longer upcoming.
	clock.Advance(30*time.Minute + ScheduleGrace + time.Second)
	e.do(t, apiReq{method: "GET", path: base}).decode(t, &list)
	if len(list.Schedule) != 4 || list.Schedule[0].ID != later.ID {
		t.Fatalf("after the grace: %+v", list.Schedule)
	}

	// Deleting: the other channel cannot touch ours.
	del := func(auth, slug string, id int64) apiResp {
		return e.do(t, apiReq{method: "DELETE", path: fmt.Sprintf("/api/channels/%s/schedule/%d", slug, id), auth: "Bearer " + auth})
	}
	del(e.otherKey, "lee-veg", later.ID).wantError(t, 404, "not_found")
	del(e.otherKey, "kim-fish", later.ID).wantError(t, 401, "unauthorized")
	del(e.key, "kim-fish", 0).wantError(t, 404, "not_found")
	if r := del(e.studio, "kim-fish", later.ID); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	del(e.key, "kim-fish", later.ID).wantError(t, 404, "not_found")
	e.do(t, apiReq{method: "GET", path: base}).decode(t, &list)
	if len(list.Schedule) != 3 {
		t.Fatalf("after delete: %+v", list.Schedule)
	}

	// At most 20 upcoming.
	for i := len(list.Schedule); i < MaxUpcoming; i++ {
		post("", time.Duration(200+i)*time.Hour)
	}
	r = e.json(t, "POST", base, map[string]any{"starts_at": at(300 * time.Hour)})
	r.wantError(t, 400, "invalid")
	e.do(t, apiReq{method: "GET", path: base}).decode(t, &list)
	if len(list.Schedule) != MaxUpcoming {
		t.Fatalf("listed %d", len(list.Schedule))
	}
}

func apiJSONBody(t *testing.T, v map[string]any) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, val := range v {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", k, fmt.Sprint(val))
	}
	b.WriteString("}")
	return []byte(b.String())
}

func testAPILogin(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	e.api.logins.now = func() time.Time { return now }
	pin, err := e.s.ResetPIN(t.Context(), "kim-fish")
	if err != nil {
		t.Fatal(err)
	}
	otherPIN, err := e.s.ResetPIN(t.Context(), "lee-veg")
	if err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	if pin == wrong {
		wrong = "999999"
	}
	login := func(slug, pin string) apiResp {
		t.Helper()
		return e.do(t, apiReq{method: "POST", path: "/api/login", ctype: "application/json",
			body: []byte(fmt.Sprintf(`{"channel":%q,"pin":%q}`, slug, pin))})
	}
	okLogin := func(slug, pin string) string {
		t.Helper()
		r := login(slug, pin)
		var out struct {
			StudioToken string `json:"studio_token"`
			Channel     string
		}
		r.decode(t, &out)
		if r.status != 200 || out.StudioToken == "" || out.Channel != slug {
			t.Fatalf("login %s: %d %s", slug, r.status, r.body)
		}
		return out.StudioToken
	}

	// The token works as the studio token does, on its own channel.
	tok := okLogin("kim-fish", pin[:3]+" "+pin[3:])
	if r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders", auth: "Bearer " + tok}); r.status != 200 {
		t.Fatalf("orders with session token: %d %s", r.status, r.body)
	}
	e.do(t, apiReq{method: "GET", path: "/api/channels/lee-veg/orders", auth: "Bearer " + tok}).wantError(t, 401, "unauthorized")

	login("kim-fish", "12345").wantError(t, 400, "invalid")
	login("", pin).wantError(t, 400, "invalid")
	login("nobody-here", pin).wantError(t, 404, "not_found")

	// Five wrong PINs within 15 minutes lock the channel, the right PIN
	// included, until the first of them is 15 minutes old.
	for i := range pinMaxFails {
		r := login("kim-fish", wrong)
		if eb := r.wantError(t, 401, "wrong_pin"); eb.Error.Field != "pin" {
			t.Fatalf("attempt %d: %+v", i, eb)
		}
		now = now.Add(time.Minute)
	}
	r := login("kim-fish", pin)
	eb := r.wantError(t, http.StatusTooManyRequests, "too_many_attempts")
	if ra := r.header.Get("Retry-After"); ra != "600" {
		t.Errorf("Retry-After %q, want 600 (ten minutes left)", ra)
	}
	if !strings.Contains(eb.Error.Message, "10분") {
		t.Errorf("message %q", eb.Error.Message)
	}
	// Other channels are not locked.
	okLogin("lee-veg", otherPIN)

	now = now.Add(10*time.Minute - time.Second)
	login("kim-fish", pin).wantError(t, http.StatusTooManyRequests, "too_many_attempts")
	now = now.Add(time.Second)
	// The first wrong attempt left the window: one more try, which fails
	// and locks again.
	login("kim-fish", wrong).wantError(t, 401, "wrong_pin")
	login("kim-fish", pin).wantError(t, http.StatusTooManyRequests, "too_many_attempts")
	now = now.Add(time.Minute)
	okLogin("kim-fish", pin)
	// A success forgets the failures.
	for range pinMaxFails - 1 {
		login("kim-fish", wrong).wantError(t, 401, "wrong_pin")
	}
	okLogin("kim-fish", pin)

	// The limiter forgets channels whose window passed.
	now = now.Add(pinWindow)
	login("kim-fish", wrong).wantError(t, 401, "wrong_pin")
	if n := e.api.logins.size(); n != 1 {
		t.Errorf("limiter tracks %d channels, want 1", n)
	}
}

// TestPINLimiterConcurrent checks the limiter's invariant: attempts racing
// one another get at most pinMaxFails checks between them.
func TestPINLimiterConcurrent(t *testing.T) {
	l := newPINLimiter()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	const n = 50
	oks := make(chan bool, n)
	for range n {
		go func() {
			_, ok := l.begin("kim-fish")
			oks <- ok
		}()
	}
	allowed := 0
	for range n {
		if <-oks {
			allowed++
		}
	}
	if allowed != pinMaxFails {
		t.Fatalf("%d attempts went ahead, want %d", allowed, pinMaxFails)
	}
	wait, ok := l.begin("kim-fish")
	if ok || wait != pinWindow {
		t.Fatalf("begin = %v, %v; want refused for %v", wait, ok, pinWindow)
	}
	l.succeeded("kim-fish")
	if _, ok := l.begin("kim-fish"); !ok || l.size() != 1 {
		t.Fatalf("after success: ok %v, size %d", ok, l.size())
	}
}
