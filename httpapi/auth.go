package httpapi

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/dialect"
	"github.com/scimtrail/scimtrail/service"
)

// area is a group of routes that the same token kinds may use. Every route in the routing
// table names its area, and mayUse below is the whole authorization policy.
type area int

const (
	areaInstall     area = iota // /api/v1/tenants: create and list tenants
	areaTenantAdmin             // /api/v1/tenants/{tenant}, …/tokens: delegated administration
	areaAudit                   // GET /api/v1/tenants/{tenant}/audit…: read the log
	areaSCIM                    // /scim/v2/{tenant}/…
	areaEvents                  // GET /api/v1/tenants/{tenant}/events: the app's pull API
	areaApp                     // POST /api/v1/tenants/{tenant}/events: the vendor's app
)

// mayUse lists, per area, the token kinds that may use it. An operator may do everything;
// every other kind is also confined to its own tenant (see authorize).
var mayUse = map[area][]scimtrail.TokenKind{
	areaInstall:     {scimtrail.TokenOperator},
	areaTenantAdmin: {scimtrail.TokenOperator, scimtrail.TokenAdmin},
	areaAudit:       {scimtrail.TokenOperator, scimtrail.TokenAdmin, scimtrail.TokenAuditor},
	areaSCIM:        {scimtrail.TokenOperator, scimtrail.TokenSCIM},
	areaEvents:      {scimtrail.TokenOperator, scimtrail.TokenAdmin, scimtrail.TokenApp},
	areaApp:         {scimtrail.TokenOperator, scimtrail.TokenApp},
}

// authorize decides whether tok may use a route of area a about tenant ("" for routes not
// about one tenant). A route of a tenant other than the token's own, or of a tenant that does
// not exist, is ENOTFOUND — the very response a missing resource gets — so that no token
// learns whether another tenant exists; only a token of the right tenant but the wrong kind
// hears EFORBIDDEN.
func (h *handler) authorize(ctx context.Context, tok scimtrail.Token, a area, tenant string) error {
	if tenant != "" {
		if tok.Kind == scimtrail.TokenOperator {
			if _, err := h.svc.Tenant(ctx, tenant); err != nil {
				return err
			}
		} else if tok.Tenant != tenant {
			return scimtrail.Errorf(scimtrail.ENOTFOUND, "no such tenant")
		}
	}
	if !slices.Contains(mayUse[a], tok.Kind) {
		return scimtrail.Errorf(scimtrail.EFORBIDDEN, "a %s token may not use this endpoint", tok.Kind)
	}
	return nil
}

// errUnauthenticated is the one answer to every credential problem; it does not say which
// one, so that probing tokens teaches nothing.
var errUnauthenticated = scimtrail.Errorf(scimtrail.EUNAUTHORIZED,
	"a valid bearer token is required (Authorization: Bearer <token>)")

// getUserRoute is the route whose user authenticate reads together with the token
// (service.AuthenticateWithUser): one statement instead of two for the commonest request.
const getUserRoute = "GET /scim/v2/{tenant}/Users/{id}"

// authenticate returns the token of r's bearer credential and, on getUserRoute, the user
// the request asks for, which must not be used before the token is authorized for the
// tenant. Missing, malformed, unknown, expired and revoked credentials are all
// errUnauthenticated; other failures (the database is down) are returned as they are.
func (h *handler) authenticate(r *http.Request) (scimtrail.Token, *service.UserRead, error) {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return scimtrail.Token{}, nil, errUnauthenticated
	}
	var tok scimtrail.Token
	var user *service.UserRead
	var err error
	if r.Pattern == getUserRoute {
		tok, user, err = h.svc.AuthenticateWithUser(r.Context(), secret, r.PathValue("tenant"), r.PathValue("id"))
	} else {
		tok, err = h.svc.Authenticate(r.Context(), secret)
	}
	switch scimtrail.ErrorCode(err) {
	case "":
	case scimtrail.EUNAUTHORIZED, scimtrail.ENOTFOUND, scimtrail.EFORBIDDEN:
		return scimtrail.Token{}, nil, errUnauthenticated
	default:
		return scimtrail.Token{}, nil, err
	}
	// The service checks this too; checking again here costs nothing and means a bug there
	// cannot let a revoked token through. Expiry is left to the service alone, whose clock
	// is the one that issued the token.
	if !tok.Revoked.IsZero() {
		return scimtrail.Token{}, nil, errUnauthenticated
	}
	return tok, user, nil
}

// actorTypes is the ledger actor type of each token kind that can make changes.
var actorTypes = map[scimtrail.TokenKind]string{
	scimtrail.TokenOperator: scimtrail.ActorAdmin,
	scimtrail.TokenAdmin:    scimtrail.ActorDelegatedAdmin,
	scimtrail.TokenSCIM:     scimtrail.ActorIdPSync,
	scimtrail.TokenApp:      scimtrail.ActorApp,
}

// originOf builds the ledger actor of a request. The client address is the TCP peer's: a
// proxy's X-Forwarded-For is not trusted, since any client can send one.
func originOf(r *http.Request, tok scimtrail.Token, channel string) service.Origin {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	typ, ok := actorTypes[tok.Kind]
	if !ok {
		typ = string(tok.Kind)
	}
	return service.Origin{
		Actor: scimtrail.Actor{
			Type:       typ,
			ID:         tok.ID,
			TokenID:    tok.ID,
			IP:         ip,
			UserAgent:  r.UserAgent(),
			RequestID:  requestIDFrom(r.Context()),
			OnBehalfOf: r.Header.Get(onBehalfOfHeader), // checked by guard (access2.go)
		},
		Received: time.Now().UTC(),
		Channel:  channel,
		// guard replaces this with the tenant's own dialect setting on SCIM routes; Auto
		// recognises Entra and Okta by their request shapes and never changes the
		// meaning of a request that is valid SCIM.
		Dialect: dialect.Resolve(dialect.Auto, r.UserAgent(), r.URL.Query()),
	}
}
