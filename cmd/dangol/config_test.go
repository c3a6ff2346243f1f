package main

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// envMap is a getenv backed by a map, so tests never touch the process environment.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// loadConfig reads a config the way run does: flags anywhere, then finish.
func loadConfig(args []string, env map[string]string) (*config, error) {
	fs := flag.NewFlagSet("dangol", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, finish := configFlags(fs, envMap(env))
	if _, err := parseInterspersed(fs, args); err != nil {
		return nil, err
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestConfigPrecedence(t *testing.T) {
	addr := func(c *config) any { return c.Addr }
	data := func(c *config) any { return c.Data }
	udp := func(c *config) any { return c.UDPPort }
	tcp := func(c *config) any { return c.TCPPort }
	grace := func(c *config) any { return c.Grace }
	loopback := func(c *config) any { return c.Loopback }
	maxViewers := func(c *config) any { return c.MaxViewers }
	logLevel := func(c *config) any { return c.LogLevel }

	tests := []struct {
		name string
		args []string
		env  map[string]string
		get  func(*config) any
		want any
	}{
		{"addr default", nil, nil, addr, ":8080"},
		{"addr env", nil, map[string]string{"DANGOL_ADDR": "127.0.0.1:9000"}, addr, "127.0.0.1:9000"},
		{"addr flag wins", []string{"--addr", "127.0.0.1:7000"}, map[string]string{"DANGOL_ADDR": "127.0.0.1:9000"}, addr, "127.0.0.1:7000"},

		{"data default", nil, nil, data, "./data"},
		{"data env", nil, map[string]string{"DANGOL_DATA": "/var/lib/dangol"}, data, "/var/lib/dangol"},
		{"data flag wins", []string{"-data=/srv/d"}, map[string]string{"DANGOL_DATA": "/var/lib/dangol"}, data, "/srv/d"},

		{"udp-port default", nil, nil, udp, 8189},
		{"udp-port env", nil, map[string]string{"DANGOL_UDP_PORT": "40000"}, udp, 40000},
		{"udp-port flag wins", []string{"--udp-port", "40001"}, map[string]string{"DANGOL_UDP_PORT": "40000"}, udp, 40001},
		{"tcp-port env disables", nil, map[string]string{"DANGOL_TCP_PORT": "-1"}, tcp, -1},

		{"grace default", nil, nil, grace, 30 * time.Second},
		{"grace env", nil, map[string]string{"DANGOL_GRACE": "5s"}, grace, 5 * time.Second},
		{"grace flag wins", []string{"--grace=1m"}, map[string]string{"DANGOL_GRACE": "5s"}, grace, time.Minute},

		{"loopback default", nil, nil, loopback, false},
		{"loopback env true", nil, map[string]string{"DANGOL_LOOPBACK": "true"}, loopback, true},
		{"loopback env 1", nil, map[string]string{"DANGOL_LOOPBACK": "1"}, loopback, true},
		{"loopback bare flag", []string{"--loopback"}, nil, loopback, true},
		{"loopback flag false wins", []string{"--loopback=false"}, map[string]string{"DANGOL_LOOPBACK": "true"}, loopback, false},
		{"loopback flag true wins", []string{"--loopback"}, map[string]string{"DANGOL_LOOPBACK": "false"}, loopback, true},

		{"max-viewers env", nil, map[string]string{"DANGOL_MAX_VIEWERS": "0"}, maxViewers, 0},
		{"log-level env", nil, map[string]string{"DANGOL_LOG_LEVEL": "debug"}, logLevel, "debug"},
		{"flag after positional", []string{"channel", "--addr", "127.0.0.1:7000", "add"}, nil, addr, "127.0.0.1:7000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, tt.env)
			if err != nil {
				t.Fatalf("load config: %v", err)
			}
			if got := tt.get(cfg); got != tt.want {
				t.Errorf("got %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestConfigBadEnv(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantVars []string
	}{
		{"udp port not a number", map[string]string{"DANGOL_UDP_PORT": "abc"}, []string{"$DANGOL_UDP_PORT"}},
		{"tcp port with space", map[string]string{"DANGOL_TCP_PORT": " 8189"}, []string{"$DANGOL_TCP_PORT"}},
		{"max viewers float", map[string]string{"DANGOL_MAX_VIEWERS": "1e3"}, []string{"$DANGOL_MAX_VIEWERS"}},
		{"grace word", map[string]string{"DANGOL_GRACE": "soon"}, []string{"$DANGOL_GRACE"}},
		{"connect timeout without unit", map[string]string{"DANGOL_CONNECT_TIMEOUT": "20"}, []string{"$DANGOL_CONNECT_TIMEOUT"}},
		{"loopback yes", map[string]string{"DANGOL_LOOPBACK": "yes"}, []string{"$DANGOL_LOOPBACK"}},
		{"every bad variable reported", map[string]string{"DANGOL_UDP_PORT": "abc", "DANGOL_GRACE": "soon"},
			[]string{"$DANGOL_UDP_PORT", "$DANGOL_GRACE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(nil, tt.env)
			if err == nil {
				t.Fatal("bad environment accepted")
			}
			for _, v := range tt.wantVars {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error %q does not name %s", err, v)
				}
			}
		})
	}
}

// TestConfigFlagOverridesBadEnv: the command line wins, so a flag lets an operator run with a
// broken variable still set; the other bad variables are still reported.
func TestConfigFlagOverridesBadEnv(t *testing.T) {
	env := map[string]string{"DANGOL_UDP_PORT": "abc", "DANGOL_GRACE": "soon"}
	c, err := loadConfig([]string{"--udp-port", "40002", "--grace", "5s"}, env)
	if err != nil {
		t.Fatalf("flags given, bad variables still refused: %v", err)
	}
	if c.UDPPort != 40002 || c.Grace != 5*time.Second {
		t.Errorf("udp port %d grace %v, want 40002 and 5s", c.UDPPort, c.Grace)
	}
	_, err = loadConfig([]string{"--udp-port", "40002"}, env)
	if err == nil || !strings.Contains(err.Error(), "$DANGOL_GRACE") || strings.Contains(err.Error(), "$DANGOL_UDP_PORT") {
		t.Errorf("one flag given: error %v, want only $DANGOL_GRACE", err)
	}
}

// TestConfigValidation covers what finish checks after parsing: port ranges, the public URL
// and the public IPs.
func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
		check   func(t *testing.T, c *config)
	}{
		{name: "udp port 0", args: []string{"--udp-port", "0"}},
		{name: "database url postgres", env: map[string]string{"DANGOL_DATABASE_URL": "postgres://u:secret@127.0.0.1/dangol"},
			check: func(t *testing.T, c *config) {
				if c.DatabaseURL != "postgres://u:secret@127.0.0.1/dangol" {
					t.Errorf("database url %q", c.DatabaseURL)
				}
			}},
		{name: "database url not postgres", args: []string{"--database-url", "mysql://u:secret@h/db"}, wantErr: "--database-url"},
		{name: "udp port 65535", args: []string{"--udp-port", "65535"}},
		{name: "udp port -1", args: []string{"--udp-port", "-1"}, wantErr: "--udp-port"},
		{name: "udp port 65536", args: []string{"--udp-port", "65536"}, wantErr: "--udp-port"},
		{name: "udp port from env out of range", env: map[string]string{"DANGOL_UDP_PORT": "70000"}, wantErr: "--udp-port"},
		{name: "tcp port -1 disables", args: []string{"--tcp-port", "-1"}},
		{name: "tcp port -2", args: []string{"--tcp-port", "-2"}, wantErr: "--tcp-port"},
		{name: "tcp port 65536", args: []string{"--tcp-port", "65536"}, wantErr: "--tcp-port"},

		{name: "public url from default addr", check: wantPublicURL("http://localhost:8080")},
		{name: "public url from addr flag", args: []string{"--addr", "127.0.0.1:9999"}, check: wantPublicURL("http://localhost:9999")},
		{name: "public url from addr env", env: map[string]string{"DANGOL_ADDR": ":7000"}, check: wantPublicURL("http://localhost:7000")},
		{name: "public url trailing slash", args: []string{"--public-url", "https://market.example/"}, check: wantPublicURL("https://market.example")},
		{name: "public url trailing slashes", args: []string{"--public-url", "https://market.example//"}, check: wantPublicURL("https://market.example")},
		{name: "public url with path", args: []string{"--public-url", "https://market.example/shop/"}, check: wantPublicURL("https://market.example/shop")},
		{name: "public url env", env: map[string]string{"DANGOL_PUBLIC_URL": "https://env.example/"}, check: wantPublicURL("https://env.example")},
		{name: "public url flag wins", args: []string{"--public-url", "https://flag.example"},
			env: map[string]string{"DANGOL_PUBLIC_URL": "https://env.example"}, check: wantPublicURL("https://flag.example")},
		{name: "addr without port", args: []string{"--addr", "localhost"}, wantErr: "--addr"},
		{name: "addr without port but public url", args: []string{"--addr", "localhost", "--public-url", "https://market.example"},
			check: wantPublicURL("https://market.example")},
		{name: "public url without scheme", args: []string{"--public-url", "market.example"}, wantErr: "--public-url"},
		{name: "public url ftp", args: []string{"--public-url", "ftp://market.example"}, wantErr: "--public-url"},
		{name: "public url without host", args: []string{"--public-url", "https://"}, wantErr: "--public-url"},

		{name: "no public ip", check: wantPublicIPs(nil)},
		{name: "one public ip", args: []string{"--public-ip", "203.0.113.7"}, check: wantPublicIPs([]string{"203.0.113.7"})},
		{name: "public ips with spaces and v6", args: []string{"--public-ip", " 203.0.113.7 , 2001:db8::1 ,"},
			check: wantPublicIPs([]string{"203.0.113.7", "2001:db8::1"})},
		{name: "public ip env", env: map[string]string{"DANGOL_PUBLIC_IP": "198.51.100.1"}, check: wantPublicIPs([]string{"198.51.100.1"})},
		{name: "public ip hostname", args: []string{"--public-ip", "media.example"}, wantErr: "--public-ip"},
		{name: "public ip octet out of range", args: []string{"--public-ip", "203.0.113.300"}, wantErr: "--public-ip"},
		{name: "public ip one bad of two", args: []string{"--public-ip", "203.0.113.7,nope"}, wantErr: "--public-ip"},
		{name: "public ip env bad", env: map[string]string{"DANGOL_PUBLIC_IP": "nope"}, wantErr: "--public-ip"},

		{name: "turn parsed", args: []string{"--turn", "turn:u:p@turn.example:3478"}, check: func(t *testing.T, c *config) {
			if len(c.ICEServers) != 1 || c.ICEServers[0].Username != "u" {
				t.Errorf("ICEServers = %+v", c.ICEServers)
			}
		}},
		{name: "turn bad", args: []string{"--turn", "stun:stun.example"}, wantErr: "--turn"},
		{name: "turn env bad", env: map[string]string{"DANGOL_TURN": "bogus"}, wantErr: "--turn"},
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantErr: "no-such-flag"},
		{name: "bad flag value", args: []string{"--udp-port", "abc"}, wantErr: "udp-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("load config: %v", err)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func wantPublicURL(want string) func(*testing.T, *config) {
	return func(t *testing.T, c *config) {
		t.Helper()
		if c.PublicURL != want {
			t.Errorf("PublicURL = %q, want %q", c.PublicURL, want)
		}
	}
}

func wantPublicIPs(want []string) func(*testing.T, *config) {
	return func(t *testing.T, c *config) {
		t.Helper()
		if !reflect.DeepEqual(c.PublicIPs, want) {
			t.Errorf("PublicIPs = %q, want %q", c.PublicIPs, want)
		}
	}
}

func TestParseICEServers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []webrtc.ICEServer
		wantErr string // substring; "" means success
	}{
		{name: "empty", in: ""},
		{name: "only separators", in: " , ,, "},
		{name: "stun", in: "stun:stun.example:3478",
			want: []webrtc.ICEServer{{URLs: []string{"stun:stun.example:3478"}}}},
		{name: "stuns", in: "stuns:stun.example:5349",
			want: []webrtc.ICEServer{{URLs: []string{"stuns:stun.example:5349"}}}},
		{name: "stun ipv6", in: "stun:[2001:db8::1]:3478",
			want: []webrtc.ICEServer{{URLs: []string{"stun:[2001:db8::1]:3478"}}}},
		// Accepted as given; the web pages skip a TURN server that has no credentials.
		{name: "turn without credentials", in: "turn:turn.example:3478",
			want: []webrtc.ICEServer{{URLs: []string{"turn:turn.example:3478"}}}},
		{name: "turn with credentials and transport", in: "turn:alice:s3cret@turn.example:3478?transport=udp",
			want: []webrtc.ICEServer{{URLs: []string{"turn:turn.example:3478?transport=udp"}, Username: "alice", Credential: "s3cret"}}},
		{name: "turns with credentials", in: "turns:alice:s3cret@turn.example:5349?transport=tcp",
			want: []webrtc.ICEServer{{URLs: []string{"turns:turn.example:5349?transport=tcp"}, Username: "alice", Credential: "s3cret"}}},
		{name: "password with colon", in: "turn:alice:pa:ss@turn.example:3478",
			want: []webrtc.ICEServer{{URLs: []string{"turn:turn.example:3478"}, Username: "alice", Credential: "pa:ss"}}},
		{name: "password with at sign", in: "turn:alice:p@ss@turn.example:3478",
			want: []webrtc.ICEServer{{URLs: []string{"turn:turn.example:3478"}, Username: "alice", Credential: "p@ss"}}},
		{name: "list with spaces and empty entries", in: " stun:stun.example:3478 ,, turn:u:p@turn.example:3478?transport=udp ,",
			want: []webrtc.ICEServer{
				{URLs: []string{"stun:stun.example:3478"}},
				{URLs: []string{"turn:turn.example:3478?transport=udp"}, Username: "u", Credential: "p"},
			}},

		{name: "stun missing port", in: "stun:stun.example", wantErr: "missing port"},
		{name: "stun empty host", in: "stun:", wantErr: "missing port"},
		{name: "turn missing port", in: "turn:u:p@turn.example", wantErr: "missing port"},
		{name: "turn missing port before query", in: "turn:u:p@turn.example?transport=udp", wantErr: "missing port"},
		{name: "no scheme", in: "stunhost", wantErr: "want scheme:host:port"},
		{name: "http scheme", in: "http://turn.example:3478", wantErr: "scheme must be"},
		{name: "host as scheme", in: "turn.example:3478", wantErr: "scheme must be"},
		{name: "credentials without user", in: "turn::pass@turn.example:3478", wantErr: "credentials"},
		{name: "credentials without password separator", in: "turn:alice@turn.example:3478", wantErr: "credentials"},
		{name: "empty credentials", in: "turn:@turn.example:3478", wantErr: "credentials"},
		{name: "good then bad", in: "stun:stun.example:3478,bogus", wantErr: "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseICEServers(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("got %+v alongside the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseICEServers(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseICEServers(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ", nil},
		{"a", []string{"a"}},
		{" a , b ,,c ", []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := splitList(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitList(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
