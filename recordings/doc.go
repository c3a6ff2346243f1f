// Package recordings records live broadcasts into segments in a Store and
// describes them with a manifest, for replays and crash recovery.
//
// Recorder takes the SFU's RTP packets (VP8 video, Opus audio) without ever
// blocking the media path, depacketizes them with pion's samplebuilder,
// places both tracks on one timeline and muxes WebM with ebml-go: an init
// segment (init.webm), media segments (000001.webm, ...) of about
// Options.SegmentDuration that each start with a video keyframe, and
// manifest.json, rewritten after every stored segment. init + segments,
// concatenated, is one playable WebM file; Close rewrites the init with the
// duration and a cue per segment.
//
// Store keeps the objects: DirStore in a local folder, S3Store in S3/MinIO.
// Replays serves a recording as that one WebM file, with range requests.
// Fragmented MP4 for H.264, chapters and clips are still to come (issue 4).
package recordings
