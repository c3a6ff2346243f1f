package recordings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
)

// objectKeys lists the keys under prefix.
func objectKeys(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(testContext(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// consolidatedKeys are the objects a consolidated recording keeps.
func consolidatedKeys(prefix string, m Manifest, f *format) []string {
	keys := []string{prefix + "/" + m.Init, prefix + "/manifest.json", prefix + "/replay" + f.fileExt}
	slices.Sort(keys)
	return keys
}

// noFollow is a client that shows redirects rather than following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// checkReplayServes checks that the replay at url (redirects followed)
// is the file all, whole and by range; m and init place the ranges.
func checkReplayServes(t *testing.T, url string, all []byte, f *format, initSize int64, m Manifest) {
	t.Helper()
	resp, body := get(t, "GET", url)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, all) {
		t.Fatalf("GET %s: status %d, %d bytes; want 200 and the %d bytes of init + segments", url, resp.StatusCode, len(body), len(all))
	}
	if ct := resp.Header.Get("Content-Type"); ct != f.mime {
		t.Errorf("Content-Type %q, want %q", ct, f.mime)
	}
	size := int64(len(all))
	boundary := initSize + m.Segments[0].Size
	for _, rg := range []struct{ start, end int64 }{
		{0, 100},
		{initSize - 10, initSize + 10},
		{boundary - 50, boundary + 50},
		{size - 100, size},
	} {
		resp, body := get(t, "GET", url, "Range", fmt.Sprintf("bytes=%d-%d", rg.start, rg.end-1))
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, all[rg.start:rg.end]) {
			t.Errorf("range [%d, %d): status %d, %d bytes; want 206 and those bytes of the file", rg.start, rg.end, resp.StatusCode, len(body))
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end-1, size); resp.Header.Get("Content-Range") != want {
			t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
		}
	}
}

// TestConsolidate consolidates a recording in each codec in each store and
// checks that it plays as before, from the one object: by a redirect to a
// signed URL from MinIO, by range from a folder.
func TestConsolidate(t *testing.T) {
	for _, b := range storeBackends {
		for _, c := range testCodecs {
			t.Run(b.name+"/"+c.codec, func(t *testing.T) {
				t.Parallel()
				store := b.open(t)
				const prefix = "kim-fish/42"
				m, all := recordTestBroadcastOf(t, store, prefix, c.mime)
				ctx := testContext(t)
				srv := replayServer(t, store)
				url := srv.URL + "/replays/kim-fish/42" + c.f.fileExt
				before, _ := get(t, "HEAD", url)
				init, _ := readAll(t, store, prefix+"/"+m.Init)

				at := func(ms int64) time.Time { return m.StartedAt.Add(time.Duration(ms) * time.Millisecond) }
				specs := []ClipSpec{
					{"second", at(m.Segments[1].StartMs), at(m.Segments[1].StartMs + m.Segments[1].DurationMs)},
					{"whole", at(-1000), at(m.DurationMs + 1000)},
				}
				clipsBefore, err := MakeClips(ctx, store, prefix, specs)
				if err != nil || len(clipsBefore) != len(specs) {
					t.Fatalf("MakeClips before consolidating = %+v, %v", clipsBefore, err)
				}
				var clipBytes [][]byte
				for _, cl := range clipsBefore {
					data, _ := readAll(t, store, cl.Key)
					clipBytes = append(clipBytes, data)
				}

				if err := Consolidate(ctx, store, prefix); err != nil {
					t.Fatal(err)
				}

				// The segments are gone; the clips, made from them, stay.
				want := consolidatedKeys(prefix, m, c.f)
				for _, cl := range clipsBefore {
					want = append(want, cl.Key)
				}
				slices.Sort(want)
				if got := objectKeys(t, store, prefix+"/"); !slices.Equal(got, want) {
					t.Errorf("objects after Consolidate:\n got %q\nwant %q", got, want)
				}
				cm := readManifest(t, store, prefix)
				if cm.File != "replay"+c.f.fileExt || cm.InitSize != int64(len(init)) || !slices.Equal(cm.Segments, m.Segments) || !cm.Ended {
					t.Errorf("manifest file %q, init size %d, %d segments; want replay%s, %d, the %d segments",
						cm.File, cm.InitSize, len(cm.Segments), c.f.fileExt, len(init), len(m.Segments))
				}
				if file, _ := readAll(t, store, prefix+"/"+cm.File); !bytes.Equal(file, all) {
					t.Errorf("the file holds %d bytes, not the %d of init + segments", len(file), len(all))
				}

				t.Run("first response", func(t *testing.T) {
					resp, err := noFollow.Get(url)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if s3, ok := store.(*S3Store); ok {
						loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
						if resp.StatusCode != http.StatusFound || err != nil {
							t.Fatalf("status %d, Location %q; want 302 to a signed URL", resp.StatusCode, resp.Header.Get("Location"))
						}
						if wantPath := "/" + s3.Bucket() + "/" + prefix + "/" + cm.File; loc.Path != wantPath || loc.Query().Get("X-Amz-Signature") == "" {
							t.Errorf("redirect to %s, want a signed URL of %s", loc, wantPath)
						}
						if cc := resp.Header.Get("Cache-Control"); cc != "private, max-age=1800" {
							t.Errorf("Cache-Control %q, want private, max-age=1800 (half the URL's life)", cc)
						}
						return
					}
					if resp.StatusCode != http.StatusOK || !bytes.Equal(body, all) {
						t.Fatalf("status %d, %d bytes; want 200 and the file", resp.StatusCode, len(body))
					}
					for _, h := range []string{"Content-Type", "ETag", "Cache-Control", "Accept-Ranges"} {
						if got, want := resp.Header.Get(h), before.Header.Get(h); got != want || got == "" {
							t.Errorf("%s %q, want %q as before consolidating", h, got, want)
						}
					}
					if resp.Header.Get("Last-Modified") == "" {
						t.Error("no Last-Modified")
					}
				})

				t.Run("followed", func(t *testing.T) {
					checkReplayServes(t, url, all, c.f, int64(len(init)), m)
				})

				t.Run("head", func(t *testing.T) {
					// A signed URL is for GET only, so HEAD is answered here.
					resp, body := get(t, "HEAD", url)
					if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != int64(len(all)) {
						t.Errorf("HEAD: status %d, %d bytes, Content-Length %d; want 200, none, %d", resp.StatusCode, len(body), resp.ContentLength, len(all))
					}
					if resp.Header.Get("ETag") != before.Header.Get("ETag") {
						t.Errorf("HEAD: ETag %q, want %q as before consolidating", resp.Header.Get("ETag"), before.Header.Get("ETag"))
					}
				})

				t.Run("info", func(t *testing.T) {
					info, err := NewReplays(store, nil).Info(ctx, "kim-fish", 42)
					if err != nil || info.URL != "/replays/kim-fish/42"+c.f.fileExt || info.Size != int64(len(all)) || !info.Ended {
						t.Errorf("Info = %+v, %v; want our own path, ended, %d bytes", info, err, len(all))
					}
				})

				t.Run("ffprobe", func(t *testing.T) {
					_, body := get(t, "GET", url)
					file, probe := testmedia.ProbeBytes(t, "replay"+c.f.fileExt, body, "opus", c.codec)
					if probe.Duration < testMediaSeconds-4 || probe.Duration > testMediaSeconds+4 {
						t.Errorf("duration %.3f s, want %d s within one segment", probe.Duration, testMediaSeconds)
					}
					testmedia.Decode(t, file)
				})

				t.Run("clips", func(t *testing.T) {
					clips, err := MakeClips(ctx, store, prefix, specs)
					if err != nil || !slices.Equal(clips, clipsBefore) {
						t.Fatalf("MakeClips = %+v, %v; want %+v as before consolidating", clips, err, clipsBefore)
					}
					for i, cl := range clips {
						if data, _ := readAll(t, store, cl.Key); !bytes.Equal(data, clipBytes[i]) {
							t.Errorf("clip %s: %d bytes, not the %d made from the segments", cl.Name, len(data), len(clipBytes[i]))
						}
					}
				})

				t.Run("rerun", func(t *testing.T) {
					_, mInfo := readAll(t, store, prefix+"/manifest.json")
					_, fInfo := readAll(t, store, prefix+"/"+cm.File)
					keys := objectKeys(t, store, prefix+"/")
					if err := Consolidate(ctx, store, prefix); err != nil {
						t.Fatal(err)
					}
					_, mInfo2 := readAll(t, store, prefix+"/manifest.json")
					_, fInfo2 := readAll(t, store, prefix+"/"+cm.File)
					if !mInfo2.Modified.Equal(mInfo.Modified) || !fInfo2.Modified.Equal(fInfo.Modified) {
						t.Errorf("a rerun rewrote the manifest or the file")
					}
					if got := objectKeys(t, store, prefix+"/"); !slices.Equal(got, keys) {
						t.Errorf("objects after a rerun: %q, want %q", got, keys)
					}
				})
			})
		}
	}
}

var errCrash = errors.New("simulated crash")

// crashingStore is a real store that fails, as if the process died there,
// at one point of Consolidate's work: the streaming put, the Put of a key,
// or the Delete after the first few.
type crashingStore struct {
	Store
	StreamPutter
	failPutStream bool
	failPut       string
	deleteBudget  int // Deletes that succeed before the crash; < 0: all
}

func (s *crashingStore) PutStream(ctx context.Context, key string, r io.Reader, size int64) error {
	if s.failPutStream {
		// Part of the stream is read, as in an upload cut short.
		io.CopyN(io.Discard, r, size/2)
		return errCrash
	}
	return s.StreamPutter.PutStream(ctx, key, r, size)
}

func (s *crashingStore) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasSuffix(key, "/"+s.failPut) {
		return errCrash
	}
	return s.Store.Put(ctx, key, data)
}

