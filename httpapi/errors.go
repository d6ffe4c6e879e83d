package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// statusOf is the one place where a domain error code becomes an HTTP status (STYLE.md
// "Errors"). Every error response of every surface goes through it.
func statusOf(err error) int {
	switch scimtrail.ErrorCode(err) {
	case scimtrail.EINVALID:
		return http.StatusBadRequest
	case scimtrail.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case scimtrail.EFORBIDDEN:
		return http.StatusForbidden
	case scimtrail.ENOTFOUND:
		return http.StatusNotFound
	case scimtrail.ECONFLICT:
		return http.StatusConflict
	case scimtrail.EPRECONDITION:
		return http.StatusPreconditionFailed
	case scimtrail.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case scimtrail.ETOOMANY:
		// RFC 7644 §3.12: "tooMany" is a 400 (the request would return too many results);
		// anything else too many is rate limiting.
		if scimtrail.ErrorScimType(err) == scimtrail.ScimTooMany {
			return http.StatusBadRequest
		}
		return http.StatusTooManyRequests
	case scimtrail.ENOTIMPLEMENTED:
		return http.StatusNotImplemented
	case scimtrail.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// isSCIM reports whether the request is on the SCIM surface, whose errors are SCIM Error
// messages; everything else gets the admin API's JSON error shape.
func isSCIM(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/scim/")
}

// writeError writes err as the error response of r's surface. Internal errors are logged in
// full and shown as a generic message, so driver internals never reach clients. Every 404
// says the same thing about the request path whatever its cause — a missing resource, a
// tenant that does not exist, or another tenant's route — so that a response never hints
// that another tenant exists.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := scimtrail.ErrorMessage(err)
	scimType := scimtrail.ErrorScimType(err)
	code := scimtrail.ErrorCode(err)
	switch status {
	case http.StatusInternalServerError:
		h.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestIDFrom(r.Context())),
			slog.String("error", err.Error()))
		msg, code, scimType = "internal error", scimtrail.EINTERNAL, ""
	case http.StatusServiceUnavailable:
		// The cause is the database's, not the request's; log it (a warning: the
		// operator sees it in /readyz too) and tell the client when to come back.
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "store unavailable",
			slog.String("request_id", requestIDFrom(r.Context())),
			slog.String("error", err.Error()))
		w.Header().Set("Retry-After", unavailableRetryAfter)
	case http.StatusNotFound:
		msg, scimType = notFoundMessage(r), ""
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeStatusError(w, r, status, code, scimType, msg)
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503 for an unavailable store:
// long enough for a restarted database to finish crash recovery, short enough that an IdP
// does not hold its changes back for long.
const unavailableRetryAfter = "5"

func notFoundMessage(r *http.Request) string {
	return "no resource at " + r.URL.Path
}

// scimError is the SCIM Error message (RFC 7644 §3.12). Status is a string there.
type scimError struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// apiError is the admin API's error shape (DESIGN.md §5).
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeStatusError writes an error body of r's surface with an explicit status; the router's
// own 404 and 405, which have no domain error, come here directly.
func writeStatusError(w http.ResponseWriter, r *http.Request, status int, code, scimType, msg string) {
	if isSCIM(r) {
		writeSCIM(w, status, scimError{
			Schemas:  []string{schema.ErrorSchema},
			Status:   strconv.Itoa(status),
			ScimType: scimType,
			Detail:   msg,
		})
		return
	}
	var body apiError
	body.Error.Code = code
	body.Error.Message = msg
	writeJSON(w, status, body)
}

// scimContentType is the SCIM media type exactly as RFC 7644 §3.1 and §8.1 write it: the
// body is always UTF-8 JSON (RFC 8259 §8.1 defines no charset parameter), and clients that
// compare the header verbatim exist.
const scimContentType = "application/scim+json"

func writeSCIM(w http.ResponseWriter, status int, v any) {
	writeBody(w, scimContentType, status, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeBody(w, "application/json; charset=utf-8", status, v)
}

func writeBody(w http.ResponseWriter, contentType string, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil {
		// Only values built by this package are marshalled; failing here is a bug.
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
		status = http.StatusInternalServerError
	}
	writeBytes(w, contentType, status, b)
}

// writeBytes writes an encoded body.
func writeBytes(w http.ResponseWriter, contentType string, status int, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// bodyError turns a failure to read a request body into a domain error: over the limit is
// ETOOLARGE, anything else (the client went away) is invalid input.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return scimtrail.Errorf(scimtrail.ETOOLARGE, "the request body is larger than %d bytes", tooLarge.Limit)
	}
	return &scimtrail.Error{Code: scimtrail.EINVALID, ScimType: scimtrail.ScimInvalidSyntax, Message: "the request body could not be read", Err: err}
}
