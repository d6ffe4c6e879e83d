package httpapi

import (
	"net/http"

	"github.com/scimtrail/scimtrail/httpapi/console"
)

// consoleRoutes mounts the web console (package console) at /console/. The console checks
// its own sessions and serves HTML, so it bypasses guard; it calls the same service.
func (h *handler) consoleRoutes(mux *http.ServeMux) {
	c := console.New(h.svc, console.Options{
		Logger:    h.logger,
		PublicURL: h.publicURL,
		// No SessionKey yet: a random key per process, so console sessions end when the
		// server restarts and are not honoured by other replicas (sign in again).
	})
	mux.Handle("/console/", c)
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
}