func (s *crashingStore) Delete(ctx context.Context, prefix string) error {
	if s.deleteBudget == 0 {
		return errCrash
	}
	s.deleteBudget--
	return s.Store.Delete(ctx, prefix)
}

// TestConsolidateCrash stops Consolidate at each of its steps, checks that
// the replay still plays, and that a rerun finishes the job.
func TestConsolidateCrash(t *testing.T) {
	for _, b := range storeBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			store := b.open(t)
			m, all := recordTestBroadcast(t, store, "kim-fish/42")
			init, _ := readAll(t, store, "kim-fish/42/"+m.Init)
			srv := replayServer(t, store)
			ctx := testContext(t)
			tests := []struct {
				name string
				// crash brings the recording under prefix to the state a
				// crash leaves.
				crash func(t *testing.T, prefix string)
			}{
				{"while streaming the file", func(t *testing.T, prefix string) {
					cs := &crashingStore{Store: store, StreamPutter: store.(StreamPutter), failPutStream: true, deleteBudget: -1}
					if err := Consolidate(ctx, cs, prefix); !errors.Is(err, errCrash) {
						t.Fatalf("Consolidate: %v, want the crash", err)
					}
				}},
				{"after the file, before the manifest", func(t *testing.T, prefix string) {
					cs := &crashingStore{Store: store, StreamPutter: store.(StreamPutter), failPut: "manifest.json", deleteBudget: -1}
					if err := Consolidate(ctx, cs, prefix); !errors.Is(err, errCrash) {
						t.Fatalf("Consolidate: %v, want the crash", err)
					}
					if _, _, err := read(t, store, prefix+"/replay.webm", 0, 0); err != nil {
						t.Fatalf("the file was not stored: %v", err)
					}
				}},
				{"file stored by hand", func(t *testing.T, prefix string) {
					mustPut(t, store, prefix+"/replay.webm", all)
				}},
				{"stale file of other bytes", func(t *testing.T, prefix string) {
					mustPut(t, store, prefix+"/replay.webm", bytes.Repeat([]byte{'x'}, len(all)))
				}},
				{"after the manifest, before deleting segments", func(t *testing.T, prefix string) {
					cs := &crashingStore{Store: store, StreamPutter: store.(StreamPutter)}
					if err := Consolidate(ctx, cs, prefix); !errors.Is(err, errCrash) {
						t.Fatalf("Consolidate: %v, want the crash", err)
					}
				}},
				{"after deleting one segment", func(t *testing.T, prefix string) {
					cs := &crashingStore{Store: store, StreamPutter: store.(StreamPutter), deleteBudget: 1}
					if err := Consolidate(ctx, cs, prefix); !errors.Is(err, errCrash) {
						t.Fatalf("Consolidate: %v, want the crash", err)
					}
				}},
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					id := 100 + i
					prefix := fmt.Sprintf("kim-fish/%d", id)
					copyRecording(t, store, "kim-fish/42", prefix, m)
					url := fmt.Sprintf("%s/replays/kim-fish/%d.webm", srv.URL, id)

					tt.crash(t, prefix)
					// Whatever the crash left plays as before.
					checkReplayServes(t, url, all, webmFormat, int64(len(init)), m)

					if err := Consolidate(ctx, store, prefix); err != nil {
						t.Fatalf("rerun: %v", err)
					}
					if got, want := objectKeys(t, store, prefix+"/"), consolidatedKeys(prefix, m, webmFormat); !slices.Equal(got, want) {
						t.Errorf("objects after the rerun:\n got %q\nwant %q", got, want)
					}
					if file, _ := readAll(t, store, prefix+"/replay.webm"); !bytes.Equal(file, all) {
						t.Errorf("the file holds %d bytes, not the %d of init + segments", len(file), len(all))
					}
					if cm := readManifest(t, store, prefix); cm.File != "replay.webm" || cm.InitSize != int64(len(init)) {
						t.Errorf("manifest file %q, init size %d; want replay.webm, %d", cm.File, cm.InitSize, len(init))
					}
					checkReplayServes(t, url, all, webmFormat, int64(len(init)), m)
				})
			}
		})
	}
}

