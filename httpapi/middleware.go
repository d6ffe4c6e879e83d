package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
)

// requestInfo travels in the request context from the outermost middleware inwards; inner
// layers fill in what only they know (the route pattern, the tenant) so that the access log
// and the metrics, written on the way out, can report it.
type requestInfo struct {
	id      string
	route   string // the matched pattern's path, or "unmatched"
	tenant  string
	tokenID string // the authenticated token's id (never its secret), or ""
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

func requestIDFrom(ctx context.Context) string { return infoFrom(ctx).id }

// saneRequestID reports whether an incoming X-Request-Id may be reused: short, and only
// characters that cannot forge log lines or headers.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

// statusRecorder remembers the status a handler wrote, for the log, the metrics, and so that
// panic recovery knows whether a response was already started.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe is the outermost middleware: it assigns the request id, bounds the body, recovers
// panics, and writes the access log line and the metrics once the response is done.
func (h *handler) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		ri := &requestInfo{id: id, route: "unmatched"}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		rec := &statusRecorder{ResponseWriter: w}

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("request_id", id),
					slog.String("route", ri.route),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())))
				if rec.status == 0 {
					writeStatusError(rec, r, http.StatusInternalServerError, "internal", "", "internal error")
				} else {
					// The response has started; the only honest thing left is to cut it off.
					rec.status = http.StatusInternalServerError
				}
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			d := time.Since(start)
			method := metricMethod(r.Method)
			h.metrics.observeRequest(ri.route, method, rec.status, d)
			// Never the Authorization header or any token value: only what identifies the
			// request and its outcome.
			h.logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("route", ri.route),
				slog.Int("status", rec.status),
				slog.Duration("duration", d),
				slog.String("tenant", ri.tenant),
				slog.String("token_id", ri.tokenID),
				slog.String("request_id", id),
				slog.Int64("bytes", rec.bytes))
		}()
		next.ServeHTTP(rec, r)
	})
}

// metricMethod bounds the method label: clients can send any token as a method, and each
// distinct label value is a new time series.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// route dispatches through mux, but answers unmatched paths and wrong methods itself so that
// they get the surface's error body (a SCIM Error under /scim/v2) instead of the mux's plain
// text. Path-cleaning redirects from the mux pass through unchanged.
func (h *handler) route(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if pattern != "" {
			infoFrom(r.Context()).route = routeOf(pattern)
			mux.ServeHTTP(w, r)
			return
		}
		// Ask the mux what it would have said without letting it write: a 405 carries the
		// Allow header we must keep; a redirect is passed on as is.
		probe := &headerProbe{header: http.Header{}}
		mux.ServeHTTP(probe, r)
		switch {
		case probe.status == http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeStatusError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "",
				fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
		case probe.status >= 300 && probe.status < 400:
			for k, v := range probe.header {
				w.Header()[k] = v
			}
			w.WriteHeader(probe.status)
		default:
			writeStatusError(w, r, http.StatusNotFound, "not_found", "", notFoundMessage(r))
		}
	})
}

// routeOf strips the method from a ServeMux pattern: "GET /healthz" → "/healthz".
func routeOf(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[i+1:]
		}
		if pattern[i] == '/' {
			break
		}
	}
	return pattern
}

// headerProbe is a ResponseWriter that records the status and headers and drops the body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
