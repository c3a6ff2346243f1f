package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// PracticeReview is the scored checklist of a practice session.
type PracticeReview struct {
	Checklist []CheckItem   `json:"checklist"`
	Score     *int          `json:"score"` // nil when the session never went live
	Stats     PracticeStats `json:"stats"`
}

// CheckItem is one item of a practice checklist: its status and what it
// was judged from (docs/api.md, GET /api/practice/{id}/review).
type CheckItem struct {
	Key        string   `json:"key"`
	Status     string   `json:"status"` // pass, fail, todo, na
	Seconds    *float64 `json:"seconds,omitempty"`
	LimitS     int      `json:"limit_s,omitempty"`
	Done       *int     `json:"done,omitempty"`
	Total      *int     `json:"total,omitempty"`
	Tick       bool     `json:"tick,omitempty"` // the tutor can tick it
	Kbps       *int     `json:"kbps,omitempty"`
	Reconnects *int     `json:"reconnects,omitempty"`
	FrozenS    *float64 `json:"frozen_s,omitempty"`
	DarkS      *float64 `json:"dark_s,omitempty"`
}

// PracticeStats counts what happened in a practice broadcast.
type PracticeStats struct {
	Viewers   int   `json:"viewers"`
	Chats     int   `json:"chats"` // the customers'
	Questions int   `json:"questions"`
	Claims    int   `json:"claims"`
	Orders    int   `json:"orders"` // not cancelled
	Likes     int64 `json:"likes"`
}

// The statuses of a checklist item.
const (
	checkPass = "pass"
	checkFail = "fail"
	checkTodo = "todo" // the tutor has not ticked it (or, before going live, not judged yet)
	checkNA   = "na"   // nothing to judge
)

// The limits of the checklist, and what the stream must reach.
const (
	greetLimit   = 30 * time.Second
	answerLimit  = 60 * time.Second
	minVideoKbps = 300
	maxFrozen    = 5 * time.Second
	maxDark      = 5 * time.Second
	passShareNum = 4 // questions and orders pass when at least 4 in 5
	passShareDen = 5 // were handled within the limit
)

// questionWords mark a customer's chat message as a question when it has
// no question mark: Korean customers often ask without one ("얼마예요",
// "내일 찾아가도 되나요"). Matched as substrings, so a word also catches
// its longer forms (얼마 → 얼마예요, 얼마에요); the list leans towards
// catching questions, since a message taken for a question the merchant
// did not need to answer costs less in a rehearsal than a question missed.
var questionWords = []string{
	"얼마", "언제", "어디", "어떻게", "몇", "신선",
	"있나요", "있어요?", "되나요", "돼요?", "하나요", "인가요", "건가요", "까요",
	"뭐예요", "뭐에요", "가능",
}

