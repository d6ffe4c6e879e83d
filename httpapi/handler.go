// Package httpapi serves scimtrail over HTTP: the SCIM 2.0 surface under /scim/v2/{tenant},
// the admin API under /api/v1, health and metrics. Handlers parse the request, call one
// service method, and render; authentication, authorization, error mapping, logging and
// metrics each live in exactly one place in this package.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// Options configure the handler; zero values are sane defaults.
type Options struct {
	Logger       *slog.Logger // nil: slog.Default()
	Metrics      *Metrics     // nil: no metrics, and /metrics is 404
	MaxBodyBytes int64        // 0: 1 MiB; every request body is read through http.MaxBytesReader
	// PublicURL, if set (e.g. "https://scim.example.com"), is the base of meta.location,
	// Location and $ref. Otherwise the request's scheme and Host are used, which is right
	// when clients reach the server directly but wrong behind a rewriting proxy.
	PublicURL string
	// SessionKey signs console session cookies; replicas need the same key (derived from the
	// server key) for a session to work on each. Nil: a random key per process.
	SessionKey []byte
	// RateLimit is the requests a second each tenant may make once its burst is spent
	// (0: no limit); RateBurst is the burst (0: twice RateLimit). Over it, a request gets
	// 429 with Retry-After. See ratelimit.go.
	RateLimit float64
	RateBurst int
}

const defaultMaxBody = 1 << 20

type handler struct {
	svc        *service.Service
	logger     *slog.Logger
	metrics    *Metrics
	maxBody    int64
	publicURL  string
	sessionKey []byte
	limiter    *tenantLimiter // nil: no rate limit
	renders    *renderCache
}

// NewHandler returns the HTTP handler of the whole server.
func NewHandler(svc *service.Service, opts Options) http.Handler {
	h := &handler{
		svc:        svc,
		logger:     opts.Logger,
		metrics:    opts.Metrics,
		maxBody:    opts.MaxBodyBytes,
		publicURL:  opts.PublicURL,
		sessionKey: opts.SessionKey,
		limiter:    newTenantLimiter(opts.RateLimit, opts.RateBurst, nil),
		renders:    newRenderCache(),
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.maxBody <= 0 {
		h.maxBody = defaultMaxBody
	}
	mux := http.NewServeMux()
	h.routes(mux)
	return h.observe(h.route(mux))
}

// routes registers every surface. Each surface's routing table is one function, read top to
// bottom; each authenticated route names its area, which decides the token kinds that may
// use it (auth.go).
func (h *handler) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /metrics", h.serveMetrics)
	h.openAPIRoutes(mux)
	h.scimRoutes(mux)
	h.adminRoutes(mux)
	h.auditRoutes(mux)
	h.exportRoutes(mux)
	h.eventsRoutes(mux)
	h.accessRoutes(mux)
	h.access2Routes(mux)
	h.reviewRoutes(mux)   // reviews.go
	h.externalRoutes(mux) // external.go
	h.consoleRoutes(mux)
	h.settingsRoutes(mux)
}

