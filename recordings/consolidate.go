package recordings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxBufferedConsolidate is the largest recording Consolidate stores through
// a Store that is no StreamPutter, whose Put needs the whole file in memory:
// bearable once per broadcast up to here, not for an hour's ~700 MB.
const maxBufferedConsolidate = 64 << 20

// Consolidate turns the ended recording under prefix into one object,
// "<prefix>/replay.webm" or "<prefix>/replay.mp4": the init and every
// segment the manifest lists, back to back, the same bytes Replays served
// before. The manifest then names it (Manifest.File) and the segment objects
// are deleted; the init and the manifest stay. From an S3Store, Replays then
// serves the replay as a redirect to a signed URL.
//
// Each step leaves the recording whole, so Consolidate is safe to stop
// anywhere and to rerun, which finishes the job:
//
//  1. The file is stored with one atomic put. Until the manifest names it
//     nothing reads it; a rerun stores it again (from the segments, which
//     are all still there), replacing whatever a failed run left.
//  2. The manifest is rewritten to name the file. From then on replays and
//     clips read the file, never the segments.
//  3. The segment objects are deleted. A rerun finds the manifest naming
//     the file and deletes whatever segments are left; with none left, it
//     does nothing.
//
// A recording not ended (its recorder may still add segments, or Recover
// has yet to close it) is an error; one that recorded nothing is left as it
// is. A request streaming the segments while step 3 deletes them fails; the
// player's retry gets the file.
//
// The file is streamed into a StreamPutter (DirStore and S3Store are); other
// stores get it through Put, which holds it in memory, so recordings over 64
// MiB are refused there.
func Consolidate(ctx context.Context, store Store, prefix string) error {
	if err := consolidate(ctx, store, prefix, maxBufferedConsolidate); err != nil {
		return fmt.Errorf("consolidate recording %s: %w", prefix, err)
	}
	return nil
}

func consolidate(ctx context.Context, store Store, prefix string, maxBuffered int64) error {
	if err := checkKey(prefix); err != nil {
		return err
	}
	m, info, err := loadManifest(ctx, store, prefix)
	if err != nil {
		return err
	}
	if !m.Ended {
		return errors.New("the recording has not ended")
	}
	if len(m.Segments) == 0 {
		return nil // nothing recorded: nothing to play, nothing to merge
	}
	if m.File == "" {
		if err := storeFile(ctx, store, prefix, m, info, maxBuffered); err != nil {
			return err
		}
	}
	return deleteSegments(ctx, store, prefix, m)
}

// storeFile stores the file of the recording m describes, then a manifest
// naming it (steps 1 and 2 of Consolidate).
func storeFile(ctx context.Context, store Store, prefix string, m Manifest, info ObjectInfo, maxBuffered int64) error {
	r, err := replayOf(ctx, store, prefix, m, info)
	if err != nil {
		return err
	}
	name := "replay" + r.format.fileExt
	key := prefix + "/" + name
	content := &replayReader{ctx: ctx, store: store, r: r}
	defer content.Close()
	if sp, ok := store.(StreamPutter); ok {
		err = sp.PutStream(ctx, key, content, r.size)
	} else if r.size <= maxBuffered {
		var data []byte
		if data, err = io.ReadAll(content); err == nil {
			err = store.Put(ctx, key, data)
		}
	} else {
		err = fmt.Errorf("the store (%T) cannot stream a put, and the recording's %d bytes are more than the %d it may hold in memory", store, r.size, maxBuffered)
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}

	m.File, m.InitSize = name, int64(len(r.init))
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal manifest: %w", err)
	}
	if err := store.Put(ctx, prefix+"/manifest.json", data); err != nil {
		return fmt.Errorf("put manifest: %w", err)
	}
	return nil
}

// deleteSegments deletes the segment objects of a consolidated recording
// that are still there (step 3 of Consolidate). It lists them first, so a
// rerun with nothing left to delete writes nothing.
func deleteSegments(ctx context.Context, store Store, prefix string, m Manifest) error {
	listed := make(map[string]bool, len(m.Segments))
	for _, s := range m.Segments {
		listed[prefix+"/"+s.Name] = true
	}
	objs, err := store.List(ctx, prefix+"/")
	if err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	for _, o := range objs {
		// Delete is by prefix; a segment's whole key matches only itself,
		// since no object of a recording is named a segment's name and more.
		if !listed[o.Key] {
			continue
		}
		if err := store.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("delete segment: %w", err)
		}
	}
	return nil
}
