// Package recordings records live broadcasts into segments in a Store and
// describes them with a manifest, for replays, product clips and crash
// recovery.
//
// Recorder takes the SFU's RTP packets (VP8 or H.264 video, Opus audio)
// without ever blocking the media path, depacketizes them with pion's
// samplebuilder, places both tracks on one timeline and muxes them: WebM
// with ebml-go for VP8, fragmented MP4 for H.264 (fmp4.go writes the boxes:
// no MP4 library was obtainable). A recording is an init segment, media
// segments of about Options.SegmentDuration that each start with a video
// keyframe (asked for when a segment is due, and at every chapter), and
// manifest.json, rewritten after every stored segment. init + segments,
// concatenated, is one playable file; Close rewrites the init with the
// duration and an index (WebM cues, an MP4 sidx).
//
// After a crash, Recover closes what the dead process left open, and
// ResumeRecorder carries a recording on when its broadcast goes on. Once a
// broadcast has ended, MakeClips cuts a clip per pinned product from whole
// segments, and Consolidate stores the recording as one object.
//
// Store keeps the objects: DirStore in a local folder, S3Store in S3/MinIO.
// Replays serves a recording and its clips as single files with range
// requests, or from S3 by redirect to signed URLs.
package recordings
