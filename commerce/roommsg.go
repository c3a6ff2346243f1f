package commerce

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The room's events (server to client), one type per kind; docs/protocol.md
// describes each.
type (
	liveEvent struct {
		Live        bool  `json:"live"`
		BroadcastID int64 `json:"broadcast_id"`
		Practice    bool  `json:"practice"`
	}
	tipEvent struct {
		Tip PracticeNote `json:"tip"`
	}
	chatEvent struct {
		Message ChatMessage `json:"message"`
	}
	chatHiddenEvent struct {
		MessageID int64 `json:"message_id"`
	}
	pinnedEvent struct {
		Product *productJSON `json:"product"` // nil: unpinned
	}
	noticeEvent struct {
		Text string `json:"text"`
	}
	couponEvent struct {
		Coupon Coupon `json:"coupon"`
	}
	couponRemainingEvent struct {
		CouponID  int64 `json:"coupon_id"`
		Remaining int   `json:"remaining"`
	}
	couponClosedEvent struct {
		CouponID int64  `json:"coupon_id"`
		Reason   string `json:"reason"` // sold_out, expired, ended
	}
	likesEvent struct {
		Likes int64 `json:"likes"`
	}
	viewersEvent struct {
		Viewers int `json:"viewers"`
	}
	stockEvent struct {
		ProductID int64 `json:"product_id"`
		Stock     int   `json:"stock"`
	}
	orderEvent struct {
		Order Order `json:"order"`
	}
	viewerMutedEvent struct {
		ViewerID   int64      `json:"viewer_id"`
		MutedUntil *time.Time `json:"muted_until"` // nil: unmuted
	}
)

// roomState is the room as the hello reply shows it.
type roomState struct {
	Live        bool          `json:"live"`
	BroadcastID int64         `json:"broadcast_id"` // 0 when not live
	Practice    bool          `json:"practice"`     // the live broadcast is a practice
	Pinned      *productJSON  `json:"pinned"`
	Coupons     []Coupon      `json:"coupons"` // open, with remaining counts
	Viewers     int           `json:"viewers"`
	Likes       int64         `json:"likes"`
	Notice      string        `json:"notice"`
	Chat        []ChatMessage `json:"chat"` // the last 50, oldest first
}

// roomProduct is a product as the room shows it: as the API does, with its
// photo's URLs, so that a page needs no second request to show the card.
func roomProduct(p *Product) *productJSON {
	if p == nil {
		return nil
	}
	pj := toProductJSON(*p)
	return &pj
}

// roomEvent returns the JSON of an event: body's fields with "type".
func roomEvent(typ string, body any) []byte {
	return withFields(`{"type":`+quote(typ), body)
}

