package commerce

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ReplayInfo is what API.Replays tells of the recording of a broadcast.
type ReplayInfo struct {
	URL       string    // URL path of the playable file
	HLSURL    string    // URL path of its HLS playlist, for an MP4 recording; "" otherwise
	DurationS float64   // of what is recorded so far, in seconds
	StartedAt time.Time // wall-clock time of the recording's first frame: offset 0; zero if unknown
}

// ReplayChatLimit is how many chat messages the replay document carries at
// most: the last ones. A page that needs more must page through them some
// other way; 2000 lines are hours of a busy stall's chat.
const ReplayChatLimit = 2000

// ReplayProduct is a product pinned in a broadcast, as it is now. Deleted
// says the merchant has deleted it since: it can no longer be ordered.
type ReplayProduct struct {
	Product
	Deleted bool
}

// ProductSales is what one product sold in a broadcast: RevenueWon is the
// sum of its lines at the prices sold, before coupon discounts (those are
// per order).
type ProductSales struct {
	ProductID  int64  `json:"product_id"`
	Name       string `json:"name"`
	Qty        int64  `json:"qty"`
	RevenueWon int64  `json:"revenue_won"`
}

// CouponUse is how a coupon of a broadcast went: Claimed claims of its
// Quantity, Used of them paying for an order that is not cancelled or
// rejected (a cancelled order gives its claim back).
type CouponUse struct {
	ID       int64  `json:"id"`
	Title    string `json:"title"`
	Quantity int    `json:"quantity"`
	Claimed  int    `json:"claimed"`
	Used     int    `json:"used"`
}

// BroadcastSales sums up a broadcast's orders, leaving out those cancelled
// or rejected. RevenueWon is after coupon discounts, as the orders' totals.
type BroadcastSales struct {
	Products   []ProductSales `json:"products"`
	Orders     int64          `json:"orders"`
	RevenueWon int64          `json:"revenue_won"`
	Coupons    []CouponUse    `json:"coupons"`
}

// ReplayProducts returns the products pinned in a broadcast of the
// channel, by id, deleted ones included: the replay shows them all the
// same.
func (s *Store) ReplayProducts(ctx context.Context, channelID, broadcastID int64) (map[int64]ReplayProduct, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+productColumns+`, deleted_at IS NOT NULL
FROM products WHERE channel_id = ? AND id IN (SELECT product_id FROM broadcast_pins WHERE broadcast_id = ?)`),
		channelID, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("replay products: %w", err)
	}
	defer rows.Close()
	ps := map[int64]ReplayProduct{}
	for rows.Next() {
		var p ReplayProduct
		if p.Product, err = scanProduct(scanAlso{rows, []any{&p.Deleted}}); err != nil {
			return nil, fmt.Errorf("replay products: %w", err)
		}
		ps[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay products: %w", err)
	}
	return ps, nil
}

// scanAlso scans the columns after those sc's caller scans into extra,
// so that scanProduct reads a row with more columns.
type scanAlso struct {
	sc    interface{ Scan(...any) error }
	extra []any
}

func (s scanAlso) Scan(dest ...any) error { return s.sc.Scan(append(dest, s.extra...)...) }

// ReplayChat returns the last limit (ReplayChatLimit if not positive, at
// most that) messages of a broadcast that are not hidden, oldest first.
func (s *Store) ReplayChat(ctx context.Context, broadcastID int64, limit int) ([]ChatMessage, error) {
	if limit <= 0 || limit > ReplayChatLimit {
		limit = ReplayChatLimit
	}
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+chatColumns+` FROM chat_messages
WHERE broadcast_id = ? AND hidden = ? ORDER BY id DESC LIMIT ?`), broadcastID, false, limit)
	if err != nil {
		return nil, fmt.Errorf("replay chat: %w", err)
	}
	defer rows.Close()
	ms := []ChatMessage{}
	for rows.Next() {
		m, err := scanChat(rows)
		if err != nil {
			return nil, fmt.Errorf("replay chat: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay chat: %w", err)
	}
	slices.Reverse(ms)
	return ms, nil
}

// SalesTotal is how many orders a broadcast took and what they came to,
// counted as in BroadcastSales: orders placed live or from its replay,
// leaving out those cancelled or rejected, RevenueWon after coupon
// discounts.
type SalesTotal struct {
	Orders     int64
	RevenueWon int64
}

