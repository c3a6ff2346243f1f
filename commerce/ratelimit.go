package commerce

import (
	"sync"
	"time"
)

// viewerLimits holds the chat and like allowances of one room's viewers by
// viewer id, so that a viewer's tabs and reconnects (a hello with its token
// resumes the same viewer) share one allowance instead of getting one each.
// The readers of the room's connections call it concurrently. It lives as
// long as its room; a viewer's entry goes once its buckets are full again.
type viewerLimits struct {
	fresh      viewerBuckets // a new viewer's buckets: full
	sweepEvery time.Duration // how often full entries are dropped

	// mu guards byViewer and nextSweep. A viewer with no entry has full
	// buckets, so dropping a full entry changes no answer.
	mu        sync.Mutex
	byViewer  map[int64]*viewerBuckets
	nextSweep time.Time
}

type viewerBuckets struct {
	chat, likes tokenBucket
}

// newViewerLimits returns the limits of o (with defaults applied).
func newViewerLimits(o RoomOptions) *viewerLimits {
	fresh := viewerBuckets{
		chat:  tokenBucket{burst: float64(o.ChatBurst), every: o.ChatEvery},
		likes: tokenBucket{burst: float64(o.LikesPerSecond), every: time.Second / time.Duration(o.LikesPerSecond)},
	}
	// Sweep as often as an emptied bucket takes to fill: an entry then
	// lives at most about twice that after its viewer's last use, and a
	// sweep (a pass over the room's recent talkers) runs seldom enough to
	// cost nothing beside the chat it limits.
	every := max(fresh.chat.refill(), fresh.likes.refill(), time.Second)
	return &viewerLimits{fresh: fresh, sweepEvery: every, byViewer: map[int64]*viewerBuckets{}}
}

// allowChat takes a chat message from the viewer's allowance, or reports
// false if it is spent.
func (l *viewerLimits) allowChat(viewerID int64, now time.Time) bool {
	return l.allow(viewerID, now, func(b *viewerBuckets) *tokenBucket { return &b.chat })
}

// allowLike takes a like from the viewer's allowance, or reports false if
// it is spent.
func (l *viewerLimits) allowLike(viewerID int64, now time.Time) bool {
	return l.allow(viewerID, now, func(b *viewerBuckets) *tokenBucket { return &b.likes })
}

func (l *viewerLimits) allow(viewerID int64, now time.Time, which func(*viewerBuckets) *tokenBucket) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.nextSweep) {
		l.sweepLocked(now)
	}
	b := l.byViewer[viewerID]
	if b == nil {
		b = new(viewerBuckets)
		*b = l.fresh
		l.byViewer[viewerID] = b
	}
	return which(b).allow(now)
}

// sweepLocked drops the entries whose buckets are full again, so that the
// map holds the recent talkers, not everyone who ever spoke in a long
// broadcast.
func (l *viewerLimits) sweepLocked(now time.Time) {
	for id, b := range l.byViewer {
		if b.chat.full(now) && b.likes.full(now) {
			delete(l.byViewer, id)
		}
	}
	l.nextSweep = now.Add(l.sweepEvery)
}

// size returns the number of viewers with an entry, for tests.
func (l *viewerLimits) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byViewer)
}

// tokenBucket allows burst events at once and one more per every.
type tokenBucket struct {
	burst  float64
	every  time.Duration
	tokens float64
	last   time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.every))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket is back to burst at now (an unused one
// is), so that forgetting it would change no answer.
func (b *tokenBucket) full(now time.Time) bool {
	return b.last.IsZero() || b.tokens+float64(now.Sub(b.last))/float64(b.every) >= b.burst
}

// refill is how long the bucket takes to fill from empty.
func (b *tokenBucket) refill() time.Duration {
	return time.Duration(b.burst * float64(b.every))
}