// isQuestion reports whether a customer's chat message asks something of
// the merchant.
func isQuestion(text string) bool {
	if strings.ContainsAny(text, "?？") {
		return true
	}
	for _, w := range questionWords {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// PracticeReview scores the session's broadcast: the checklist of
// docs/api.md, the score and the counts. A session that never went live
// has no score; its checklist says what will be judged (todo), or nothing
// (na) once cancelled.
//
// The merchant's words are the chat messages said from the studio
// (chat_messages.merchant). A notice has no time stored
// (broadcasts.notice holds only the current text), so notices count
// neither as a greeting nor as an answer.
func (s *Store) PracticeReview(ctx context.Context, p PracticeSession) (PracticeReview, error) {
	if p.BroadcastID == 0 {
		return waitingReview(p), nil
	}
	ev, st, err := s.practiceEvents(ctx, p)
	if err != nil {
		return PracticeReview{}, fmt.Errorf("practice review of session %d: %w", p.ID, err)
	}
	items := scoreChecklist(ev)
	return PracticeReview{Checklist: items, Score: reviewScore(items), Stats: st}, nil
}

// waitingReview is the review of a session without a broadcast.
func waitingReview(p PracticeSession) PracticeReview {
	keys := []string{"greeted", "products_pinned", "price_stated", "coupon_dropped", "questions_answered", "orders_handled", "stream_quality"}
	status := checkTodo
	if p.State == PracticeCancelled || p.State == PracticeEnded {
		status = checkNA
	}
	items := make([]CheckItem, len(keys))
	for i, k := range keys {
		items[i] = CheckItem{Key: k, Status: status, Tick: slices.Contains(PracticeTicks, k)}
		if status == checkTodo && p.Ticks[k] {
			items[i].Status = checkPass
		}
	}
	return PracticeReview{Checklist: items}
}

// practiceEvents is what a practice broadcast's checklist is scored from.
type practiceEvents struct {
	start time.Time
	// live: the broadcast is on, so a missing greeting may still be
	// ticked, and what still waits within its limit at now is left out.
	live  bool
	now   time.Time
	ticks map[string]bool

	firstWord time.Time // the merchant's first chat message; zero if none
	questions []time.Time
	actions   []time.Time // the merchant's, sorted: chat, pins, coupons, order moves

	pinned, products int // distinct products pinned, of products to pin
	coupons          int
	orders           []orderTimes

	kbps       *int // nil: the video was not measured
	reconnects int
	frozen     time.Duration
	dark       time.Duration // as the studio measured it (video.dark)
}

// orderTimes are the times of one order that orders_handled looks at.
type orderTimes struct {
	placed    time.Time
	moved     time.Time // the merchant's first accept or reject; zero if none
	cancelled time.Time // the buyer's cancel; zero if none
}

// practiceEvents reads the broadcast's events: a query per kind.
func (s *Store) practiceEvents(ctx context.Context, p PracticeSession) (practiceEvents, PracticeStats, error) {
	ev := practiceEvents{ticks: p.Ticks, now: s.now().UTC()}
	var (
		st    PracticeStats
		ended sql.NullTime
		kbps  sql.NullInt64
		fr    int64
		dark  int64
	)
	// The products to pin are those on the stall when the broadcast began;
	// one added during it counts once pinned, so that pinning it is not
	// done beyond the total.
	err := s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT b.started_at, b.ended_at, b.likes, b.total_viewers,
b.video_kbps, b.reconnects, b.frozen_ms, b.dark_ms,
(SELECT COUNT(*) FROM products p WHERE p.channel_id = b.channel_id AND (
	(p.created_at <= b.started_at AND (p.deleted_at IS NULL OR p.deleted_at > b.started_at))
	OR p.id IN (SELECT bp.product_id FROM broadcast_pins bp WHERE bp.broadcast_id = b.id AND bp.product_id IS NOT NULL))),
(SELECT COUNT(*) FROM coupon_claims cc JOIN coupons c ON c.id = cc.coupon_id WHERE c.broadcast_id = b.id)
FROM broadcasts b WHERE b.id = ?`), p.BroadcastID).
		Scan(&ev.start, &ended, &st.Likes, &st.Viewers, &kbps, &ev.reconnects, &fr, &dark, &ev.products, &st.Claims)
	if errors.Is(err, sql.ErrNoRows) {
		return ev, st, fmt.Errorf("broadcast %d: %w", p.BroadcastID, ErrNotFound)
	}
	if err != nil {
		return ev, st, fmt.Errorf("broadcast %d: %w", p.BroadcastID, err)
	}
	ev.start, ev.live = ev.start.UTC(), !ended.Valid
	ev.frozen = time.Duration(fr) * time.Millisecond
	ev.dark = time.Duration(dark) * time.Millisecond
	if kbps.Valid {
		k := int(kbps.Int64)
		ev.kbps = &k
	}
	if err := s.reviewChat(ctx, p.BroadcastID, &ev, &st); err != nil {
		return ev, st, err
	}
	if err := s.reviewPins(ctx, p.BroadcastID, &ev); err != nil {
		return ev, st, err
	}
	if err := s.reviewCoupons(ctx, p.BroadcastID, &ev); err != nil {
		return ev, st, err
	}
	if err := s.reviewOrders(ctx, p.BroadcastID, &ev, &st); err != nil {
		return ev, st, err
	}
	slices.SortFunc(ev.actions, time.Time.Compare)
	return ev, st, nil
}

// reviewChat reads the broadcast's chat: the merchant's messages are
// actions, the customers' are counted and may be questions.
func (s *Store) reviewChat(ctx context.Context, broadcastID int64, ev *practiceEvents, st *PracticeStats) error {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT created_at, text, hidden, merchant
FROM chat_messages WHERE broadcast_id = ? ORDER BY id`), broadcastID)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			at       time.Time
			text     string
			hidden   bool
			merchant bool
		)
		if err := rows.Scan(&at, &text, &hidden, &merchant); err != nil {
			return fmt.Errorf("chat: %w", err)
		}
		at = at.UTC()
		if merchant {
			if ev.firstWord.IsZero() || at.Before(ev.firstWord) {
				ev.firstWord = at
			}
			ev.actions = append(ev.actions, at)
			continue
		}
		st.Chats++
		// A message the merchant hid (spam, abuse) is not owed an answer.
		if !hidden && isQuestion(text) {
			ev.questions = append(ev.questions, at)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	st.Questions = len(ev.questions)
	return nil
}

