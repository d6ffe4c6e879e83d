package httpapi

import "net/http"

// RegisteredPattern is the ServeMux pattern that the real routing table matches r to, or ""
// when none does. The isolation matrix uses it to prove that every route it found in the
// source is registered, and registered under exactly that pattern.
func RegisteredPattern(r *http.Request) string {
	mux := http.NewServeMux()
	(&handler{}).routes(mux)
	_, pattern := mux.Handler(r)
	return pattern
}
