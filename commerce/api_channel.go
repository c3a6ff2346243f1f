package commerce

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// channelJSON is a channel as its public page shows it.
type channelJSON struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Market      string `json:"market"`
	Location    string `json:"location"`
	Hours       string `json:"hours"`
	Description string `json:"description"`
	PhotoURL    string `json:"photo_url,omitempty"`
	ThumbURL    string `json:"thumb_url,omitempty"`
	Live        bool   `json:"live"`
	// Broadcast is the live broadcast, when Live.
	Broadcast *liveBroadcastJSON `json:"broadcast,omitempty"`
	// Schedule is the next few upcoming broadcasts, soonest first.
	Schedule []ScheduledBroadcast `json:"schedule"`
}

type liveBroadcastJSON struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	StartedAt time.Time `json:"started_at"`
}

// channelPageSchedule is how many upcoming broadcasts the channel document
// carries; the schedule endpoint has the rest.
const channelPageSchedule = 3

// channelView returns what GET /api/channels/{slug} answers for ch.
func (a *API) channelView(r *http.Request, ch Channel) (channelJSON, error) {
	out := channelJSON{Slug: ch.Slug, Name: ch.Name, Market: ch.Market, Location: ch.Location,
		Hours: ch.Hours, Description: ch.Description}
	if ch.PhotoKey != "" {
		out.PhotoURL = "/photos/" + ch.PhotoKey
		out.ThumbURL = "/photos/" + thumbPhotoKey(ch.PhotoKey)
	}
	b, err := a.store.LiveBroadcast(r.Context(), ch.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return channelJSON{}, err
	case !b.Practice: // a rehearsal is not for customers
		out.Live = true
		out.Broadcast = &liveBroadcastJSON{ID: b.ID, Title: b.Title, StartedAt: b.StartedAt}
	}
	if out.Schedule, err = a.store.UpcomingBroadcasts(r.Context(), ch.ID, channelPageSchedule); err != nil {
		return channelJSON{}, err
	}
	return out, nil
}