// reviewPins reads the broadcast's pins and unpins, all of them actions.
func (s *Store) reviewPins(ctx context.Context, broadcastID int64, ev *practiceEvents) error {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT product_id, pinned_at FROM broadcast_pins WHERE broadcast_id = ?`), broadcastID)
	if err != nil {
		return fmt.Errorf("pins: %w", err)
	}
	defer rows.Close()
	pinned := map[int64]bool{}
	for rows.Next() {
		var (
			product sql.NullInt64
			at      time.Time
		)
		if err := rows.Scan(&product, &at); err != nil {
			return fmt.Errorf("pins: %w", err)
		}
		ev.actions = append(ev.actions, at.UTC())
		if product.Valid {
			pinned[product.Int64] = true
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pins: %w", err)
	}
	ev.pinned = len(pinned)
	return nil
}

// reviewCoupons reads the broadcast's coupon drops.
func (s *Store) reviewCoupons(ctx context.Context, broadcastID int64, ev *practiceEvents) error {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT created_at FROM coupons WHERE broadcast_id = ?`), broadcastID)
	if err != nil {
		return fmt.Errorf("coupons: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			return fmt.Errorf("coupons: %w", err)
		}
		ev.actions = append(ev.actions, at.UTC())
		ev.coupons++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("coupons: %w", err)
	}
	return nil
}

