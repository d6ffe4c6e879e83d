package scimtrail

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in httpapi; SCIM responses add the ScimType.
const (
	EINVALID        = "invalid"         // 400: the request is malformed or violates the schema
	EUNAUTHORIZED   = "unauthorized"    // 401: no valid credential
	EFORBIDDEN      = "forbidden"       // 403: the credential may not do this
	ENOTFOUND       = "not_found"       // 404: no such thing (also used to hide other tenants' things)
	ECONFLICT       = "conflict"        // 409: uniqueness or state conflict
	EPRECONDITION   = "precondition"    // 412: If-Match did not match
	ETOOLARGE       = "too_large"       // 413: body or bulk over its limit
	ETOOMANY        = "too_many"        // 429 or 400 tooMany, see ScimType
	ENOTIMPLEMENTED = "not_implemented" // 501
	EINTERNAL       = "internal"        // 500
	EUNAVAILABLE    = "unavailable"     // 503: the database is down or cannot write; retry later
)

// ErrUnavailable is in the chain of every error caused by a database that cannot be reached
// or cannot read or write its files (PostgreSQL down, SQLite I/O error, disk full). Both
// stores wrap such failures with it (Unavailable) so that the request is answered 503 with
// Retry-After, not 500: nothing is wrong with the request, and the same request will work
// once the database is back. ErrorCode reports EUNAVAILABLE for any error that wraps it.
var ErrUnavailable = errors.New("the store is unavailable")

// Unavailable wraps a database failure cause as EUNAVAILABLE. Its message is shown to
// clients; cause, which may carry driver internals, is only logged. A cause that already
// carries a domain decision (an *Error with any code but EINTERNAL) is returned unchanged:
// the request was answered on its merits.
func Unavailable(cause error) error {
	var e *Error
	if errors.Is(cause, ErrUnavailable) || errors.As(cause, &e) && e.Code != EINTERNAL {
		return cause
	}
	return &Error{Code: EUNAVAILABLE, Message: "the store is unavailable; retry later", Err: fmt.Errorf("%w: %w", ErrUnavailable, cause)}
}

// SCIM error types (RFC 7644 §3.12), carried in Error.ScimType.
const (
	ScimInvalidFilter = "invalidFilter"
	ScimTooMany       = "tooMany"
	ScimUniqueness    = "uniqueness"
	ScimMutability    = "mutability"
	ScimInvalidSyntax = "invalidSyntax"
	ScimInvalidPath   = "invalidPath"
	ScimNoTarget      = "noTarget"
	ScimInvalidValue  = "invalidValue"
	ScimInvalidVers   = "invalidVers"
	ScimSensitive     = "sensitive"
	ScimInvalidCursor = "invalidCursor" // RFC 9865
	ScimExpiredCursor = "expiredCursor" // RFC 9865
)

// Error is the one domain error type. Message is written for the person who sent the request:
// it names the attribute, value or resource at fault and never carries driver internals.
type Error struct {
	Code     string
	ScimType string
	Message  string
	Err      error // optional cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ScimErrorf returns an *Error with a code, a SCIM scimType and a formatted message.
func ScimErrorf(code, scimType, format string, args ...any) *Error {
	return &Error{Code: code, ScimType: scimType, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	// However deep, an unavailable store decides the answer: a layer above the store may
	// have wrapped it in an internal error of its own.
	if errors.Is(err, ErrUnavailable) {
		return EUNAVAILABLE
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the *Error's message, or a generic
// text for internal errors so that no internals leak to clients.
func ErrorMessage(err error) string {
	if errors.Is(err, ErrUnavailable) {
		return "the store is unavailable; retry later"
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorScimType returns the SCIM scimType of err, or "".
func ErrorScimType(err error) string {
	if errors.Is(err, ErrUnavailable) {
		return "" // RFC 7644 has no scimType for it
	}
	var e *Error
	if errors.As(err, &e) {
		return e.ScimType
	}
	return ""
}
