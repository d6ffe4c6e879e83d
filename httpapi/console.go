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
		// Derived from the server key, so sessions survive restarts and work on every
		// replica; nil (tests) draws a random key per process.
		SessionKey: h.sessionKey,
	})
	mux.Handle("/console/", c)
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
}
