package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// run publishes, ramps the viewers up, measures for cfg.Duration, tears
// everything down and returns the report. The measured window for CPU runs
// from the end of the ramp to the end of the duration; the viewers keep
// reading for cfg.Tail after it so that packets in flight at the cutoff
// (and their retransmissions) are not counted as lost.
func run(ctx context.Context, cfg config, log *slog.Logger) (*report, error) {
	base, policy, err := serverPolicy(ctx, cfg.Server, cfg.AllowRemote)
	if err != nil {
		return nil, err
	}
	sig := newSignaler(base, cfg.Ramp+1, cfg.Retries, log)
	pubAPI, err := newPublisherAPI(policy, cfg.Codec)
	if err != nil {
		return nil, err
	}
	viewAPI, err := newViewerAPI(policy, cfg.Codec)
	if err != nil {
		return nil, err
	}

	window, endWindow := context.WithTimeout(ctx, cfg.Duration)
	defer endWindow()

	pub, err := newPublisher(window, cfg, pubAPI, sig, log.With("role", "publisher"))
	if err != nil {
		return nil, err
	}
	log.Info("publishing", "channel", cfg.Channel, "codec", cfg.Codec, "bitrate", cfg.Bitrate)
	media, stopMedia := context.WithCancel(context.Background())
	defer stopMedia()
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		pub.send(media)
	}()

	viewers := make([]*viewer, cfg.Viewers)
	for i := range viewers {
		viewers[i] = &viewer{id: i, log: log.With("viewer", i)}
	}
	rampDone := make(chan struct{})
	go func() {
		defer close(rampDone)
		// The warm-up keeps viewers apart from the broadcast's own start,
		// when a server may already have asked the publisher for a keyframe.
		t := time.NewTimer(cfg.Warmup)
		defer t.Stop()
		select {
		case <-t.C:
		case <-window.Done():
		}
		ramp(window, viewers, cfg, viewAPI, sig)
	}()

	var begin sample
	select {
	case <-rampDone:
		begin = takeSample(window, sig)
		log.Info("viewers started", "connected", countConnected(viewers), "of", len(viewers))
	case <-window.Done():
		log.Warn("ramp did not finish within the duration")
	}
	<-window.Done()
	end := takeSample(context.Background(), sig)
	lastVideo, lastAudio := pub.snapshot()
	// The tail runs after Ctrl-C too, or the cutoff would count packets in
	// flight as lost; a second Ctrl-C kills the tool.
	time.Sleep(cfg.Tail)
	stopMedia()
	<-sendDone
	<-rampDone

	log.Info("tearing down", "viewers", len(viewers))
	deleteErrs := closeViewers(viewers, sig, cfg.Ramp)
	pub.close(sig)
	return buildReport(cfg, pub, viewers, lastVideo, lastAudio, begin, end, deleteErrs), nil
}

// ramp connects the viewers with at most cfg.Ramp connecting at once and
// returns when every viewer has connected or failed.
func ramp(ctx context.Context, viewers []*viewer, cfg config, api *webrtc.API, sig *signaler) {
	sem := make(chan struct{}, cfg.Ramp)
	var wg sync.WaitGroup
	for _, v := range viewers {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			v.err = fmt.Errorf("not started: %w", ctx.Err())
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			v.connect(ctx, api, sig, cfg)
		})
	}
	wg.Wait()
}

// closeViewers deletes and closes all viewers, cfg.Ramp at a time, and
// returns how many DELETEs failed.
func closeViewers(viewers []*viewer, sig *signaler, parallel int) int {
	sem := make(chan struct{}, parallel)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards errs
		errs int
	)
	for _, v := range viewers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := v.close(sig); err != nil {
				v.log.Warn("delete viewer session", "err", err)
				mu.Lock()
				errs++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

func countConnected(viewers []*viewer) int {
	n := 0
	for _, v := range viewers {
		if v.err == nil {
			n++
		}
	}
	return n
}