// copyRecording copies the objects of the recording m under from to to.
func copyRecording(t *testing.T, s Store, from, to string, m Manifest) {
	t.Helper()
	names := []string{m.Init}
	for _, seg := range m.Segments {
		names = append(names, seg.Name)
	}
	for _, name := range append(names, "manifest.json") {
		data, _ := readAll(t, s, from+"/"+name)
		mustPut(t, s, to+"/"+name, data)
	}
}

// TestConsolidateRefuses checks what Consolidate leaves alone: a recording
// still live, a missing one, one that recorded nothing.
func TestConsolidateRefuses(t *testing.T) {
	store := newDirStore(t, t.TempDir())
	m, _ := recordTestBroadcast(t, store, "kim-fish/42")
	ctx := testContext(t)

	copyRecording(t, store, "kim-fish/42", "kim-fish/43", m)
	live := m
	live.Ended = false
	mustPut(t, store, "kim-fish/43/manifest.json", mustJSON(t, live))
	keys := objectKeys(t, store, "kim-fish/43/")
	if err := Consolidate(ctx, store, "kim-fish/43"); err == nil || !strings.Contains(err.Error(), "not ended") {
		t.Errorf("Consolidate of a live recording: %v, want an error saying it has not ended", err)
	}
	if got := objectKeys(t, store, "kim-fish/43/"); !slices.Equal(got, keys) {
		t.Errorf("a live recording's objects changed: %q, want %q", got, keys)
	}

	if err := Consolidate(ctx, store, "kim-fish/44"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Consolidate of no recording: %v, want ErrNotExist", err)
	}

	mustPut(t, store, "kim-fish/45/manifest.json", mustJSON(t, Manifest{Version: 1, Container: "webm", Ended: true, Segments: []Segment{}}))
	if err := Consolidate(ctx, store, "kim-fish/45"); err != nil {
		t.Errorf("Consolidate of a recording of nothing: %v, want nil", err)
	}
	if got := objectKeys(t, store, "kim-fish/45/"); !slices.Equal(got, []string{"kim-fish/45/manifest.json"}) {
		t.Errorf("a recording of nothing now has %q", got)
	}
}

