package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	maxSDP         = 1 << 20 // bytes of an SDP answer we accept
	maxMetrics     = 8 << 20 // bytes of /metrics we read
	minRetryAfter  = 100 * time.Millisecond
	maxRetryAfter  = 5 * time.Second
	httpTimeout    = 10 * time.Second
	deleteTimeout  = 5 * time.Second
	defaultBackoff = time.Second
)

// signaler speaks WHIP and WHEP to one server and never to any other host:
// it uses no proxy, follows redirects only on the same host and refuses
// Location headers elsewhere.
type signaler struct {
	base    *url.URL
	client  *http.Client
	retries int // bounded 503 retries per POST
	log     *slog.Logger
}

func newSignaler(base *url.URL, conns, retries int, log *slog.Logger) *signaler {
	tr := &http.Transport{
		Proxy:               nil, // never send anywhere but --server
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}
	base = base.JoinPath("/") // so endpoint paths start with a slash
	s := &signaler{base: base, retries: retries, log: log}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   httpTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !s.sameHost(req.URL) {
				return fmt.Errorf("redirect to %s: %w", req.URL.Host, errOtherHost)
			}
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	return s
}

func (s *signaler) sameHost(u *url.URL) bool {
	return u.Scheme == s.base.Scheme && strings.EqualFold(u.Host, s.base.Host)
}

func (s *signaler) endpoint(kind, channel string) *url.URL {
	return s.base.JoinPath(kind, url.PathEscape(channel))
}

// session is a WHIP or WHEP resource to DELETE at the end.
type session struct {
	url    *url.URL // nil when the server gave no Location
	bearer string
}

// postResult is a successful POST: the answer, the session and when the
// successful attempt was sent.
type postResult struct {
	answer  string
	session session
	sentAt  time.Time
	retries int
}

// post sends an SDP offer to {server}/{kind}/{channel}. A 503 is retried up
// to s.retries times after its Retry-After (clamped to a few seconds). The
// result's retries is set on failure too.
func (s *signaler) post(ctx context.Context, kind, channel, bearer, sdp string) (postResult, error) {
	u := s.endpoint(kind, channel)
	for attempt := 0; ; attempt++ {
		res, wait, err := s.postOnce(ctx, u, bearer, sdp)
		res.retries = attempt
		if err == nil {
			return res, nil
		}
		if wait == 0 || attempt >= s.retries {
			return res, err
		}
		s.log.Debug("server unavailable, retrying", "url", u.String(), "after", wait, "attempt", attempt+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return res, err
		}
	}
}

// postOnce returns a non-zero wait when the answer was 503.
func (s *signaler) postOnce(ctx context.Context, u *url.URL, bearer, sdp string) (postResult, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(sdp))
	if err != nil {
		return postResult{}, 0, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	sentAt := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return postResult{}, 0, fmt.Errorf("post %s: %w", u.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSDP))
	if err != nil {
		return postResult{}, 0, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		serr := &statusError{method: "POST " + u.Path, code: resp.StatusCode, body: snippet(body)}
		if resp.StatusCode == http.StatusServiceUnavailable {
			return postResult{}, retryAfter(resp.Header.Get("Retry-After"), time.Now()), serr
		}
		return postResult{}, 0, serr
	}
	res := postResult{answer: string(body), session: session{bearer: bearer}, sentAt: sentAt}
	loc := resp.Header.Get("Location")
	if loc == "" {
		s.log.Warn("answer without Location, session cannot be deleted", "url", u.String())
		return res, 0, nil
	}
	lu, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return postResult{}, 0, fmt.Errorf("parse Location %q: %w", loc, err)
	}
	if !s.sameHost(lu) {
		s.log.Warn("Location on another host, session will not be deleted", "location", lu.String(), "err", errOtherHost)
		return res, 0, nil
	}
	res.session.url = lu
	return res, 0, nil
}

// retryAfter parses a Retry-After header (seconds or HTTP date) into a wait
// clamped to [minRetryAfter, maxRetryAfter]; a missing header means 1 s.
func retryAfter(h string, now time.Time) time.Duration {
	d := defaultBackoff
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, minRetryAfter), maxRetryAfter)
}

// delete ends a session. It is bounded by deleteTimeout and works after ctx
// of the run is done, so sessions are cleaned up on Ctrl-C as well.
func (s *signaler) delete(sess session) error {
	if sess.url == nil {
		return errNoLocation
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, sess.url.String(), nil)
	if err != nil {
		return fmt.Errorf("new request: %w", err)
	}
	if sess.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+sess.bearer)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("delete %s: %w", sess.url.Path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSDP))
	if resp.StatusCode/100 != 2 {
		return &statusError{method: "DELETE " + sess.url.Path, code: resp.StatusCode}
	}
	return nil
}

// scrapeMetrics reads the named unlabelled samples from {server}/metrics
// (Prometheus text format). Missing names are absent from the map.
func (s *signaler) scrapeMetrics(ctx context.Context, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base.JoinPath("metrics").String(), nil)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{method: "GET /metrics", code: resp.StatusCode}
	}
	return parseMetrics(io.LimitReader(resp.Body, maxMetrics), names...)
}

func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	out := make(map[string]float64, len(names))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, n := range names {
			// A histogram's buckets are asked for by the _bucket name and kept under their
			// whole series name, le label included.
			if f[0] == n || (strings.HasSuffix(n, "_bucket") && strings.HasPrefix(f[0], n+"{")) {
				if v, err := strconv.ParseFloat(f[1], 64); err == nil {
					out[f[0]] = v
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
