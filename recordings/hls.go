package recordings

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
)

// An HLS playlist of an MP4 recording, GET /replays/{slug}/{id}.m3u8: the
// way iPhones play recorded video most surely. It points into the replay's
// one file by byte range, so nothing more is stored: the init (ftyp and
// moov, without the index) as the map, then each segment. Offsets are the
// same whether the file is virtual (live, or not yet consolidated) or one
// object, and from S3 the file's URL redirects to a signed one.

// hlsPlaylist writes the playlist of the MP4 recording r, whose file is
// served as fileName next to it.
func hlsPlaylist(w io.Writer, r *replay, fileName string, moovEnd int64) error {
	initSize := int64(len(r.init))
	if r.file != "" {
		initSize = r.m.InitSize
	}
	segs := r.m.Segments
	target := 1.0
	durs := make([]float64, len(segs))
	for i, s := range segs {
		// A segment runs to the next one's start, so that a gap in the
		// recording (a reconnect, a restart) keeps the timeline, as in
		// the MP4's own index.
		end := s.StartMs + s.DurationMs
		if i+1 < len(segs) {
			end = max(end, segs[i+1].StartMs)
		}
		durs[i] = float64(end-s.StartMs) / 1000
		target = max(target, math.Ceil(durs[i]))
	}
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", int(target))
	if r.m.Ended {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q,BYTERANGE=\"%d@0\"\n", fileName, moovEnd)
	off := initSize
	for i, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n#EXT-X-BYTERANGE:%d@%d\n%s\n", durs[i], s.Size, off, fileName)
		off += s.Size
	}
	if r.m.Ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// mp4MoovEnd returns where the MP4 recording r's moov box ends: its init
// without the index the final init carries after it.
func mp4MoovEnd(ctx context.Context, store Store, r *replay) (int64, error) {
	init := r.init
	if r.file != "" {
		rc, _, err := store.Open(ctx, r.file, 0, r.m.InitSize)
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		if init, err = io.ReadAll(rc); err != nil {
			return 0, fmt.Errorf("read the init of %s: %w", r.file, err)
		}
	}
	var end int64
	found := false
	err := walkBoxes(init, func(typ string, body []byte) error {
		if !found && typ == "moov" {
			// body aliases init: where it ends in init, from the capacities.
			end, found = int64(cap(init)-cap(body)+len(body)), true
		}
		return nil
	})
	if err != nil || !found {
		return 0, fmt.Errorf("the init of %s has no moov (%v)", r.prefix, err)
	}
	return end, nil
}

// serveHLS serves the playlist of the recording r, named "<name>.m3u8".
func (rp *Replays) serveHLS(w http.ResponseWriter, req *http.Request, r *replay, name string) {
	if r.format != mp4Format {
		replayNotFound(w, req) // WebM does not go in HLS; its file plays as it is
		return
	}
	moovEnd, err := mp4MoovEnd(req.Context(), rp.store, r)
	if err != nil {
		rp.fail(w, req, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	if r.m.Ended {
		h.Set("Cache-Control", "public, max-age=86400")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if req.Method == http.MethodHead {
		return
	}
	// Relative, so that the playlist works behind any host and prefix.
	file := name[strings.LastIndexByte(name, '/')+1:] + r.format.fileExt
	if err := hlsPlaylist(w, r, file, moovEnd); err != nil && req.Context().Err() == nil {
		rp.log.Warn("hls playlist not written", "path", req.URL.Path, "err", err)
	}
}
