package recordings

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// Recover closes the recordings in store that their recorder never closed,
// because the process recording them died: it returns how many it closed.
//
// A recording is unfinished when its manifest is not Ended, or when it has
// objects but no manifest (the process died before its first segment was
// stored). The manifest is trusted: it is rewritten after every stored
// segment, so it lists exactly the segments that are whole. Segment objects
// it does not list (a Put that landed after the manifest's last write) are
// deleted, so the stored recording is exactly what the manifest says. The
// init is rewritten with the duration and a cue per listed segment, as Close
// does, and the manifest is marked Ended and Recovered.
//
// Recover must only run when no recorder writes to store (at start-up,
// before the media server starts): to it, a recording being written looks
// exactly like an unfinished one. It is idempotent; a failure on one
// recording is logged and the others are still closed, and the first error
// is returned.
func Recover(ctx context.Context, store Store, log *slog.Logger) (int, error) {
	objs, err := store.List(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("recover recordings: %w", err)
	}
	// Group the keys by recording prefix, the folder of init.webm or manifest.json.
	type recording struct {
		hasManifest bool
		keys        []string
	}
	recs := map[string]*recording{}
	var order []string
	for _, o := range objs {
		i := strings.LastIndexByte(o.Key, '/')
		if i < 0 {
			continue // not a recording's object
		}
		prefix, name := o.Key[:i], o.Key[i+1:]
		r := recs[prefix]
		if r == nil {
			r = &recording{}
			recs[prefix] = r
			order = append(order, prefix)
		}
		r.keys = append(r.keys, o.Key)
		if name == "manifest.json" {
			r.hasManifest = true
		}
	}
	var closed int
	var firstErr error
	for _, prefix := range order {
		r := recs[prefix]
		if !r.hasManifest && !hasKey(r.keys, prefix+"/"+webmFormat.initName) && !hasKey(r.keys, prefix+"/"+mp4Format.initName) {
			continue // a folder of something else
		}
		did, err := recoverOne(ctx, store, prefix, r.hasManifest, r.keys, log.With("recording", prefix))
		if err != nil {
			log.Error("unfinished recording not closed", "recording", prefix, "err", err)
			if firstErr == nil {
				firstErr = fmt.Errorf("recover recording %s: %w", prefix, err)
			}
			continue
		}
		if did {
			closed++
		}
	}
	return closed, firstErr
}

func hasKey(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}

// recoverOne closes the recording under prefix if it is unfinished, and
// reports whether it did.
func recoverOne(ctx context.Context, store Store, prefix string, hasManifest bool, keys []string, log *slog.Logger) (bool, error) {
	var m Manifest
	if hasManifest {
		var err error
		if m, _, err = loadManifest(ctx, store, prefix); err != nil {
			return false, err
		}
		if m.Ended {
			return false, nil
		}
	} else {
		// Killed before the first segment was stored: nothing plays.
		m = Manifest{Version: 1, Container: "webm", Segments: []Segment{}}
	}

	keep := map[string]bool{}
	for _, s := range m.Segments {
		keep[prefix+"/"+s.Name] = true
	}
	// Only media segment objects are strays: anything else stored with the
	// recording (by the replay, say) is none of recovery's business.
	var strays []string
	for _, k := range keys {
		if !keep[k] && isSegmentName(k[len(prefix)+1:]) {
			strays = append(strays, k)
		}
	}
	for _, k := range strays {
		// Delete is by prefix; a whole key matches only itself, since a
		// recording's objects are files of one folder.
		if err := store.Delete(ctx, k); err != nil {
			return false, fmt.Errorf("delete stray object: %w", err)
		}
	}

	// The manifest is written last: until it says Ended, a rerun after a
	// failure here does all of this again.
	m.Ended = true
	m.Recovered = true
	if len(m.Segments) > 0 {
		f, err := formatOf(m.Container)
		if err != nil {
			return false, err
		}
		data, err := f.buildInit(m)
		if err != nil {
			return false, fmt.Errorf("final init: %w", err)
		}
		init := m.Init
		if init == "" {
			init = f.initName
		}
		if err := store.Put(ctx, prefix+"/"+init, data); err != nil {
			return false, fmt.Errorf("final init: %w", err)
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return false, fmt.Errorf("marshal manifest: %w", err)
	}
	if err := store.Put(ctx, prefix+"/manifest.json", data); err != nil {
		return false, fmt.Errorf("put manifest: %w", err)
	}
	log.Info("unfinished recording closed", "segments", len(m.Segments), "duration_ms", m.DurationMs, "strays_deleted", strays)
	return true, nil
}