// SalesTotals returns the SalesTotal of each of the broadcasts, by id; a
// broadcast without orders (or an unknown id) has none in the map, which
// reads as the zero SalesTotal. It is one query however many broadcasts
// are asked for, so that a page of the broadcasts listing costs one round
// trip rather than one per broadcast; orders_broadcast serves it.
func (s *Store) SalesTotals(ctx context.Context, broadcastIDs []int64) (map[int64]SalesTotal, error) {
	totals := make(map[int64]SalesTotal, len(broadcastIDs))
	if len(broadcastIDs) == 0 {
		return totals, nil
	}
	args := make([]any, 0, len(broadcastIDs)+2)
	for _, id := range broadcastIDs {
		args = append(args, id)
	}
	args = append(args, StatusCancelled, StatusRejected, false)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(broadcastIDs)), ", ")
	// SUM of a BIGINT is a NUMERIC on PostgreSQL: cast it back.
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT broadcast_id, COUNT(*), CAST(COALESCE(SUM(total_won), 0) AS BIGINT)
FROM orders WHERE broadcast_id IN (`+marks+`) AND status NOT IN (?, ?) AND practice = ?
GROUP BY broadcast_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("sales totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			t  SalesTotal
		)
		if err := rows.Scan(&id, &t.Orders, &t.RevenueWon); err != nil {
			return nil, fmt.Errorf("sales totals: %w", err)
		}
		totals[id] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sales totals: %w", err)
	}
	return totals, nil
}

// Sales sums up the orders and coupons of a broadcast. Its three queries
// do not share one snapshot: an order placed while they run can show in
// one sum and not in another, which a replay page can live with.
func (s *Store) Sales(ctx context.Context, broadcastID int64) (BroadcastSales, error) {
	sales := BroadcastSales{Products: []ProductSales{}, Coupons: []CouponUse{}}
	// The same sums as the broadcasts listing's, so that the two never
	// disagree on what counts as a sale.
	totals, err := s.SalesTotals(ctx, []int64{broadcastID})
	if err != nil {
		return BroadcastSales{}, fmt.Errorf("broadcast sales: %w", err)
	}
	sales.Orders, sales.RevenueWon = totals[broadcastID].Orders, totals[broadcastID].RevenueWon

	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT i.product_id, p.name,
CAST(SUM(i.qty) AS BIGINT), CAST(SUM(i.qty * i.unit_price_won) AS BIGINT)
FROM order_items i JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id
WHERE o.broadcast_id = ? AND o.status NOT IN (?, ?) AND o.practice = ?
GROUP BY i.product_id, p.name ORDER BY 4 DESC, i.product_id`), broadcastID, StatusCancelled, StatusRejected, false)
	if err != nil {
		return BroadcastSales{}, fmt.Errorf("broadcast sales: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ps ProductSales
		if err := rows.Scan(&ps.ProductID, &ps.Name, &ps.Qty, &ps.RevenueWon); err != nil {
			return BroadcastSales{}, fmt.Errorf("broadcast sales: %w", err)
		}
		sales.Products = append(sales.Products, ps)
	}
	if err := rows.Err(); err != nil {
		return BroadcastSales{}, fmt.Errorf("broadcast sales: %w", err)
	}
	rows.Close()

	rows, err = s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT c.id, c.title, c.quantity, COUNT(cl.id), COUNT(cl.used_by_order)
FROM coupons c LEFT JOIN coupon_claims cl ON cl.coupon_id = c.id
WHERE c.broadcast_id = ? GROUP BY c.id, c.title, c.quantity ORDER BY c.id`), broadcastID)
	if err != nil {
		return BroadcastSales{}, fmt.Errorf("broadcast coupons: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c CouponUse
		if err := rows.Scan(&c.ID, &c.Title, &c.Quantity, &c.Claimed, &c.Used); err != nil {
			return BroadcastSales{}, fmt.Errorf("broadcast coupons: %w", err)
		}
		sales.Coupons = append(sales.Coupons, c)
	}
	if err := rows.Err(); err != nil {
		return BroadcastSales{}, fmt.Errorf("broadcast coupons: %w", err)
	}
	return sales, nil
}

// replayJSON is the replay document: GET /api/channels/{slug}/broadcasts/{id}/replay.
type replayJSON struct {
	Broadcast replayBroadcastJSON `json:"broadcast"`
	Chapters  []replayChapterJSON `json:"chapters"`
	Chat      []replayChatJSON    `json:"chat"`
	Summary   *replaySummaryJSON  `json:"summary,omitempty"` // the merchant's only
}

