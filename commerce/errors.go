package commerce

import "errors"

// Error is one of the package's sentinel errors. Each has a stable code,
// meant for clients (the room's replies and the REST API use it as the
// error code), and a short English text. Store methods wrap a sentinel with
// a message saying what exactly is wrong; test for a sentinel with
// errors.Is and read the code with Code.
type Error struct {
	code string
	text string
}

func (e *Error) Error() string { return e.text }

// Code returns the error's stable code, such as "sold_out".
func (e *Error) Code() string { return e.code }

var (
	// ErrNotFound is returned when the channel (or other record) asked for
	// does not exist, or belongs to another channel.
	ErrNotFound = &Error{"not_found", "not found"}

	// ErrBadKey is returned when a stream key, studio token or viewer token
	// does not match the one stored.
	ErrBadKey = &Error{"unauthorized", "wrong key"}

	// ErrExists is returned when creating a record whose unique name (such as
	// a channel slug) is already taken, or starting a broadcast on a channel
	// that is already live.
	ErrExists = &Error{"exists", "already exists"}

	// ErrInvalid is returned, wrapped with a message saying what is wrong,
	// when input such as a slug or a name is not acceptable.
	ErrInvalid = &Error{"invalid", "invalid"}

	// ErrSoldOut is returned when a coupon has no claims left.
	ErrSoldOut = &Error{"sold_out", "sold out"}

	// ErrAlreadyClaimed is returned when a viewer claims a coupon twice.
	ErrAlreadyClaimed = &Error{"already_claimed", "already claimed"}

	// ErrOutOfStock is returned when an order asks for more of a product
	// than is in stock.
	ErrOutOfStock = &Error{"out_of_stock", "out of stock"}

	// ErrExpired is returned when a coupon is claimed after it expired.
	ErrExpired = &Error{"expired", "expired"}

	// ErrClosed is returned when a coupon the merchant closed is claimed.
	ErrClosed = &Error{"closed", "closed"}

	// ErrNotLive is returned for room actions (chat, coupon drops, pins) on
	// a broadcast that has ended.
	ErrNotLive = &Error{"not_live", "broadcast is not live"}

	// ErrMuted is returned when a muted viewer chats.
	ErrMuted = &Error{"muted", "muted"}

	// ErrBanned is returned when a banned viewer chats, claims or orders.
	ErrBanned = &Error{"banned", "banned"}

	// ErrNotClaimed is returned when an order uses a coupon the viewer has
	// not claimed.
	ErrNotClaimed = &Error{"coupon_not_claimed", "coupon not claimed"}

	// ErrCouponUsed is returned when an order uses a coupon claim that
	// another order already used.
	ErrCouponUsed = &Error{"coupon_used", "coupon already used"}

	// ErrBadTransition is returned when an order cannot move from its
	// current status to the one asked for (say, cancelling an order the
	// merchant has accepted).
	ErrBadTransition = &Error{"bad_transition", "order status cannot change that way"}

	// ErrForbidden is returned when a tutor acts on a channel that exists
	// but is not assigned to them.
	ErrForbidden = &Error{"forbidden", "not assigned to this tutor"}

	// ErrLive is returned when something that needs the channel off air is
	// asked while it is live: a practice session on a channel live for
	// real, cancelling a practice that went live.
	ErrLive = &Error{"live", "channel is live"}
)

// sentinels are all the package's *Error values, by code.
var sentinels = map[string]*Error{}

func init() {
	for _, e := range []*Error{
		ErrNotFound, ErrBadKey, ErrExists, ErrInvalid, ErrSoldOut, ErrAlreadyClaimed,
		ErrOutOfStock, ErrExpired, ErrClosed, ErrNotLive, ErrMuted, ErrBanned,
		ErrNotClaimed, ErrCouponUsed, ErrBadTransition, ErrForbidden, ErrLive,
	} {
		sentinels[e.code] = e
	}
}

// CodeInternal is the code of an error that is none of the sentinels: a
// database failure, a cancelled context.
const CodeInternal = "internal"

// Code returns the stable code of the sentinel err wraps (see Error), or
// CodeInternal if it wraps none, or "" for a nil error.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	return CodeInternal
}

// isDomain reports whether err is an outcome of the domain (sold out,
// invalid input, ...) rather than a failure of the machinery.
func isDomain(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// replayedError is a domain error read back from a stored command reply: it
// has the message of the original error and wraps the same sentinel.
type replayedError struct {
	msg      string
	sentinel *Error
}

func (e *replayedError) Error() string { return e.msg }
func (e *replayedError) Unwrap() error { return e.sentinel }