// withFields appends body's JSON object fields to head, an unterminated
// JSON object, and closes it.
func withFields(head string, body any) []byte {
	b, err := json.Marshal(body)
	if err != nil || len(b) < 2 || b[0] != '{' {
		panic(fmt.Sprintf("room message %T does not encode as an object: %v", body, err))
	}
	out := make([]byte, 0, len(head)+len(b)+1)
	out = append(out, head...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	return append(out, b[1:]...)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// okReply returns the JSON of a successful reply to command id (raw JSON:
// a string, a number, or null) with result's fields.
func okReply(id json.RawMessage, result any) []byte {
	return withFields(`{"type":"reply","id":`+rawID(id)+`,"ok":true`, result)
}

func rawID(id json.RawMessage) string {
	if len(id) == 0 {
		return "null"
	}
	return string(id)
}

// replyError is the error of a failed reply. Field names the bad input
// field for "invalid"; Until is the end of a mute for "muted".
type replyError struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Field   string     `json:"field,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
}

func errReply(id json.RawMessage, e replyError) []byte {
	b, _ := json.Marshal(struct {
		Error replyError `json:"error"`
	}{e})
	return withFields(`{"type":"reply","id":`+rawID(id)+`,"ok":false`, json.RawMessage(b))
}

// Codes of the room's own errors, beside those of the Store's sentinels
// (see Error). They are stable: clients branch on them.
const (
	codeBadJSON       = "bad_json"
	codeUnknownType   = "unknown_type"
	codeInvalid       = "invalid"
	codeHelloRequired = "hello_required"
	codeForbidden     = "forbidden"
	codeRateLimited   = "rate_limited"
	codeBannedWord    = "banned_word"
	codeMuted         = "muted"
)

// roomTexts are the user-facing messages of the error codes, Korean and
// English. %s, if any, takes the detail (a field, a type, a time).
var roomTexts = map[string][2]string{
	codeBadJSON:       {"메시지를 읽을 수 없습니다 (JSON 형식 오류).", "The message could not be read (malformed JSON)."},
	codeUnknownType:   {"알 수 없는 요청입니다: %s", "Unknown message type: %s"},
	codeInvalid:       {"입력값이 올바르지 않습니다: %s", "Invalid input: %s"},
	codeHelloRequired: {"먼저 hello를 보내 주세요.", "Send hello first."},
	codeForbidden:     {"사장님만 할 수 있는 일입니다.", "Only the merchant can do that."},
	codeRateLimited:   {"채팅을 너무 빨리 보내고 있어요. 잠시 후 다시 보내 주세요.", "You are sending messages too fast. Please wait a moment."},
	codeBannedWord:    {"사용할 수 없는 말이 들어 있어요.", "The message contains a word that is not allowed."},
	codeMuted:         {"%s까지 채팅이 금지되었습니다.", "You are muted until %s."},
	"banned":          {"이 방송에서 차단되었습니다.", "You are banned from this broadcast."},
	"not_live":        {"지금은 방송 중이 아닙니다.", "The broadcast is not live."},
	"not_found":       {"찾을 수 없습니다.", "Not found."},
	"unauthorized":    {"인증에 실패했습니다.", "Not authorised."},
	"practice":        {"연습 중인 방송입니다. 초대 링크가 있어야 볼 수 있어요.", "This is a private practice session: it needs its invitation link."},
	"exists":          {"이미 있습니다.", "Already exists."},
	"sold_out":        {"쿠폰이 모두 소진되었습니다.", "The coupon is sold out."},
	"already_claimed": {"이미 받은 쿠폰입니다.", "You already have this coupon."},
	"expired":         {"쿠폰 시간이 지났습니다.", "The coupon has expired."},
	"closed":          {"마감된 쿠폰입니다.", "The coupon is closed."},
	"out_of_stock":    {"재고가 부족합니다.", "Not enough in stock."},
	"coupon_not_claimed": {
		"받지 않은 쿠폰입니다.", "You have not claimed this coupon."},
	"coupon_used":    {"이미 사용한 쿠폰입니다.", "This coupon was already used."},
	"bad_transition": {"주문 상태를 그렇게 바꿀 수 없습니다.", "The order status cannot change that way."},
	CodeInternal:     {"서버 오류입니다. 잠시 후 다시 시도해 주세요.", "Server error. Please try again."},
}

// roomText returns the message of code in lang ("ko" or "en").
func roomText(lang, code, detail string) string {
	t, ok := roomTexts[code]
	if !ok {
		t = roomTexts[CodeInternal]
	}
	s := t[0]
	if lang == "en" {
		s = t[1]
	}
	if strings.Contains(s, "%s") {
		return fmt.Sprintf(s, detail)
	}
	return s
}

// fieldError is a bad or missing field of a command.
type fieldError struct{ field, why string }

func (e *fieldError) Error() string { return e.field + ": " + e.why }

func badField(field, why string) error { return &fieldError{field, why} }

// mutedError carries the end of a mute.
type mutedError struct{ until time.Time }

func (e *mutedError) Error() string { return "muted until " + e.until.Format(time.RFC3339) }

// roomError is a refusal with one of the room's own codes.
type roomError struct{ code, detail string }

func (e *roomError) Error() string { return e.code }

// toReplyError turns a command's error into the reply's error, in lang.
func toReplyError(lang string, err error) replyError {
	var (
		fe *fieldError
		me *mutedError
		re *roomError
	)
	switch {
	case errors.As(err, &fe):
		return replyError{Code: codeInvalid, Message: roomText(lang, codeInvalid, fe.field+" ("+fe.why+")"), Field: fe.field}
	case errors.As(err, &me):
		until := me.until.UTC()
		return replyError{Code: codeMuted, Message: roomText(lang, codeMuted, until.Format("2006-01-02 15:04 UTC")), Until: &until}
	case errors.As(err, &re):
		return replyError{Code: re.code, Message: roomText(lang, re.code, re.detail)}
	}
	code := Code(err)
	if code == codeInvalid {
		// The Store's message says what is wrong, in English.
		msg := err.Error()
		if i := strings.LastIndex(msg, "invalid: "); i >= 0 {
			msg = msg[i+len("invalid: "):]
		}
		return replyError{Code: code, Message: roomText(lang, code, msg)}
	}
	return replyError{Code: code, Message: roomText(lang, code, "")}
}