// TestConsolidateWithoutStreaming consolidates through a store that is no
// StreamPutter: with Put, up to the size it may hold in memory.
func TestConsolidateWithoutStreaming(t *testing.T) {
	dir := newDirStore(t, t.TempDir())
	store := struct{ Store }{dir} // only the Store methods
	m, all := recordTestBroadcast(t, store, "kim-fish/42")
	ctx := testContext(t)
	keys := objectKeys(t, store, "kim-fish/42/")
	err := consolidate(ctx, store, "kim-fish/42", int64(len(all))-1)
	if err == nil || !strings.Contains(err.Error(), "cannot stream") {
		t.Errorf("consolidate over the limit: %v, want an error saying the store cannot stream", err)
	}
	if got := objectKeys(t, store, "kim-fish/42/"); !slices.Equal(got, keys) {
		t.Errorf("a refused recording's objects changed: %q, want %q", got, keys)
	}
	if err := consolidate(ctx, store, "kim-fish/42", int64(len(all))); err != nil {
		t.Fatal(err)
	}
	if got, want := objectKeys(t, store, "kim-fish/42/"), consolidatedKeys("kim-fish/42", m, webmFormat); !slices.Equal(got, want) {
		t.Errorf("objects %q, want %q", got, want)
	}
	if file, _ := readAll(t, store, "kim-fish/42/replay.webm"); !bytes.Equal(file, all) {
		t.Errorf("the file holds %d bytes, not the %d of init + segments", len(file), len(all))
	}
	srv := replayServer(t, store)
	checkReplayServes(t, srv.URL+"/replays/kim-fish/42.webm", all, webmFormat, readManifest(t, store, "kim-fish/42").InitSize, m)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