// scimRoutes is SCIM 2.0 (RFC 7644).
func (h *handler) scimRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /scim/v2/{tenant}/Users", h.guard(areaSCIM, h.createUser))
	mux.HandleFunc("GET /scim/v2/{tenant}/Users", h.guard(areaSCIM, h.listUsers))
	mux.HandleFunc("POST /scim/v2/{tenant}/Users/.search", h.guard(areaSCIM, h.searchUsers))
	mux.HandleFunc("GET /scim/v2/{tenant}/Users/{id}", h.guard(areaSCIM, h.getUser))
	mux.HandleFunc("PUT /scim/v2/{tenant}/Users/{id}", h.guard(areaSCIM, h.replaceUser))
	mux.HandleFunc("PATCH /scim/v2/{tenant}/Users/{id}", h.guard(areaSCIM, h.patchUser))
	mux.HandleFunc("DELETE /scim/v2/{tenant}/Users/{id}", h.guard(areaSCIM, h.deleteUser))
	mux.HandleFunc("POST /scim/v2/{tenant}/Groups", h.guard(areaSCIM, h.createGroup))
	mux.HandleFunc("GET /scim/v2/{tenant}/Groups", h.guard(areaSCIM, h.listGroups))
	mux.HandleFunc("POST /scim/v2/{tenant}/Groups/.search", h.guard(areaSCIM, h.searchGroups))
	mux.HandleFunc("GET /scim/v2/{tenant}/Groups/{id}", h.guard(areaSCIM, h.getGroup))
	mux.HandleFunc("PUT /scim/v2/{tenant}/Groups/{id}", h.guard(areaSCIM, h.replaceGroup))
	mux.HandleFunc("PATCH /scim/v2/{tenant}/Groups/{id}", h.guard(areaSCIM, h.patchGroup))
	mux.HandleFunc("DELETE /scim/v2/{tenant}/Groups/{id}", h.guard(areaSCIM, h.deleteGroup))
	mux.HandleFunc("POST /scim/v2/{tenant}/Agents", h.guard(areaSCIM, h.createAgent))
	mux.HandleFunc("GET /scim/v2/{tenant}/Agents", h.guard(areaSCIM, h.listAgents))
	mux.HandleFunc("GET /scim/v2/{tenant}/Agents/{id}", h.guard(areaSCIM, h.getAgent))
	mux.HandleFunc("PUT /scim/v2/{tenant}/Agents/{id}", h.guard(areaSCIM, h.replaceAgent))
	mux.HandleFunc("PATCH /scim/v2/{tenant}/Agents/{id}", h.guard(areaSCIM, h.patchAgent))
	mux.HandleFunc("DELETE /scim/v2/{tenant}/Agents/{id}", h.guard(areaSCIM, h.deleteAgent))
	mux.HandleFunc("POST /scim/v2/{tenant}/Bulk", h.guard(areaSCIM, h.bulk))
	mux.HandleFunc("POST /scim/v2/{tenant}/.search", h.guard(areaSCIM, h.searchAll))
	mux.HandleFunc("/scim/v2/{tenant}/Me", h.guard(areaSCIM, h.me))
	mux.HandleFunc("/scim/v2/{tenant}/Me/{rest...}", h.guard(areaSCIM, h.me))
	mux.HandleFunc("GET /scim/v2/{tenant}/ServiceProviderConfig", h.guard(areaSCIM, h.serviceProviderConfig))
	mux.HandleFunc("GET /scim/v2/{tenant}/ResourceTypes", h.guard(areaSCIM, h.resourceTypes))
	mux.HandleFunc("GET /scim/v2/{tenant}/ResourceTypes/{name}", h.guard(areaSCIM, h.resourceType))
	mux.HandleFunc("GET /scim/v2/{tenant}/Schemas", h.guard(areaSCIM, h.schemas))
	mux.HandleFunc("GET /scim/v2/{tenant}/Schemas/{urn}", h.guard(areaSCIM, h.schema))
}

// adminRoutes is the admin API (DESIGN.md §5): tenants and tokens.
func (h *handler) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/tenants", h.guard(areaInstall, h.createTenant))
	mux.HandleFunc("GET /api/v1/tenants", h.guard(areaInstall, h.listTenants))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}", h.guard(areaTenantAdmin, h.getTenant))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/tokens", h.guard(areaTenantAdmin, h.issueToken))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/tokens", h.guard(areaTenantAdmin, h.listTokens))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/tokens/{id}", h.guard(areaTenantAdmin, h.revokeToken))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/tokens/{id}/rotate", h.guard(areaTenantAdmin, h.rotateToken))
}

// call is what guard learned about a request before the handler runs.
type call struct {
	token  scimtrail.Token
	tenant string // the {tenant} path value; "" on routes without one
	origin service.Origin
	// user is the user of GET /Users/{id}, read with the token (authenticate).
	user *service.UserRead
}

// apiHandler handles an authenticated, authorized request. A returned error is written as
// the surface's error response; a handler that returns nil has written its response.
type apiHandler func(w http.ResponseWriter, r *http.Request, c call) error

// guard authenticates the request, authorizes it for area, and runs fn, writing fn's error.
func (h *handler) guard(a area, fn apiHandler) http.HandlerFunc {
	channel := scimtrail.ChannelAdminAPI
	if a == areaSCIM {
		channel = scimtrail.ChannelSCIM
	}
	return func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		infoFrom(r.Context()).tenant = tenant
		tok, user, err := h.authenticate(r)
		if err == nil {
			// Who asked goes into the access log: a token probing another tenant's ids
			// is seen there, since such requests write nothing to any ledger.
			infoFrom(r.Context()).tokenID = tok.ID
			err = h.rateLimited(w, tok)
		}
		if err == nil {
			err = h.authorize(r.Context(), tok, a, tenant)
		}
		o := originOf(r, tok, channel)
		if err == nil && a == areaSCIM {
			o.Dialect, err = h.scimDialect(r, tenant)
		}
		if err == nil {
			err = checkOnBehalfOf(r) // access2.go
		}
		if err == nil {
			w := h.withReceipt(w, r)
			err = fn(w, r, call{token: tok, tenant: tenant, origin: o, user: user})
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	}
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz answers 503 while the database is unreachable or its schema is not the one this
// build expects, so that a load balancer sends no traffic to a replica that cannot serve it.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.svc.Ready(ctx); err != nil {
		h.logger.LogAttrs(ctx, slog.LevelWarn, "not ready",
			slog.String("request_id", requestIDFrom(ctx)), slog.String("error", err.Error()))
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

func (h *handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if h.metrics == nil {
		writeStatusError(w, r, http.StatusNotFound, scimtrail.ENOTFOUND, "", notFoundMessage(r))
		return
	}
	h.metrics.handler().ServeHTTP(w, r)
}
