package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// cookieName is the session cookie. It is scoped to /console/ so the API never sees it.
const cookieName = "scimtrail_session"

// sessionCodec signs and checks session cookies. A cookie carries the token's id, its
// tenant and the session's expiry, signed with HMAC-SHA-256; it never carries the token's
// secret. Because the token itself is looked up again on every request, revoking the token
// (or its expiry) ends every session made with it at once, on every replica that shares the
// key — there is no server-side session table to keep in sync.
type sessionCodec struct{ key []byte }

func (sc sessionCodec) mac(payload string) []byte {
	m := hmac.New(sha256.New, sc.key)
	m.Write([]byte("scimtrail console session v1\n"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// encode returns the cookie value for a session of token tok until expires.
func (sc sessionCodec) encode(tok scimtrail.Token, expires time.Time) string {
	payload := strings.Join([]string{tok.ID, tok.Tenant, strconv.FormatInt(expires.Unix(), 10)}, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(sc.mac(payload))
}

var errNoSession = errors.New("no valid session")

// decode checks a cookie value's signature and expiry and returns the token id and tenant.
func (sc sessionCodec) decode(value string, now time.Time) (id, tenant string, expires time.Time, err error) {
	p64, s64, ok := strings.Cut(value, ".")
	if !ok {
		return "", "", time.Time{}, errNoSession
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(s64)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, sc.mac(string(payload))) {
		return "", "", time.Time{}, errNoSession
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 3 {
		return "", "", time.Time{}, errNoSession
	}
	unix, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", "", time.Time{}, errNoSession
	}
	expires = time.Unix(unix, 0)
	if !now.Before(expires) {
		return "", "", time.Time{}, errNoSession
	}
	return parts[0], parts[1], expires, nil
}

// secure reports whether cookies should be marked Secure: the request came over TLS, or the
// server's public URL is https (TLS ends at a proxy in front of us).
func (c *Console) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(c.publicURL, "https://")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     "/console/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   c.secure(r),
		SameSite: http.SameSiteStrictMode,
	})
}

// session returns the signed-in session of r, re-checking its token: a revoked, expired or
// deleted token, or a token whose kind may not use the console, is no session.
func (c *Console) session(r *http.Request) (session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, errNoSession
	}
	now := c.now()
	id, tenant, expires, err := c.sessions.decode(ck.Value, now)
	if err != nil {
		return session{}, err
	}
	toks, err := c.svc.Tokens(r.Context(), tenant)
	if scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND {
		return session{}, errNoSession
	} else if err != nil {
		return session{}, err
	}
	for _, t := range toks {
		if t.ID == id {
			if !t.Usable(now) || !mayUseConsole(t.Kind) {
				return session{}, errNoSession
			}
			return session{token: t, expires: expires}, nil
		}
	}
	return session{}, errNoSession
}

// mayUseConsole lists the token kinds that may sign in: SCIM and app tokens are for
// machines and have no business in a browser.
func mayUseConsole(k scimtrail.TokenKind) bool {
	return k == scimtrail.TokenOperator || k == scimtrail.TokenAdmin || k == scimtrail.TokenAuditor
}

// origin is the ledger actor of a console action: the session's token, through the console.
func (c *Console) origin(w http.ResponseWriter, r *http.Request, s session) service.Origin {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	typ, ok := actorTypes[s.token.Kind]
	if !ok {
		typ = string(s.token.Kind)
	}
	return service.Origin{
		Actor: scimtrail.Actor{
			Type:      typ,
			ID:        s.token.ID,
			TokenID:   s.token.ID,
			IP:        ip,
			UserAgent: r.UserAgent(),
			// The server's request middleware has assigned the id already.
			RequestID: w.Header().Get("X-Request-Id"),
		},
		Channel: scimtrail.ChannelConsole,
	}
}

func (c *Console) signinForm(w http.ResponseWriter, r *http.Request) {
	if _, err := c.session(r); err == nil {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "signin", &view{Title: "Sign in", Data: signinData{Next: r.URL.Query().Get("next")}})
}

