package httpapi

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// decodeAdminBody reads an admin API body into v. Unknown fields are refused, so that a
// misspelt "expires_in" is an error rather than a token that never expires.
func decodeAdminBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return scimtrail.Errorf(scimtrail.EINVALID, "the Content-Type must be application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return &scimtrail.Error{Code: scimtrail.EINVALID, Err: err,
				Message: fmt.Sprintf("field %q must be a JSON %s, not %s", typeErr.Field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &scimtrail.Error{Code: scimtrail.EINVALID, Err: err,
				Message: "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
		default:
			return &scimtrail.Error{Code: scimtrail.EINVALID, Err: err, Message: "the request body is not valid JSON"}
		}
	}
	if dec.More() {
		return scimtrail.Errorf(scimtrail.EINVALID, "the request body must be a single JSON object")
	}
	return nil
}

func (h *handler) createTenant(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	t, receipt, err := h.svc.CreateTenant(r.Context(), c.origin, req.ID, req.Name)
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (h *handler) listTenants(w http.ResponseWriter, r *http.Request, c call) error {
	ts, err := h.svc.Tenants(r.Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []scimtrail.Tenant{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": ts})
	return nil
}

func (h *handler) getTenant(w http.ResponseWriter, r *http.Request, c call) error {
	t, err := h.svc.Tenant(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// tokenJSON is a token as the admin API shows it: never its hash, and its secret only in
// the response that created it. Times that are not set are null, so every key is always
// there for scripts to read.
type tokenJSON struct {
	ID      string              `json:"id"`
	Token   string              `json:"token,omitempty"`
	Kind    scimtrail.TokenKind `json:"kind"`
	Name    string              `json:"name"`
	Tenant  string              `json:"tenant"`
	Created time.Time           `json:"created"`
	Expires *time.Time          `json:"expires"`
	Revoked *time.Time          `json:"revoked,omitempty"`
	Rotated *time.Time          `json:"rotated,omitempty"`
}

func toTokenJSON(t scimtrail.Token, secret string) tokenJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return tokenJSON{
		ID: t.ID, Token: secret, Kind: t.Kind, Name: t.Name, Tenant: t.Tenant,
		Created: t.Created, Expires: opt(t.Expires), Revoked: opt(t.Revoked), Rotated: opt(t.Rotated),
	}
}

func (h *handler) issueToken(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		Kind      scimtrail.TokenKind   `json:"kind"`
		Name      string                `json:"name"`
		ExpiresIn string                `json:"expires_in"`
		Scope     *scimtrail.TokenScope `json:"scope"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	ttl, err := parseLifetime(req.ExpiresIn)
	if err != nil {
		return err
	}
	// Only an operator may mint operator power; a delegated admin may issue any kind of
	// its own tenant, including another admin token.
	if req.Kind == scimtrail.TokenOperator && c.token.Kind != scimtrail.TokenOperator {
		return scimtrail.Errorf(scimtrail.EFORBIDDEN, "only an operator token may issue operator tokens")
	}
	if err := h.mayIssueTokens(r, c, req.Kind, req.Scope); err != nil { // access2.go
		return err
	}
	var it service.IssuedToken
	var receipt scimtrail.Receipt
	if req.Scope != nil {
		it, receipt, err = h.svc.IssueScopedToken(r.Context(), c.origin, c.tenant, req.Kind, req.Name, ttl, *req.Scope)
	} else {
		it, receipt, err = h.svc.IssueToken(r.Context(), c.origin, c.tenant, req.Kind, req.Name, ttl)
	}
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusCreated, toTokenJSON(it.Token, it.Secret))
	return nil
}

// parseLifetime reads expires_in: "" for never, whole days as "90d", or a Go duration
// ("12h", "30m", "1h30m").
func parseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	bad := scimtrail.Errorf(scimtrail.EINVALID, "expires_in %q is not a lifetime such as \"90d\", \"12h\" or \"30m\"", s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 {
		return 0, scimtrail.Errorf(scimtrail.EINVALID, "expires_in %q must be positive", s)
	}
	return d, nil
}

func (h *handler) listTokens(w http.ResponseWriter, r *http.Request, c call) error {
	ts, err := h.svc.Tokens(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = toTokenJSON(t, "")
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request, c call) error {
	if err := h.mayIssueTokens(r, c, "", nil); err != nil { // access2.go
		return err
	}
	receipt, err := h.svc.RevokeToken(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) rotateToken(w http.ResponseWriter, r *http.Request, c call) error {
	if err := h.mayIssueTokens(r, c, "", nil); err != nil { // access2.go
		return err
	}
	it, receipt, err := h.svc.RotateToken(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusOK, toTokenJSON(it.Token, it.Secret))
	return nil
}

const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// auditEntry embeds the stored entry bytes as they were hashed, never re-serialised, so that
// a client can recompute leaf_hash from exactly what it received.
type auditEntry struct {
	Seq      int64           `json:"seq"`
	LeafHash string          `json:"leaf_hash"`
	Entry    json.RawMessage `json:"entry"`
	// Pruned says retention dropped the entry's body (entry is null); its leaf hash stays.
	Pruned bool `json:"pruned,omitempty"`
}

// ledgerPage reads the after and limit parameters shared by the audit read and the pull
// API: after defaults to 0, limit to defaultAuditLimit and is capped at maxAuditLimit.
func ledgerPage(qv url.Values) (after int64, limit int, err error) {
	if s := qv.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, scimtrail.Errorf(scimtrail.EINVALID, "after must be a non-negative integer, not %q", s)
		}
		after = n
	}
	limit = defaultAuditLimit
	if s := qv.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, 0, scimtrail.Errorf(scimtrail.EINVALID, "limit must be a positive integer, not %q", s)
		}
		limit = min(n, maxAuditLimit)
	}
	return after, limit, nil
}

func (h *handler) auditEntries(w http.ResponseWriter, r *http.Request, c call) error {
	qv := r.URL.Query()
	after, limit, err := ledgerPage(qv)
	if err != nil {
		return err
	}
	f := scimtrail.EntryFilter{Action: qv.Get("action"), ActorID: qv.Get("actor"), TargetID: qv.Get("target")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := qv.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return scimtrail.Errorf(scimtrail.EINVALID, "%s must be an RFC 3339 time such as 2026-11-29T06:40:00Z, not %q", p.name, s)
			}
			*p.dst = t
		}
	}
	entries, err := h.svc.AuditEntries(r.Context(), c.tenant, after, limit, f)
	if err != nil {
		return err
	}
	out := make([]auditEntry, len(entries))
	next := after
	for i, e := range entries {
		out[i] = auditEntry{Seq: e.Seq, LeafHash: hex.EncodeToString(e.LeafHash), Entry: json.RawMessage(e.Body), Pruned: e.Body == nil}
		next = e.Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next_after": next})
	return nil
}
