package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// config is every setting of the binary, read once from flags with DANGOL_* environment
// fallbacks (a flag given on the command line wins).
type config struct {
	Addr          string
	PublicURL     string
	Data          string
	DatabaseURL   string
	MediaIP       string
	UDPPort       int
	TCPPort       int
	PublicIPs     []string
	ICEServers    []webrtc.ICEServer
	Loopback      bool
	Grace         time.Duration
	ConnectTimout time.Duration
	MaxViewers    int
	MaxPerChannel int
	MaxPublishers int
	LogLevel      string
	LogFormat     string
	WebDir        string
	DebugAddr     string
	// PracticeScripts is a folder of extra practice scripts and paces (JSON, as
	// practice/scripts), added to the built-in ones.
	PracticeScripts string
	// AdminToken opens the operator's admin page and API; "" turns them off.
	AdminToken string

	Record        bool
	RecordingsDir string
	S3            recordingsS3
}

// recordingsS3 is where recordings go when Endpoint is set, instead of RecordingsDir.
type recordingsS3 struct {
	Endpoint  string
	Bucket    string
	AccessKey string
	SecretKey string
	TLS       bool
}

// configFlags registers the flags on fs; the returned function finishes the config after
// fs.Parse (environment fallbacks, derived values, validation).
func configFlags(fs *flag.FlagSet, getenv func(string) (string, bool)) (*config, func() error) {
	c := &config{}
	// An empty variable counts as unset: `DANGOL_DATA=` must not put the database in the
	// working directory.
	lookup := getenv
	getenv = func(k string) (string, bool) {
		v, ok := lookup(k)
		return v, ok && v != ""
	}
	var publicIPs, turn string
	str := func(p *string, name, env, def, usage string) {
		if v, ok := getenv(env); ok {
			def = v
		}
		fs.StringVar(p, name, def, usage+" ($"+env+")")
	}
	// A bad variable is an error only if its flag is not given: the command line wins, so an
	// operator can override a broken environment without editing it first.
	envErrs := map[string]error{}
	num := func(p *int, name, env string, def int, usage string) {
		if v, ok := getenv(env); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				envErrs[name] = fmt.Errorf("$%s: %w", env, err)
			}
			def = n
		}
		fs.IntVar(p, name, def, usage+" ($"+env+")")
	}
	dur := func(p *time.Duration, name, env string, def time.Duration, usage string) {
		if v, ok := getenv(env); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs[name] = fmt.Errorf("$%s: %w", env, err)
			}
			def = d
		}
		fs.DurationVar(p, name, def, usage+" ($"+env+")")
	}
	boolean := func(p *bool, name, env string, def bool, usage string) {
		if v, ok := getenv(env); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				envErrs[name] = fmt.Errorf("$%s: %w", env, err)
			}
			def = b
		}
		fs.BoolVar(p, name, def, usage+" ($"+env+")")
	}
	str(&c.Addr, "addr", "DANGOL_ADDR", ":8080", "HTTP listen address")
	str(&c.PublicURL, "public-url", "DANGOL_PUBLIC_URL", "", "URL people reach the server at, for printed links (default http://localhost:<port>)")
	str(&c.Data, "data", "DANGOL_DATA", "./data", "data folder (SQLite database, recordings)")
	str(&c.DatabaseURL, "database-url", "DANGOL_DATABASE_URL", "", "PostgreSQL URL (postgres://user:pass@host/db); SQLite in the data folder when empty")
	str(&c.MediaIP, "media-ip", "DANGOL_MEDIA_IP", "", "IP address the media ports bind to (default: every interface)")
	num(&c.UDPPort, "udp-port", "DANGOL_UDP_PORT", 8189, "the one UDP port for all WebRTC media")
	num(&c.TCPPort, "tcp-port", "DANGOL_TCP_PORT", 8189, "ICE-TCP fallback port; -1 disables it")
	str(&publicIPs, "public-ip", "DANGOL_PUBLIC_IP", "", "public IP address(es), comma-separated, announced instead of local ones (NAT 1:1)")
	str(&turn, "turn", "DANGOL_TURN", "", "STUN/TURN servers handed to clients, comma-separated: stun:host:port, turn:user:pass@host:port?transport=udp")
	boolean(&c.Loopback, "loopback", "DANGOL_LOOPBACK", false, "offer 127.0.0.1 media candidates (same-machine clients, tests)")
	dur(&c.Grace, "grace", "DANGOL_GRACE", 30*time.Second, "how long a broadcast waits for its publisher to reconnect, also after a restart")
	dur(&c.ConnectTimout, "connect-timeout", "DANGOL_CONNECT_TIMEOUT", 20*time.Second, "how long a session may take to connect")
	num(&c.MaxViewers, "max-viewers", "DANGOL_MAX_VIEWERS", 1000, "viewers on the whole server; 0 no limit")
	num(&c.MaxPerChannel, "max-viewers-per-channel", "DANGOL_MAX_VIEWERS_PER_CHANNEL", 500, "viewers per channel; 0 no limit")
	num(&c.MaxPublishers, "max-publishers", "DANGOL_MAX_PUBLISHERS", 50, "live channels at once; 0 no limit")
	str(&c.LogLevel, "log-level", "DANGOL_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "DANGOL_LOG_FORMAT", "text", "text or json")
	str(&c.DebugAddr, "debug-addr", "DANGOL_DEBUG_ADDR", "", "serve Go profiling (/debug/pprof) on this address, e.g. 127.0.0.1:6060; off when empty")
	str(&c.WebDir, "web-dir", "DANGOL_WEB_DIR", "", "serve web assets from this folder instead of the embedded copy (development)")
	str(&c.PracticeScripts, "practice-scripts", "DANGOL_PRACTICE_SCRIPTS", "", "folder of extra practice scripts and paces (JSON) for simulated customers")
	str(&c.AdminToken, "admin-token", "DANGOL_ADMIN_TOKEN", "", "secret of the operator's admin page (/admin#k=<token>); empty turns it off")
	boolean(&c.Record, "record", "DANGOL_RECORD", true, "record every live broadcast")
	str(&c.RecordingsDir, "recordings-dir", "DANGOL_RECORDINGS_DIR", "", "folder for recordings when no S3 endpoint is set (default <data>/recordings)")
	str(&c.S3.Endpoint, "s3-endpoint", "DANGOL_S3_ENDPOINT", "", "S3/MinIO endpoint host:port; when set, recordings go to its bucket instead of the folder")
	str(&c.S3.Bucket, "s3-bucket", "DANGOL_S3_BUCKET", "dangol", "S3 bucket for recordings, created if missing")
	str(&c.S3.AccessKey, "s3-access-key", "DANGOL_S3_ACCESS_KEY", "", "S3 access key")
	str(&c.S3.SecretKey, "s3-secret-key", "DANGOL_S3_SECRET_KEY", "", "S3 secret key; prefer the environment variable, flags show in the process list")
	boolean(&c.S3.TLS, "s3-tls", "DANGOL_S3_TLS", true, "reach the S3 endpoint over HTTPS; false for a local MinIO over plain HTTP")

	return c, func() error {
		fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
		var errs []error
		for _, name := range slices.Sorted(maps.Keys(envErrs)) {
			errs = append(errs, envErrs[name])
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, ip := range splitList(publicIPs) {
			if net.ParseIP(ip) == nil {
				return fmt.Errorf("--public-ip: %q is not an IP address", ip)
			}
			c.PublicIPs = append(c.PublicIPs, ip)
		}
		servers, err := parseICEServers(turn)
		if err != nil {
			return fmt.Errorf("--turn: %w", err)
		}
		c.ICEServers = servers
		if c.UDPPort < 0 || c.UDPPort > 65535 {
			return fmt.Errorf("--udp-port: %d out of range", c.UDPPort)
		}
		if c.TCPPort < -1 || c.TCPPort > 65535 {
			return fmt.Errorf("--tcp-port: %d out of range", c.TCPPort)
		}
		if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
			// Not echoed: the URL carries a password.
			return fmt.Errorf("--database-url: want a postgres:// or postgresql:// URL")
		}
		if c.RecordingsDir == "" {
			c.RecordingsDir = filepath.Join(c.Data, "recordings")
		}
		if c.S3.Endpoint != "" {
			if strings.Contains(c.S3.Endpoint, "://") {
				return fmt.Errorf("--s3-endpoint: %q: want host:port, no scheme (--s3-tls chooses HTTPS)", c.S3.Endpoint)
			}
			if c.S3.Bucket == "" {
				return fmt.Errorf("--s3-bucket: required with --s3-endpoint")
			}
		}
		if c.PublicURL == "" {
			_, port, err := net.SplitHostPort(c.Addr)
			if err != nil {
				return fmt.Errorf("--addr: %w", err)
			}
			c.PublicURL = "http://localhost:" + port
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url: %q is not an http(s) URL", c.PublicURL)
		}
		return nil
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseICEServers reads "stun:host:port" and "turn[s]:user:pass@host:port[?transport=...]"
// entries. Credentials ride in the entry because that is how operators copy them from their
// TURN provider; clients receive them as RFC 9725 Link attributes.
func parseICEServers(list string) ([]webrtc.ICEServer, error) {
	var out []webrtc.ICEServer
	for _, entry := range splitList(list) {
		scheme, rest, ok := strings.Cut(entry, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("%q: want scheme:host:port", entry)
		case scheme == "stun" || scheme == "stuns":
			out = append(out, webrtc.ICEServer{URLs: []string{entry}})
		case scheme == "turn" || scheme == "turns":
			s := webrtc.ICEServer{}
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				user, pass, ok := strings.Cut(rest[:at], ":")
				if !ok || user == "" {
					return nil, fmt.Errorf("%q: credentials must be user:password@", entry)
				}
				s.Username, s.Credential = user, pass
				rest = rest[at+1:]
			}
			s.URLs = []string{scheme + ":" + rest}
			out = append(out, s)
		default:
			return nil, fmt.Errorf("%q: scheme must be stun, stuns, turn or turns", entry)
		}
		hostport, _, _ := strings.Cut(strings.TrimPrefix(out[len(out)-1].URLs[0], scheme+":"), "?")
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
	}
	return out, nil
}
