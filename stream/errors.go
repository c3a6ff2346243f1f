package stream

import "errors"

// Errors returned by the Channels dependency and by the server's own checks. The HTTP layer maps
// each to one status code (see httpError).
var (
	// ErrUnknownChannel means no channel has that slug.
	ErrUnknownChannel = errors.New("unknown channel")
	// ErrUnauthorized means the bearer token is missing or is not the channel's key.
	ErrUnauthorized = errors.New("wrong or missing stream key")
	// ErrNotLive means nobody is publishing on the channel.
	ErrNotLive = errors.New("channel is not live")
	// ErrPublisherActive means another publisher is live on the channel and still sending.
	ErrPublisherActive = errors.New("another publisher is live on this channel")
	// ErrFull means a viewer or publisher limit has been reached.
	ErrFull = errors.New("server is full")
	// ErrBadOffer means the SDP offer is missing, malformed or has nothing usable in it.
	ErrBadOffer = errors.New("bad SDP offer")
	// ErrCodecMismatch means the offer has no codec the broadcast can use.
	ErrCodecMismatch = errors.New("no common codec")
	// ErrSessionNotFound means the WHIP/WHEP resource does not exist (any more).
	ErrSessionNotFound = errors.New("session not found")
	// ErrClosed means the server is shutting down.
	ErrClosed = errors.New("server closed")
)
