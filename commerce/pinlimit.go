package commerce

import (
	"sync"
	"time"
)

// Limits on PIN attempts. A PIN has a million values: five tries a quarter
// of an hour leave an attacker about one chance in 2,000 a month.
const (
	pinMaxFails = 5
	pinWindow   = 15 * time.Minute
)

// pinLimiter bounds the PIN attempts on each channel: after pinMaxFails
// wrong ones within pinWindow, further attempts are refused until the
// oldest of them is pinWindow old. It is owned by one API and safe for
// concurrent use.
type pinLimiter struct {
	now func() time.Time // time.Now; tests set it

	mu sync.Mutex // guards fails
	// fails holds, per channel slug, the times of the attempts within the
	// window that did not succeed, oldest first.
	//
	// Invariants: an attempt is counted here before its PIN is checked
	// (begin) and is forgotten only when a PIN was right (succeeded), so
	// attempts racing one another cannot get more than pinMaxFails checks
	// in a window between them. A slug is a key only while it has an
	// attempt within the window, and only slugs of existing channels are
	// added (the API checks first), so the map never outgrows the
	// channels.
	fails map[string][]time.Time
}

func newPINLimiter() *pinLimiter {
	return &pinLimiter{now: time.Now, fails: map[string][]time.Time{}}
}

// begin counts an attempt on slug and reports whether it may go ahead; if
// not, wait is how long until one may.
func (l *pinLimiter) begin(slug string) (wait time.Duration, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	f := l.fails[slug]
	if len(f) >= pinMaxFails {
		return f[len(f)-pinMaxFails].Add(pinWindow).Sub(now), false
	}
	l.fails[slug] = append(f, now)
	return 0, true
}

// succeeded forgets slug's attempts: the merchant knows the PIN.
func (l *pinLimiter) succeeded(slug string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, slug)
}

// sweepLocked drops the attempts older than the window, and the slugs
// left with none.
func (l *pinLimiter) sweepLocked(now time.Time) {
	for slug, f := range l.fails {
		i := 0
		for i < len(f) && !now.Before(f[i].Add(pinWindow)) {
			i++
		}
		switch {
		case i == len(f):
			delete(l.fails, slug)
		case i > 0:
			l.fails[slug] = f[i:]
		}
	}
}

// size returns the number of slugs tracked, for tests.
func (l *pinLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fails)
}