type replayBroadcastJSON struct {
	ID        int64      `json:"id"`
	Title     string     `json:"title"`
	Live      bool       `json:"live"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"` // null while live
	DurationS float64    `json:"duration_s"`
	ReplayURL string     `json:"replay_url,omitempty"` // absent without a recording
	HLSURL    string     `json:"replay_hls_url,omitempty"`
	// Set when the channel's retention deleted the recording.
	RecordingDeletedAt *time.Time `json:"recording_deleted_at,omitempty"`
}

type replayProductJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	PriceWon int64  `json:"price_won"`
	PhotoURL string `json:"photo_url,omitempty"`
	ThumbURL string `json:"thumb_url,omitempty"`
	Stock    int    `json:"stock"`
}

type replayChapterJSON struct {
	Product   replayProductJSON `json:"product"`
	OffsetS   float64           `json:"offset_s"`
	DurationS float64           `json:"duration_s"`
	Clip      *clipJSON         `json:"clip,omitempty"`
}

// clipJSON is a product clip as the API shows it.
type clipJSON struct {
	URL         string    `json:"url"`
	DurationS   float64   `json:"duration_s"`
	BroadcastID int64     `json:"broadcast_id"`
	PinnedAt    time.Time `json:"pinned_at"`
}

func toClipJSON(c Clip) *clipJSON {
	return &clipJSON{URL: c.URL, DurationS: float64(c.DurationMs) / 1000, BroadcastID: c.BroadcastID, PinnedAt: c.PinnedAt}
}

type replayChatJSON struct {
	ID       int64   `json:"id"`
	Nickname string  `json:"nickname"`
	Text     string  `json:"text"`
	OffsetS  float64 `json:"offset_s"`
}

type replaySummaryJSON struct {
	BroadcastSales
	Likes        int64               `json:"likes"`
	PeakViewers  int64               `json:"peak_viewers"`
	TotalViewers int64               `json:"total_viewers"`
	Viewers      []replayViewersJSON `json:"viewers"`
}

// replayViewersJSON is a sample of a broadcast's viewers, at its offset on
// the replay's timeline like everything else in the document (the store
// keeps it from the broadcast's start).
type replayViewersJSON struct {
	OffsetS     float64 `json:"offset_s"`
	Viewers     int     `json:"viewers"`
	PeakViewers int     `json:"peak_viewers"`
}

// replayOffset is t as seconds into a replay that starts at origin, to the
// millisecond; what happened before the replay starts is at 0.
func replayOffset(origin, t time.Time) float64 {
	return replaySeconds(max(t.Sub(origin), 0))
}

func replaySeconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

// replayChapters turns the pins of a broadcast into chapters: each pin of
// a product starts one, which lasts until the next pin or unpin, or until
// end (seconds into the replay). An unpin starts none; a product missing
// from products (not of this channel) neither.
func replayChapters(pins []Pin, products map[int64]ReplayProduct, clips map[int64]Clip, origin time.Time, end float64) []replayChapterJSON {
	chapters := []replayChapterJSON{}
	for i, pin := range pins {
		p, ok := products[pin.ProductID]
		if pin.ProductID == 0 || !ok {
			continue
		}
		off := replayOffset(origin, pin.PinnedAt)
		next := end
		if i+1 < len(pins) {
			next = replayOffset(origin, pins[i+1].PinnedAt)
		}
		pj := toProductJSON(p.Product)
		stock := p.Stock
		if p.Deleted {
			stock = 0 // it cannot be ordered any more
		}
		ch := replayChapterJSON{
			Product: replayProductJSON{ID: p.ID, Name: p.Name, PriceWon: p.PriceWon,
				PhotoURL: pj.PhotoURL, ThumbURL: pj.ThumbURL, Stock: stock},
			OffsetS:   off,
			DurationS: math.Round(max(next-off, 0)*1000) / 1000,
		}
		if c, ok := clips[pin.ID]; ok {
			ch.Clip = toClipJSON(c)
		}
		chapters = append(chapters, ch)
	}
	return chapters
}

