// Package recordings will record live broadcasts from the SFU's up-tracks into fragmented MP4
// (H.264) or WebM (VP8) segments, upload them to the object store, and serve replays. It is
// empty until that work lands (issue 4); the folder marks its place in the layout.
package recordings
