// Command dangol-load measures a Dangol server: it publishes a generated
// stream over WHIP, attaches N WHEP viewers and reports what they got.
//
// The stream needs no encoder: VP8 or H.264 frames and Opus packets are
// generated at the requested bitrate, frame rate and GOP, with a keyframe
// also whenever the server sends the publisher a PLI or FIR. Every payload
// carries, after its codec header, the send time and a per-track counter, so
// viewers measure forwarding latency and delivery independently of the
// server's sequence rewriting.
//
// Usage:
//
//	go run ./cmd/dangol-load --key $KEY --channel loadtest --viewers 50 --duration 15s
//
// The report gives viewers connected/failed, time to first video and first
// keyframe, delivery (distinct packets received from a viewer's first packet
// to the publisher's counter at the end of the run, with --tail to let
// in-flight packets arrive), forwarding latency, what was sent, and the
// server's CPU from process_cpu_seconds_total on {server}/metrics between
// the end of the ramp and the end of --duration, next to this tool's own.
// --json prints the same as JSON. Every flag can also be set from the
// environment as DANGOL_LOAD_<FLAG> (e.g. DANGOL_LOAD_KEY), which keeps the
// stream key out of the process list; flags win.
//
// The tool only talks to the --server host: a non-loopback server needs
// --allow-remote, ICE uses udp4 only (only 127.0.0.1 for a loopback server),
// without mDNS or STUN, and drops remote candidates on other addresses. It
// exits 1 when no viewer connected or the publisher failed, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the whole configuration, read once from flags and environment.
type config struct {
	Server         string
	Channel        string
	Key            string
	Viewers        int
	Ramp           int
	Duration       time.Duration
	Tail           time.Duration
	Warmup         time.Duration
	ConnectTimeout time.Duration
	Retries        int
	Codec          string
	Bitrate        int64 // bits/s
	FPS            int
	GOP            time.Duration
	Pace           float64 // send rate cap as a multiple of the bitrate; 0 sends frames at once
	JSON           bool
	AllowRemote    bool
	Verbose        bool
}

func main() {
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

func mainExit(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "room" {
		return roomMain(args[1:], stdout, stderr) // live-room modes: room.go
	}
	cfg, err := parseConfig(args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "dangol-load:", err)
		return 2
	}
	log, ctx, stop := startRun(stderr, cfg.Verbose)
	defer stop()

	rep, err := run(ctx, cfg, log)
	if err != nil {
		log.Error("load run failed", "err", err)
		return 1
	}
	if cfg.JSON {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		log.Error("write report", "err", err)
		return 1
	}
	if rep.Viewers.Connected == 0 {
		log.Error("load run failed", "err", errNoViewers)
		return 1
	}
	return 0
}

// parseConfig reads flags, with DANGOL_LOAD_<NAME> environment fallbacks.
func parseConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (config, error) {
	cfg := config{Bitrate: 1_500_000}
	fs := flag.NewFlagSet("dangol-load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: dangol-load [flags]   (each flag also as DANGOL_LOAD_<FLAG>, e.g. DANGOL_LOAD_KEY)")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Server, "server", "http://127.0.0.1:8080", "server base `URL`")
	fs.StringVar(&cfg.Channel, "channel", "loadtest", "channel to publish to and watch")
	fs.StringVar(&cfg.Key, "key", "", "stream key for WHIP (prefer DANGOL_LOAD_KEY)")
	fs.IntVar(&cfg.Viewers, "viewers", 10, "number of WHEP viewers")
	fs.IntVar(&cfg.Ramp, "ramp", 20, "viewers connecting at once")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "run time, from the start of publishing")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "time between the start of publishing and the first viewer")
	fs.DurationVar(&cfg.Tail, "tail", time.Second, "extra reading time for packets in flight at the end")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10*time.Second, "time for one peer connection to connect")
	fs.IntVar(&cfg.Retries, "retries", 5, "retries of a POST answered 503 (after its Retry-After)")
	fs.StringVar(&cfg.Codec, "codec", codecVP8, "video codec: vp8 or h264")
	fs.Func("bitrate", "video `bitrate` in bit/s, k or M suffix allowed (default 1.5M)", func(s string) error {
		b, err := parseBitrate(s)
		cfg.Bitrate = b
		return err
	})
	fs.IntVar(&cfg.FPS, "fps", 30, "video frame rate")
	fs.DurationVar(&cfg.GOP, "gop", 2*time.Second, "keyframe interval")
	fs.Float64Var(&cfg.Pace, "pace", 2.5, "pace video at this multiple of the bitrate, as a phone's WebRTC stack does (libwebrtc's pacing factor is 2.5); 0 sends each frame in one burst")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a --server that is not on a loopback address")
	fs.BoolVar(&cfg.Verbose, "v", false, "debug logging")

	if err := parseFlags(fs, args, lookupEnv); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func (c *config) validate() error {
	c.Codec = strings.ToLower(c.Codec)
	switch {
	case c.Codec != codecVP8 && c.Codec != codecH264:
		return fmt.Errorf("--codec %q: want vp8 or h264", c.Codec)
	case !strings.HasPrefix(c.Server, "http://") && !strings.HasPrefix(c.Server, "https://"):
		return fmt.Errorf("--server %q: want an http(s) URL", c.Server)
	case c.Channel == "":
		return errors.New("--channel is empty")
	case c.Viewers < 1 || c.Viewers > 10000:
		return fmt.Errorf("--viewers %d: want 1..10000", c.Viewers)
	case c.Ramp < 1:
		return fmt.Errorf("--ramp %d: want >= 1", c.Ramp)
	case c.Duration <= 0 || c.Tail < 0 || c.ConnectTimeout <= 0 || c.Retries < 0:
		return errors.New("--duration and --connect-timeout must be > 0, --tail and --retries >= 0")
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("--warmup %v: want >= 0 and < --duration", c.Warmup)
	case c.FPS < 1 || c.FPS > 120:
		return fmt.Errorf("--fps %d: want 1..120", c.FPS)
	case c.GOP < 100*time.Millisecond:
		return fmt.Errorf("--gop %v: want >= 100ms", c.GOP)
	case c.Pace != 0 && (c.Pace < 1 || c.Pace > 100):
		return fmt.Errorf("--pace %g: want 0 (off) or 1..100", c.Pace)
	case c.Bitrate < 10_000 || c.Bitrate > 100_000_000:
		return fmt.Errorf("--bitrate %d: want 10k..100M", c.Bitrate)
	}
	return nil
}

// parseBitrate accepts "1500000", "1500k" or "1.5M".
func parseBitrate(s string) (int64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad bitrate %q", s)
	}
	return int64(f * mult), nil
}

// parseFlags sets fs from DANGOL_LOAD_<FLAG> variables, then from args, which win.
func parseFlags(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "DANGOL_LOAD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// startRun makes a mode's logger and its context, cancelled by Ctrl-C or SIGTERM.
func startRun(stderr io.Writer, verbose bool) (*slog.Logger, context.Context, context.CancelFunc) {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	// Logs go to stderr so that stdout carries only the report (--json).
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the tool at once
	}()
	return log, ctx, stop
}

// serverPolicy parses --server and checks it is one the tool may load.
func serverPolicy(ctx context.Context, server string, allowRemote bool) (*url.URL, netPolicy, error) {
	base, err := url.Parse(server)
	if err != nil {
		return nil, netPolicy{}, fmt.Errorf("parse --server: %w", err)
	}
	policy, err := newNetPolicy(ctx, base, allowRemote)
	return base, policy, err
}
