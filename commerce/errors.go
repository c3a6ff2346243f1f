package commerce

import "errors"

var (
	// ErrNotFound is returned when the channel (or other record) asked for
	// does not exist.
	ErrNotFound = errors.New("not found")

	// ErrBadKey is returned when a stream key or studio token does not match
	// the one stored for the channel.
	ErrBadKey = errors.New("wrong key")

	// ErrExists is returned when creating a record whose unique name (such as
	// a channel slug) is already taken.
	ErrExists = errors.New("already exists")

	// ErrInvalid is returned, wrapped with a message saying what is wrong,
	// when input such as a slug or a name is not acceptable.
	ErrInvalid = errors.New("invalid")
)