// getReplay serves the replay document of a broadcast. It is public, like
// the products: the replay page shows the chapters and the chat to
// customers. The sales summary is the stall's business: it is there only
// for a request with the channel's stream key or studio token (a wrong one
// is 401, as everywhere). A live broadcast's document is what there is so
// far.
func (a *API) getReplay(w http.ResponseWriter, r *http.Request) {
	id, err := apiPathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	merchant := false
	if r.Header.Get("Authorization") != "" {
		if _, err := a.checkMerchant(r); err != nil {
			a.fail(w, r, err)
			return
		}
		merchant = true
	}
	doc, err := a.replay(r.Context(), r.PathValue("slug"), id, merchant)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, doc)
}

func (a *API) replay(ctx context.Context, slug string, id int64, merchant bool) (replayJSON, error) {
	ch, err := a.store.Channel(ctx, slug)
	if err != nil {
		return replayJSON{}, err
	}
	b, err := a.store.Broadcast(ctx, id)
	if err != nil {
		return replayJSON{}, err
	}
	if b.ChannelID != ch.ID {
		return replayJSON{}, fmt.Errorf("broadcast %d of another channel: %w", id, ErrNotFound)
	}
	if b.Practice && !merchant {
		// A rehearsal is the merchant's and the tutor's (see the practice
		// review), never a public replay.
		return replayJSON{}, fmt.Errorf("broadcast %d is a practice: %w", id, ErrNotFound)
	}

	doc := replayJSON{Broadcast: replayBroadcastJSON{ID: b.ID, Title: b.Title, Live: b.Live(), StartedAt: b.StartedAt}}
	// Without a recording, offsets are from the broadcast's start and it
	// lasts until it ended, or until now while live.
	origin, end := b.StartedAt, b.EndedAt
	if b.Live() {
		end = a.store.now().UTC()
	} else {
		doc.Broadcast.EndedAt = &b.EndedAt
	}
	doc.Broadcast.DurationS = replaySeconds(max(end.Sub(origin), 0))
	if !b.RecordingDeletedAt.IsZero() {
		// Objects the sweep missed, if any, must not bring the replay back.
		doc.Broadcast.RecordingDeletedAt = &b.RecordingDeletedAt
	} else if a.Replays != nil {
		if info, ok := a.Replays(ctx, ch.Slug, b.ID); ok {
			doc.Broadcast.ReplayURL, doc.Broadcast.HLSURL, doc.Broadcast.DurationS = info.URL, info.HLSURL, info.DurationS
			if !info.StartedAt.IsZero() {
				origin = info.StartedAt
			}
		}
	}

	pins, err := a.store.Pins(ctx, b.ID)
	if err != nil {
		return replayJSON{}, err
	}
	products, err := a.store.ReplayProducts(ctx, ch.ID, b.ID)
	if err != nil {
		return replayJSON{}, err
	}
	clips := map[int64]Clip{}
	if b.RecordingDeletedAt.IsZero() {
		if clips, err = a.store.BroadcastClips(ctx, b.ID); err != nil {
			return replayJSON{}, err
		}
	}
	doc.Chapters = replayChapters(pins, products, clips, origin, doc.Broadcast.DurationS)

	chat, err := a.store.ReplayChat(ctx, b.ID, ReplayChatLimit)
	if err != nil {
		return replayJSON{}, err
	}
	doc.Chat = make([]replayChatJSON, len(chat))
	for i, m := range chat {
		doc.Chat[i] = replayChatJSON{ID: m.ID, Nickname: m.Nickname, Text: m.Text, OffsetS: replayOffset(origin, m.CreatedAt)}
	}

	if !merchant {
		return doc, nil
	}
	sales, err := a.store.Sales(ctx, b.ID)
	if err != nil {
		return replayJSON{}, err
	}
	samples, err := a.store.ViewerSamples(ctx, b.ID)
	if err != nil {
		return replayJSON{}, err
	}
	viewers := make([]replayViewersJSON, len(samples))
	for i, smp := range samples {
		at := b.StartedAt.Add(time.Duration(smp.OffsetS) * time.Second)
		viewers[i] = replayViewersJSON{OffsetS: replayOffset(origin, at), Viewers: smp.Viewers, PeakViewers: smp.PeakViewers}
	}
	doc.Summary = &replaySummaryJSON{BroadcastSales: sales, Likes: b.Likes,
		PeakViewers: b.PeakViewers, TotalViewers: b.TotalViewers, Viewers: viewers}
	return doc, nil
}
