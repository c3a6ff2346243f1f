package recordings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
)

// snapshot reads every object of store.
func snapshot(t *testing.T, store Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	objs, err := store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, o := range objs {
		data, _, err := readReplayObject(ctx, store, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[o.Key] = data
	}
	return out
}

// storeWith puts objs into store and returns it.
func storeWith(t *testing.T, store Store, objs map[string][]byte) Store {
	t.Helper()
	for k, v := range objs {
		if err := store.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func readManifest(t *testing.T, store Store, prefix string) Manifest {
	t.Helper()
	data, _, err := readReplayObject(context.Background(), store, prefix+"/manifest.json")
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

// TestRecover records the test media with a Recorder into a DirStore and takes the store's
// objects as they are once two segments are stored, while the recorder is still live: the
// state a server killed at that moment leaves. Recover must close that recording so that it
// plays and seeks up to its last listed segment, and leave alone a recording closed cleanly;
// in a folder and in MinIO, in either format.
func TestRecover(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.codec, func(t *testing.T) { testRecoverCodec(t, c.mime, c.codec, c.f) })
	}
}

func testRecoverCodec(t *testing.T, mime, codec string, f *format) {
	const prefix = "kim-fish/42"
	pkts := phonePacketsOf(t, mime)
	live, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	rec := NewRecorder(live, prefix, Options{QueueSize: len(pkts) + 1})
	rec.SetVideoCodec(mime)
	for _, p := range pkts {
		if p.video {
			rec.WriteVideo(p.pkt)
		} else {
			rec.WriteAudio(p.pkt)
		}
	}
	// The 10 s of media cut at 0, 4 and 8 s: two segments are stored while live, the third
	// only at Close, so the store holds still once the manifest lists two.
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _, err := readReplayObject(context.Background(), live, prefix+"/manifest.json")
		var m Manifest
		if err == nil && json.Unmarshal(data, &m) == nil && len(m.Segments) >= 2 {
			break
		}
		if err != nil && !errors.Is(err, ErrNotExist) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("manifest does not list two segments within 10s: %s", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
	crashed := snapshot(t, live)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	ended := snapshot(t, live)
	third := ended[prefix+"/000003"+f.segExt]
	init := prefix + "/" + f.initName
	if third == nil {
		t.Fatalf("no third segment after close: %v", slicesOfKeys(ended))
	}

	tests := []struct {
		name       string
		objs       map[string][]byte
		wantClosed int
		wantSegs   int
	}{
		{"killed after two segments", crashed, 1, 2},
		// A segment whose Put landed but whose manifest write did not: not listed, deleted.
		{"killed between a segment and its manifest", with(crashed, prefix+"/000003"+f.segExt, third), 1, 2},
		{"killed before the first segment", map[string][]byte{init: crashed[init]}, 1, 0},
		{"closed cleanly", ended, 0, 3},
	}
	for _, b := range storeBackends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				testRecover(t, storeWith(t, b.open(t), tt.objs), prefix, codec, f, tt.objs, tt.wantClosed, tt.wantSegs)
			})
		}
	}
}

// testRecover runs Recover twice on store, which holds objs, and checks the recording under
// prefix: closed if wantClosed, untouched otherwise, with wantSegs segments that play.
func testRecover(t *testing.T, store Store, prefix, codec string, f *format, objs map[string][]byte, wantClosed, wantSegs int) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	n, err := Recover(context.Background(), store, log)
	if err != nil || n != wantClosed {
		t.Fatalf("Recover = %d, %v; want %d closed", n, err, wantClosed)
	}
	after := snapshot(t, store)
	if wantClosed == 0 && !maps.EqualFunc(after, objs, bytes.Equal) {
		t.Errorf("Recover changed a recording closed cleanly: %v, was %v", slicesOfKeys(after), slicesOfKeys(objs))
	}
	// A second run finds nothing to do and changes nothing.
	if n, err := Recover(context.Background(), store, log); err != nil || n != 0 {
		t.Errorf("second Recover = %d, %v; want 0", n, err)
	}
	if again := snapshot(t, store); !maps.EqualFunc(again, after, bytes.Equal) {
		t.Errorf("second Recover changed objects: %v, was %v", slicesOfKeys(again), slicesOfKeys(after))
	}

	m := readManifest(t, store, prefix)
	if !m.Ended || m.Recovered != (wantClosed > 0) || len(m.Segments) != wantSegs {
		t.Fatalf("manifest = %+v, want ended, recovered %v, %d segments", m, wantClosed > 0, wantSegs)
	}
	init := prefix + "/" + f.initName
	want := map[string]bool{prefix + "/manifest.json": true, init: true}
	for _, s := range m.Segments {
		want[prefix+"/"+s.Name] = true
	}
	for k := range after {
		if !want[k] {
			t.Errorf("object %s is not in the manifest", k)
		}
	}
	if len(m.Segments) == 0 {
		return
	}
	if wantClosed > 0 && bytes.Equal(after[init], objs[init]) {
		t.Errorf("init not rewritten with the duration and index")
	}
	all := bytes.Clone(after[init])
	for _, s := range m.Segments {
		all = append(all, after[prefix+"/"+s.Name]...)
	}
	file, info := testmedia.ProbeBytes(t, "recovered"+f.fileExt, all, "opus", codec)
	listed := float64(m.DurationMs) / 1000
	seg := (4 * time.Second).Seconds() // the default segment length
	t.Logf("ffprobe duration %.3f s, manifest %.3f s, %d segments", info.Duration, listed, len(m.Segments))
	if info.Duration < listed-seg || info.Duration > listed+seg {
		t.Errorf("duration %.3f s, want the listed segments' %.3f s within a segment", info.Duration, listed)
	}
	testmedia.Decode(t, file)
	// Seeking uses the index of the rewritten init.
	testmedia.Decode(t, file, "-ss", fmt.Sprintf("%.3f", float64(m.Segments[len(m.Segments)-1].StartMs)/1000+0.5))
}

// with returns a copy of objs with key set to data.
func with(objs map[string][]byte, key string, data []byte) map[string][]byte {
	out := maps.Clone(objs)
	out[key] = data
	return out
}

func slicesOfKeys(objs map[string][]byte) []string { return slices.Sorted(maps.Keys(objs)) }
