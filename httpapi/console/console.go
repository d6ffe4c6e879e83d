// Package console is scimtrail's web console at /console/: server-rendered pages
// (html/template, htmx for partial updates) for tenant admins and auditors, with every asset
// embedded in the binary so the console works offline and needs no build step.
//
// A person signs in by pasting an admin, auditor or operator token; the console then keeps a
// session cookie and never the token's secret. Every change made in the console goes through
// the service's one write path and is recorded in the ledger with channel "console" and the
// session's token as the actor.
package console

import (
	"crypto/rand"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the console; zero values are sane defaults.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	// PublicURL, if set, is the server's external base URL; it is used for the SCIM base URL
	// shown on the Connect page, and an https:// value marks session cookies Secure.
	PublicURL string
	// SessionKey signs session cookies. Nil: a random key per process, so sessions end when
	// the process restarts and are not honoured by other replicas; set the same key on every
	// replica to let sessions survive both.
	SessionKey []byte
	// SessionTTL is how long a session lasts after sign-in; 0 means 8 hours. A session also
	// ends as soon as its token is revoked or expires.
	SessionTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Console serves /console/.
type Console struct {
	svc       *service.Service
	logger    *slog.Logger
	publicURL string
	sessions  sessionCodec
	ttl       time.Duration
	now       func() time.Time
	pages     map[string]*template.Template
	handler   http.Handler
}

// New returns the console over svc.
func New(svc *service.Service, opts Options) *Console {
	c := &Console{
		svc:       svc,
		logger:    opts.Logger,
		publicURL: strings.TrimRight(opts.PublicURL, "/"),
		ttl:       opts.SessionTTL,
		now:       opts.Now,
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.ttl <= 0 {
		c.ttl = 8 * time.Hour
	}
	if c.now == nil {
		c.now = time.Now
	}
	key := opts.SessionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	c.sessions = sessionCodec{key: key}
	c.pages = parsePages()

	mux := http.NewServeMux()
	c.routes(mux)
	// CrossOriginProtection rejects every state-changing request that a browser marks as
	// coming from another origin (Sec-Fetch-Site, or Origin against Host), which together
	// with SameSite=Strict cookies is the console's CSRF defence.
	c.handler = securityHeaders(http.NewCrossOriginProtection().Handler(mux))
	return c
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// routes is the console's routing table. Every page of one tenant lives under
// /console/t/{tenant}/ and is wrapped by c.page, which checks the session and the tenant; the
// names of the write actions say which token kinds may use them (c.mayChange).
func (c *Console) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /console/{$}", c.home)
	mux.HandleFunc("GET /console/signin", c.signinForm)
	mux.HandleFunc("POST /console/signin", c.signin)
	mux.HandleFunc("POST /console/signout", c.signout)
	mux.HandleFunc("GET /console/tenants", c.signedIn(c.tenantPicker))

	mux.HandleFunc("GET /console/t/{tenant}/{$}", c.page(c.overview))
	mux.HandleFunc("GET /console/t/{tenant}/connect", c.page(c.connect))
	mux.HandleFunc("POST /console/t/{tenant}/connect/tokens", c.page(c.issueToken))
	mux.HandleFunc("POST /console/t/{tenant}/connect/tokens/{id}/rotate", c.page(c.rotateToken))
	mux.HandleFunc("POST /console/t/{tenant}/connect/tokens/{id}/revoke", c.page(c.revokeToken))
	mux.HandleFunc("GET /console/t/{tenant}/users", c.page(c.users))
	mux.HandleFunc("GET /console/t/{tenant}/users/{id}", c.page(c.user))
	mux.HandleFunc("GET /console/t/{tenant}/groups", c.page(c.groups))
	mux.HandleFunc("GET /console/t/{tenant}/groups/{id}", c.page(c.group))
	mux.HandleFunc("GET /console/t/{tenant}/roles", c.page(c.roles))
	mux.HandleFunc("POST /console/t/{tenant}/roles", c.page(c.createRole))
	mux.HandleFunc("GET /console/t/{tenant}/roles/{role}", c.page(c.roleHolders))
	mux.HandleFunc("POST /console/t/{tenant}/mappings", c.page(c.createMapping))
	mux.HandleFunc("POST /console/t/{tenant}/mappings/{id}/delete", c.page(c.deleteMapping))
	mux.HandleFunc("POST /console/t/{tenant}/grants", c.page(c.createGrant))
	mux.HandleFunc("POST /console/t/{tenant}/grants/{id}/revoke", c.page(c.revokeGrant))
	mux.HandleFunc("GET /console/t/{tenant}/break-glass", c.page(c.breakGlass))
	mux.HandleFunc("POST /console/t/{tenant}/break-glass", c.page(c.requestBreakGlass))
	mux.HandleFunc("POST /console/t/{tenant}/break-glass/{id}/approve", c.page(c.decideBreakGlass(true)))
	mux.HandleFunc("POST /console/t/{tenant}/break-glass/{id}/deny", c.page(c.decideBreakGlass(false)))
	mux.HandleFunc("GET /console/t/{tenant}/audit", c.page(c.audit))
	mux.HandleFunc("GET /console/t/{tenant}/audit/checkpoint", c.page(c.auditCheckpoint))
	mux.HandleFunc("GET /console/t/{tenant}/audit/proof", c.page(c.auditProof))
	mux.HandleFunc("GET /console/t/{tenant}/service-accounts", c.page(c.serviceAccounts))
	mux.HandleFunc("POST /console/t/{tenant}/service-accounts", c.page(c.createServiceAccount))
	mux.HandleFunc("POST /console/t/{tenant}/service-accounts/{id}/keys", c.page(c.issueKey))
	mux.HandleFunc("POST /console/t/{tenant}/service-accounts/{id}/keys/{key}/rotate", c.page(c.rotateKey))
	mux.HandleFunc("POST /console/t/{tenant}/service-accounts/{id}/keys/{key}/revoke", c.page(c.revokeKey))
	mux.HandleFunc("POST /console/t/{tenant}/service-accounts/{id}/disable", c.page(c.disableServiceAccount))
	mux.HandleFunc("GET /console/t/{tenant}/reports", c.page(c.reportsPage))
	mux.HandleFunc("GET /console/t/{tenant}/reports/{report}", c.page(c.downloadReport))
	mux.HandleFunc("GET /console/t/{tenant}/exports", c.page(c.exports))
	mux.HandleFunc("POST /console/t/{tenant}/exports", c.page(c.createSink))
	mux.HandleFunc("POST /console/t/{tenant}/exports/{id}/retry", c.page(c.retrySink))
	mux.HandleFunc("POST /console/t/{tenant}/exports/{id}/rotate", c.page(c.rotateSink))
	mux.HandleFunc("POST /console/t/{tenant}/exports/{id}/delete", c.page(c.deleteSink))
	mux.HandleFunc("GET /console/t/{tenant}/settings", c.page(c.settings))
	mux.HandleFunc("POST /console/t/{tenant}/settings", c.page(c.saveSettings))
	mux.HandleFunc("POST /console/t/{tenant}/settings/retention", c.page(c.saveRetention))
	mux.HandleFunc("GET /console/t/{tenant}/schemas", c.page(c.schemas))
	mux.HandleFunc("POST /console/t/{tenant}/schemas", c.page(c.registerSchema))
	mux.HandleFunc("/console/", c.notFound)
}

// securityHeaders keeps the console out of frames and forbids inline scripts from anywhere
// but the console's own static files.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// session is who is signed in: their token, re-read on every request.
type session struct {
	token   scimtrail.Token
	expires time.Time
}

// canChange reports whether the session's token may change anything: auditors may not.
func (s session) canChange() bool {
	return s.token.Kind == scimtrail.TokenOperator || s.token.Kind == scimtrail.TokenAdmin
}

// actorTypes is the ledger actor type of each token kind that can sign in.
var actorTypes = map[scimtrail.TokenKind]string{
	scimtrail.TokenOperator: scimtrail.ActorAdmin,
	scimtrail.TokenAdmin:    scimtrail.ActorDelegatedAdmin,
	scimtrail.TokenAuditor:  "auditor",
}