// reviewOrders reads the broadcast's practice orders placed in the live
// room, with their status changes.
func (s *Store) reviewOrders(ctx context.Context, broadcastID int64, ev *practiceEvents, st *PracticeStats) error {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT o.id, o.created_at, o.status, h.from_status, h.to_status, h.actor, h.at
FROM orders o LEFT JOIN order_status_history h ON h.order_id = o.id
WHERE o.broadcast_id = ? AND o.practice = ? AND o.source = ?
ORDER BY o.id, h.id`), broadcastID, true, string(SourceLive))
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var (
			id             int64
			placed         time.Time
			status         string
			from, to, whom sql.NullString
			at             sql.NullTime
		)
		if err := rows.Scan(&id, &placed, &status, &from, &to, &whom, &at); err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		if id != last {
			last = id
			ev.orders = append(ev.orders, orderTimes{placed: placed.UTC()})
			if OrderStatus(status) != StatusCancelled {
				st.Orders++
			}
		}
		if !at.Valid || from.String == "" { // no history, or the placing
			continue
		}
		o := &ev.orders[len(ev.orders)-1]
		t := at.Time.UTC()
		switch {
		case whom.String == ActorMerchant:
			ev.actions = append(ev.actions, t)
			if o.moved.IsZero() && (OrderStatus(to.String) == StatusAccepted || OrderStatus(to.String) == StatusRejected) {
				o.moved = t
			}
		case OrderStatus(to.String) == StatusCancelled:
			o.cancelled = t
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	return nil
}

// scoreChecklist judges the items, in the order of docs/api.md.
func scoreChecklist(ev practiceEvents) []CheckItem {
	questions := make([]response, len(ev.questions))
	for i, q := range ev.questions {
		questions[i] = response{asked: q, answered: nextAction(ev.actions, q)}
	}
	return []CheckItem{
		greetedItem(ev.start, ev.firstWord, ev.ticks["greeted"], ev.live),
		pinnedItem(ev.pinned, ev.products),
		tickItem("price_stated", ev.ticks["price_stated"]),
		couponItem(ev.coupons),
		responseItem("questions_answered", questions, ev.live, ev.now),
		responseItem("orders_handled", orderResponses(ev.orders), ev.live, ev.now),
		qualityItem(ev.kbps, ev.reconnects, ev.frozen, ev.dark),
	}
}

// greetedItem passes on the merchant's first word within greetLimit of
// start, or the tutor's tick. The time of a late first word is given too:
// the tutor sees how late it came.
func greetedItem(start, firstWord time.Time, ticked, live bool) CheckItem {
	it := CheckItem{Key: "greeted", Status: checkFail, LimitS: int(greetLimit / time.Second), Tick: true}
	in := false
	if !firstWord.IsZero() {
		d := max(firstWord.Sub(start), 0)
		it.Seconds = reviewSecs(d)
		in = d <= greetLimit
	}
	switch {
	case in, ticked:
		it.Status = checkPass
	case live:
		it.Status = checkTodo // the tutor may still tick it
	}
	return it
}

// pinnedItem passes when every product to pin was pinned.
func pinnedItem(done, total int) CheckItem {
	it := CheckItem{Key: "products_pinned", Status: checkFail, Done: &done, Total: &total}
	switch {
	case total == 0:
		it.Status = checkNA
	case done >= total:
		it.Status = checkPass
	}
	return it
}

// tickItem is an item only the tutor judges.
func tickItem(key string, ticked bool) CheckItem {
	it := CheckItem{Key: key, Status: checkTodo, Tick: true}
	if ticked {
		it.Status = checkPass
	}
	return it
}

func couponItem(n int) CheckItem {
	it := CheckItem{Key: "coupon_dropped", Status: checkFail, Done: &n}
	if n >= 1 {
		it.Status = checkPass
	}
	return it
}

// response is something that waits for the merchant: a question, an order.
type response struct {
	asked    time.Time
	answered time.Time // zero: never
}

// nextAction returns the first of the sorted actions after t, or zero.
func nextAction(actions []time.Time, t time.Time) time.Time {
	i, _ := slices.BinarySearchFunc(actions, t, func(a, t time.Time) int {
		if a.After(t) {
			return 1
		}
		return -1
	})
	if i == len(actions) {
		return time.Time{}
	}
	return actions[i]
}

// orderResponses turns orders into what waits for the merchant. An order
// the buyer cancelled within answerLimit, before the merchant moved it,
// gave the merchant no fair chance and is left out; one cancelled later
// was kept waiting too long.
func orderResponses(orders []orderTimes) []response {
	rs := make([]response, 0, len(orders))
	for _, o := range orders {
		if o.moved.IsZero() && !o.cancelled.IsZero() && o.cancelled.Sub(o.placed) <= answerLimit {
			continue
		}
		rs = append(rs, response{asked: o.placed, answered: o.moved})
	}
	return rs
}

// responseItem scores what waited for the merchant: done are those
// answered within answerLimit, seconds the median time of all that were
// answered, however late. It passes when passShareNum in passShareDen were
// done. While live, what has waited less than answerLimit at now without
// an answer is left out: it may yet be answered in time.
func responseItem(key string, rs []response, live bool, now time.Time) CheckItem {
	var (
		total, done int
		waits       []time.Duration
	)
	for _, r := range rs {
		if r.answered.IsZero() {
			if live && now.Sub(r.asked) < answerLimit {
				continue
			}
			total++
			continue
		}
		total++
		d := max(r.answered.Sub(r.asked), 0)
		waits = append(waits, d)
		if d <= answerLimit {
			done++
		}
	}
	it := CheckItem{Key: key, Status: checkFail, LimitS: int(answerLimit / time.Second), Done: &done, Total: &total}
	if len(waits) > 0 {
		it.Seconds = reviewSecs(median(waits))
	}
	switch {
	case total == 0:
		it.Status = checkNA
	case done*passShareDen >= total*passShareNum:
		it.Status = checkPass
	}
	return it
}

// qualityItem judges the video as measured when the broadcast ended, with
// the time the studio found the picture too dark; kbps nil (not measured,
// or still live) has nothing to judge.
func qualityItem(kbps *int, reconnects int, frozen, dark time.Duration) CheckItem {
	it := CheckItem{Key: "stream_quality", Status: checkNA}
	if kbps == nil {
		return it
	}
	k, f, d := *kbps, frozen.Seconds(), dark.Seconds()
	it.Kbps, it.Reconnects, it.FrozenS, it.DarkS = &k, &reconnects, &f, &d
	it.Status = checkFail
	if k >= minVideoKbps && reconnects == 0 && frozen < maxFrozen && dark < maxDark {
		it.Status = checkPass
	}
	return it
}

// reviewScore is the share of passes among the items that are not na, in
// percent; nil when every item is na.
func reviewScore(items []CheckItem) *int {
	var pass, counted int
	for _, it := range items {
		switch it.Status {
		case checkNA:
			continue
		case checkPass:
			pass++
		}
		counted++
	}
	if counted == 0 {
		return nil
	}
	score := int(math.Round(100 * float64(pass) / float64(counted)))
	return &score
}

// median of ds, which it sorts; the mean of the middle two for an even
// count.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// reviewSecs rounds d to a tenth of a second: the review shows no finer.
func reviewSecs(d time.Duration) *float64 {
	s := math.Round(d.Seconds()*10) / 10
	return &s
}
