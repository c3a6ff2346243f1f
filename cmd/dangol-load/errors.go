package main

import (
	"errors"
	"fmt"
)

var (
	// errRemoteServer means --server is not a loopback address and
	// --allow-remote was not given.
	errRemoteServer = errors.New("server is not on a loopback address (pass --allow-remote to allow it)")
	// errOtherHost means a redirect or Location header pointed at a host
	// other than --server; the tool never follows it.
	errOtherHost = errors.New("refusing to contact a host other than --server")
	// errNoLocation means a 201 answer carried no Location header, so the
	// session cannot be deleted.
	errNoLocation = errors.New("answer has no Location header")
	// errICEFailed means the PeerConnection failed or closed before it
	// connected.
	errICEFailed = errors.New("peer connection failed")
	// errConnectTimeout means the PeerConnection did not connect within
	// --connect-timeout.
	errConnectTimeout = errors.New("connect timed out")
	// errNoViewers means no viewer connected: the run failed.
	errNoViewers = errors.New("no viewer connected")
)

// statusError is an unexpected HTTP status from a WHIP or WHEP endpoint.
type statusError struct {
	method string
	code   int
	body   string // first bytes of the response body
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("%s: http %d", e.method, e.code)
	}
	return fmt.Sprintf("%s: http %d: %s", e.method, e.code, e.body)
}