func (a *API) getChannel(w http.ResponseWriter, r *http.Request) {
	ch, err := a.store.Channel(r.Context(), r.PathValue("slug"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeChannel(w, r, ch, http.StatusOK)
}

func (a *API) writeChannel(w http.ResponseWriter, r *http.Request, ch Channel, status int) {
	out, err := a.channelView(r, ch)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, status, out)
}

// channelFields is the body of PATCH /api/channels/{slug}: nil (absent or
// null) fields stay as they are; "" clears an optional one.
type channelFields struct {
	Name        *string `json:"name"`
	Market      *string `json:"market"`
	Location    *string `json:"location"`
	Hours       *string `json:"hours"`
	Description *string `json:"description"`
}

// channelFieldLabels are the fields' names in Korean, for the messages,
// and each with the topic particle it takes (은 after a consonant, 는
// after a vowel).
var channelFieldLabels = map[string][2]string{
	"name":        {"가게 이름", "가게 이름은"},
	"market":      {"시장 이름", "시장 이름은"},
	"location":    {"가게 위치", "가게 위치는"},
	"hours":       {"영업시간", "영업시간은"},
	"description": {"가게 소개", "가게 소개는"},
}

// check validates the fields that are set as the Store will, so that the
// merchant is told in Korean and English which one is wrong.
func (f channelFields) check() error {
	fields := []struct {
		name      string
		v         *string
		max       int
		multiline bool
	}{
		{"name", f.Name, maxNameLen, false},
		{"market", f.Market, maxMarketLen, false},
		{"location", f.Location, maxLocationLen, false},
		{"hours", f.Hours, maxHoursLen, true},
		{"description", f.Description, maxStallDescriptionLen, true},
	}
	for _, fd := range fields {
		if fd.v == nil {
			continue
		}
		label := channelFieldLabels[fd.name]
		n := utf8.RuneCountInString(strings.TrimSpace(*fd.v))
		switch {
		case fd.name == "name" && n == 0:
			return apiInvalid(fd.name, "가게 이름을 입력해 주세요.", "name must not be empty.")
		case n > fd.max:
			return apiInvalid(fd.name, fmt.Sprintf("%s %d자까지 쓸 수 있습니다. (지금 %d자)", label[1], fd.max, n),
				fmt.Sprintf("%s must be at most %d characters, not %d.", fd.name, fd.max, n))
		}
		if _, err := cleanText(fd.name, *fd.v, fd.max, false, fd.multiline); err != nil {
			what := "쓸 수 없는 글자가 있습니다."
			if !fd.multiline {
				what = "쓸 수 없는 글자나 줄바꿈이 있습니다."
			}
			return apiInvalid(fd.name, label[0]+"에 "+what, apiInvalidDetail(err)+".")
		}
	}
	return nil
}

func (a *API) patchChannel(w http.ResponseWriter, r *http.Request, ch Channel) {
	var f channelFields
	if err := apiDecodeJSON(w, r, &f); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := f.check(); err != nil {
		a.fail(w, r, err)
		return
	}
	ch, err := a.store.UpdateChannel(r.Context(), ch.Slug, ChannelPatch(f))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeChannel(w, r, ch, http.StatusOK)
}

// putChannelPhoto replaces the stall photo, sent as putPhoto takes a
// product's.
func (a *API) putChannelPhoto(w http.ResponseWriter, r *http.Request, ch Channel) {
	data, err := a.readPhotoUpload(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	key, err := a.savePhoto(r.Context(), "channels", ch.ID, data)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ch, old, err := a.store.SetChannelPhoto(r.Context(), ch.Slug, key)
	if err != nil {
		a.deletePhotoFiles(key) // nothing refers to it
		a.fail(w, r, err)
		return
	}
	a.deletePhotoFiles(old)
	a.writeChannel(w, r, ch, http.StatusOK)
}

func (a *API) deleteChannelPhoto(w http.ResponseWriter, r *http.Request, ch Channel) {
	ch, old, err := a.store.SetChannelPhoto(r.Context(), ch.Slug, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.deletePhotoFiles(old)
	a.writeChannel(w, r, ch, http.StatusOK)
}

func (a *API) getSchedule(w http.ResponseWriter, r *http.Request) {
	ch, err := a.store.Channel(r.Context(), r.PathValue("slug"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sbs, err := a.store.UpcomingBroadcasts(r.Context(), ch.ID, MaxUpcoming)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"schedule": sbs})
}

// scheduleBody is the body of POST /api/channels/{slug}/schedule. The time
// is read as a string to tell a malformed one apart in the message.
type scheduleBody struct {
	Title    *string `json:"title"`
	StartsAt *string `json:"starts_at"`
}

var (
	errAPIStartsAt = apiInvalid("starts_at", "방송 시작 시각을 올바르게 입력해 주세요.",
		"starts_at must be a time like 2026-03-01T15:00:00+09:00 (RFC 3339).")
	errAPIStartsPast = apiInvalid("starts_at", "방송 시작 시각은 지금보다 뒤여야 합니다.",
		"starts_at must be in the future.")
	errAPIStartsFar = apiInvalid("starts_at", fmt.Sprintf("방송은 %d일 안으로만 예약할 수 있습니다.", MaxScheduleAhead/(24*time.Hour)),
		fmt.Sprintf("starts_at must be at most %d days ahead.", MaxScheduleAhead/(24*time.Hour)))
	errAPITooManyScheduled = apiInvalid("", fmt.Sprintf("예약은 한 번에 %d개까지 할 수 있습니다. 지난 예약을 지워 주세요.", MaxUpcoming),
		fmt.Sprintf("At most %d broadcasts can be scheduled at once; delete one first.", MaxUpcoming))
)

func (a *API) postSchedule(w http.ResponseWriter, r *http.Request, ch Channel) {
	var b scheduleBody
	if err := apiDecodeJSON(w, r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	title := ""
	if b.Title != nil {
		title = *b.Title
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(title)); n > maxTitleLen {
		a.fail(w, r, apiInvalid("title", fmt.Sprintf("방송 제목은 %d자까지 쓸 수 있습니다. (지금 %d자)", maxTitleLen, n),
			fmt.Sprintf("title must be at most %d characters, not %d.", maxTitleLen, n)))
		return
	}
	if _, err := cleanText("title", title, maxTitleLen, false, false); err != nil {
		a.fail(w, r, apiInvalid("title", "방송 제목에 쓸 수 없는 글자나 줄바꿈이 있습니다.", apiInvalidDetail(err)+"."))
		return
	}
	if b.StartsAt == nil {
		a.fail(w, r, apiInvalid("starts_at", "방송 시작 시각을 입력해 주세요.", "starts_at is required."))
		return
	}
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(*b.StartsAt))
	if err != nil {
		a.fail(w, r, errAPIStartsAt)
		return
	}
	// The Store's clock, which it checks again against.
	switch now := a.store.timestamp(); {
	case !at.After(now):
		a.fail(w, r, errAPIStartsPast)
		return
	case at.Sub(now) > MaxScheduleAhead:
		a.fail(w, r, errAPIStartsFar)
		return
	}
	sb, err := a.store.ScheduleBroadcast(r.Context(), ch.ID, title, at)
	if errors.Is(err, errTooManyScheduled) {
		err = errAPITooManyScheduled
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/channels/%s/schedule/%d", ch.Slug, sb.ID))
	apiWriteJSON(w, http.StatusCreated, sb)
}

func (a *API) deleteSchedule(w http.ResponseWriter, r *http.Request, ch Channel) {
	id, err := apiPathID(r)
	if err == nil {
		err = a.store.DeleteScheduledBroadcast(r.Context(), ch.ID, id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// loginBody is the body of POST /api/login.
type loginBody struct {
	Channel string `json:"channel"`
	PIN     string `json:"pin"`
}

var errAPIWrongPIN = &apiError{status: http.StatusUnauthorized, code: "wrong_pin", field: "pin",
	ko: "PIN 번호가 맞지 않습니다. 다시 확인해 주세요.", en: "Wrong PIN. Please check it and try again."}

// login opens a studio session with the channel's PIN: the way back into
// the studio for a merchant who lost the studio link. The studio token
// itself cannot be handed out (only its hash is kept), so each login gets
// a session token of its own, which the API, the room and WHIP accept as
// the studio token.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var b loginBody
	if err := apiDecodeJSON(w, r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	slug := strings.ToLower(strings.TrimSpace(b.Channel))
	if slug == "" {
		a.fail(w, r, apiInvalid("channel", "가게 주소(채널)를 입력해 주세요.", "channel is required."))
		return
	}
	// Spaces and dashes are how people group digits; they are not the PIN.
	pin := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, b.PIN)
	if !validPIN(pin) {
		a.fail(w, r, apiInvalid("pin", fmt.Sprintf("PIN은 숫자 %d자리입니다.", PINLen), fmt.Sprintf("pin must be %d digits.", PINLen)))
		return
	}
	// The channel must exist before it gets an entry in the limiter,
	// which keeps the limiter's size bounded by the channels.
	if _, err := a.store.Channel(r.Context(), slug); err != nil {
		a.fail(w, r, err)
		return
	}
	if wait, ok := a.logins.begin(slug); !ok {
		mins := int((wait + time.Minute - 1) / time.Minute)
		w.Header().Set("Retry-After", fmt.Sprint(int((wait+time.Second-1)/time.Second)))
		a.fail(w, r, &apiError{status: http.StatusTooManyRequests, code: "too_many_attempts", field: "pin",
			ko: fmt.Sprintf("PIN을 여러 번 틀려서 잠시 막혔습니다. %d분 뒤에 다시 해 주세요.", mins),
			en: fmt.Sprintf("Too many wrong PINs. Please try again in %d minutes.", mins)})
		return
	}
	ch, err := a.store.CheckPIN(r.Context(), slug, pin)
	if errors.Is(err, ErrBadKey) {
		a.log.Info("wrong pin", "channel", slug)
		a.fail(w, r, errAPIWrongPIN)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.logins.succeeded(slug)
	token, err := a.store.OpenStudioSession(r.Context(), ch.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("studio login with pin", "channel", slug)
	apiWriteJSON(w, http.StatusOK, map[string]string{"studio_token": token, "channel": ch.Slug, "name": ch.Name})
}