type signinData struct {
	Error string
	Next  string
}

// signin exchanges a token for a session cookie. Every failure says the same thing, so that
// the form teaches nothing about which tokens exist.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	secret := strings.TrimSpace(r.PostFormValue("token"))
	tok, err := c.svc.Authenticate(r.Context(), secret)
	if err == nil && !mayUseConsole(tok.Kind) {
		err = scimtrail.Errorf(scimtrail.EFORBIDDEN, "kind")
	}
	if err != nil {
		if code := scimtrail.ErrorCode(err); code != scimtrail.EUNAUTHORIZED && code != scimtrail.EFORBIDDEN {
			c.serverError(w, r, err)
			return
		}
		c.render(w, r, http.StatusUnauthorized, "signin", &view{Title: "Sign in", Data: signinData{
			Error: "That token was not accepted. Paste an admin, auditor or operator token that has not been revoked or expired. SCIM tokens cannot sign in to the console.",
			Next:  r.PostFormValue("next"),
		}})
		return
	}
	expires := c.now().Add(c.ttl)
	if !tok.Expires.IsZero() && tok.Expires.Before(expires) {
		expires = tok.Expires
	}
	c.setCookie(w, r, c.sessions.encode(tok, expires), int(time.Until(expires).Seconds()))
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "/console//") {
		next = "/console/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	c.setCookie(w, r, "", -1)
	http.Redirect(w, r, "/console/signin?signedout=1", http.StatusSeeOther)
}

// home sends a signed-in person to their tenant, an operator to the tenant picker.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(r)
	if err != nil {
		c.toSignin(w, r, err)
		return
	}
	if s.token.Kind == scimtrail.TokenOperator {
		http.Redirect(w, r, "/console/tenants", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/console/t/"+s.token.Tenant+"/", http.StatusSeeOther)
}

func (c *Console) toSignin(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, errNoSession) {
		c.serverError(w, r, err)
		return
	}
	target := "/console/signin"
	if r.Method == http.MethodGet && r.URL.Path != "/console/" {
		target += "?next=" + urlQueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") != "" {
		// htmx follows a redirect inside the fragment; send the whole page to sign-in.
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// signedIn wraps a handler that needs a session but no tenant.
func (c *Console) signedIn(fn func(w http.ResponseWriter, r *http.Request, s session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if err != nil {
			c.toSignin(w, r, err)
			return
		}
		fn(w, r, s)
	}
}

// pageFunc handles one page of a tenant. It fills v and returns the template to render, or
// returns an error that c.page turns into an error page.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *view) (string, error)

// page wraps a tenant page: it checks the session, confines non-operators to their own
// tenant (another tenant's pages answer exactly like a tenant that does not exist), refuses
// changes from read-only sessions, and renders.
func (c *Console) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if err != nil {
			c.toSignin(w, r, err)
			return
		}
		tenant := r.PathValue("tenant")
		v := &view{Session: s, TenantID: tenant, CanChange: s.canChange(), Path: r.URL.Path}
		if s.token.Kind != scimtrail.TokenOperator && s.token.Tenant != tenant {
			v.TenantID = s.token.Tenant
			c.errorPage(w, r, v, scimtrail.Errorf(scimtrail.ENOTFOUND, "no such tenant"))
			return
		}
		t, err := c.svc.Tenant(r.Context(), tenant)
		if err != nil {
			v.TenantID = ""
			c.errorPage(w, r, v, err)
			return
		}
		v.Tenant = t
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.canChange() {
			c.errorPage(w, r, v, scimtrail.Errorf(scimtrail.EFORBIDDEN, readOnly))
			return
		}
		name, err := fn(w, r, v)
		if err != nil {
			c.errorPage(w, r, v, err)
			return
		}
		if name == "" {
			return // fn wrote a redirect
		}
		status := http.StatusOK
		if v.Status != 0 {
			status = v.Status
		}
		c.render(w, r, status, name, v)
	}
}

// readOnly is the message of the refusal of any change by an auditor session; the error
// page explains it in full.
const readOnly = "read-only"
