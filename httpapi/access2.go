package httpapi

import (
	"encoding/csv"
	"net/http"
	"time"
	"unicode"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// onBehalfOfHeader names the person a delegated admin (or the app) acts for; it is recorded
// as the entries' actor.on_behalf_of.
const onBehalfOfHeader = "Scimtrail-On-Behalf-Of"

// checkOnBehalfOf refuses an on-behalf-of header that is too long or not printable, so
// that nothing odd lands in the ledger.
func checkOnBehalfOf(r *http.Request) error {
	v := r.Header.Get(onBehalfOfHeader)
	if len(v) > 256 {
		return scimtrail.Errorf(scimtrail.EINVALID, "the %s header is longer than 256 bytes", onBehalfOfHeader)
	}
	for _, c := range v {
		if !unicode.IsPrint(c) {
			return scimtrail.Errorf(scimtrail.EINVALID, "the %s header holds a non-printable character", onBehalfOfHeader)
		}
	}
	return nil
}

// access2Routes is non-human identities (service accounts, their API keys and the tenant's
// NHI policy) and evidence reports.
func (h *handler) access2Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/service-accounts", h.guard(areaTenantAdmin, h.createServiceAccount))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/service-accounts", h.guard(areaAudit, h.listServiceAccounts))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/service-accounts/verify", h.guard(areaApp, h.verifyKey))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/service-accounts/{id}", h.guard(areaAudit, h.getServiceAccount))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/service-accounts/{id}/disable", h.guard(areaTenantAdmin, h.disableServiceAccount))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/service-accounts/{id}", h.guard(areaTenantAdmin, h.deleteServiceAccount))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/service-accounts/{id}/keys", h.guard(areaTenantAdmin, h.issueKey))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/service-accounts/{id}/keys/{key}/rotate", h.guard(areaTenantAdmin, h.rotateKey))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/service-accounts/{id}/keys/{key}", h.guard(areaTenantAdmin, h.revokeKey))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/policies/nhi", h.guard(areaAudit, h.getNHIPolicy))
	mux.HandleFunc("PUT /api/v1/tenants/{tenant}/policies/nhi", h.guard(areaTenantAdmin, h.putNHIPolicy))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/reports/deprovisioning", h.guard(areaAudit, h.deprovisioningReport))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/reports/credentials", h.guard(areaAudit, h.credentialReport))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/reports/access", h.guard(areaAudit, h.accessReport))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/reports/privileged-changes", h.guard(areaAudit, h.privilegedReport))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/reports/stale", h.guard(areaAudit, h.staleReport))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/reports/drift", h.guard(areaAudit, h.driftReport))
	mux.HandleFunc("PUT /api/v1/tenants/{tenant}/app-state", h.guard(areaApp, h.putAppState))
}

// mayGrant enforces a delegated admin token's scope on anything that gives a role.
func (h *handler) mayGrant(r *http.Request, c call, role string) error {
	if c.token.Kind != scimtrail.TokenAdmin {
		return nil
	}
	return h.svc.MayGrant(r.Context(), c.token, role)
}

// mayIssueTokens enforces a delegated admin token's scope on token issue, rotation and
// revocation.
func (h *handler) mayIssueTokens(r *http.Request, c call, kind scimtrail.TokenKind, scope *scimtrail.TokenScope) error {
	if c.token.Kind != scimtrail.TokenAdmin {
		return nil
	}
	return h.svc.MayIssueTokens(r.Context(), c.token, kind, scope)
}

func (h *handler) createServiceAccount(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.ServiceAccountInput
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	a, rc, err := h.svc.CreateServiceAccount(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (h *handler) listServiceAccounts(w http.ResponseWriter, r *http.Request, c call) error {
	as, err := h.svc.ServiceAccounts(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"service_accounts": as})
	return nil
}

func (h *handler) getServiceAccount(w http.ResponseWriter, r *http.Request, c call) error {
	v, err := h.svc.ServiceAccount(r.Context(), c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *handler) disableServiceAccount(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeAdminBody(r, &req); err != nil {
			return err
		}
	}
	a, rc, err := h.svc.DisableServiceAccount(r.Context(), c.origin, c.tenant, r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (h *handler) deleteServiceAccount(w http.ResponseWriter, r *http.Request, c call) error {
	rc, err := h.svc.DeleteServiceAccount(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) issueKey(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		ExpiresIn string `json:"expires_in"`
	}
	if r.ContentLength != 0 {
		if err := decodeAdminBody(r, &req); err != nil {
			return err
		}
	}
	ttl, err := parseLifetime(req.ExpiresIn)
	if err != nil {
		return err
	}
	k, rc, err := h.svc.IssueKey(r.Context(), c.origin, c.tenant, r.PathValue("id"), ttl)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		Overlap   string `json:"overlap"`
		ExpiresIn string `json:"expires_in"`
	}
	if r.ContentLength != 0 {
		if err := decodeAdminBody(r, &req); err != nil {
			return err
		}
	}
	var overlap time.Duration
	if req.Overlap != "" {
		var err error
		if overlap, err = parseLifetime(req.Overlap); err != nil {
			return scimtrail.Errorf(scimtrail.EINVALID, "\"overlap\" %q is not a duration such as \"1h\" or \"7d\"", req.Overlap)
		}
	}
	ttl, err := parseLifetime(req.ExpiresIn)
	if err != nil {
		return err
	}
	k, rc, err := h.svc.RotateKey(r.Context(), c.origin, c.tenant, r.PathValue("id"), r.PathValue("key"), overlap, ttl)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request, c call) error {
	rc, err := h.svc.RevokeKey(r.Context(), c.origin, c.tenant, r.PathValue("id"), r.PathValue("key"))
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) verifyKey(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		Key string `json:"key"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	if req.Key == "" {
		return scimtrail.Errorf(scimtrail.EINVALID, "\"key\" is required: the API key the app was presented")
	}
	kc, rc, err := h.svc.VerifyKey(r.Context(), c.origin, c.tenant, req.Key)
	if err != nil {
		return err
	}
	if rc.Seq != 0 {
		setAuditSeq(w, rc)
	}
	writeJSON(w, http.StatusOK, kc)
	return nil
}

type nhiPolicyJSON struct {
	OwnerGone string    `json:"on_owner_deprovisioned"`
	MaxKeyAge string    `json:"max_key_age"` // "" none
	Updated   time.Time `json:"updated,omitzero"`
}

func toPolicyJSON(p scimtrail.NHIPolicy) nhiPolicyJSON {
	j := nhiPolicyJSON{OwnerGone: p.OwnerGone, Updated: p.Updated}
	if p.MaxKeyAge > 0 {
		j.MaxKeyAge = p.MaxKeyAge.String()
	}
	return j
}

func (h *handler) getNHIPolicy(w http.ResponseWriter, r *http.Request, c call) error {
	p, err := h.svc.NHIPolicy(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPolicyJSON(p))
	return nil
}

func (h *handler) putNHIPolicy(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		OwnerGone *string `json:"on_owner_deprovisioned"`
		MaxKeyAge *string `json:"max_key_age"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	in := service.NHIPolicyInput{OwnerGone: req.OwnerGone}
	if req.MaxKeyAge != nil {
		d, err := parseLifetime(*req.MaxKeyAge)
		if err != nil {
			return scimtrail.Errorf(scimtrail.EINVALID, "\"max_key_age\" %q is not a lifetime such as \"90d\" (\"\" for none)", *req.MaxKeyAge)
		}
		in.MaxKeyAge = &d
	}
	p, rc, err := h.svc.SetNHIPolicy(r.Context(), c.origin, c.tenant, in)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusOK, toPolicyJSON(p))
	return nil
}

// wantsCSV reports whether the client asked for CSV (?format=csv or Accept: text/csv).
func wantsCSV(r *http.Request) bool {
	return r.URL.Query().Get("format") == "csv" || r.Header.Get("Accept") == "text/csv"
}

func writeCSV(w http.ResponseWriter, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := csv.NewWriter(w)
	cw.Write(header)
	cw.WriteAll(rows)
}

func (h *handler) deprovisioningReport(w http.ResponseWriter, r *http.Request, c call) error {
	rep, err := h.svc.DeprovisioningLatency(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeTable(w, r, rep, rep.Table())
	return nil
}

func (h *handler) credentialReport(w http.ResponseWriter, r *http.Request, c call) error {
	rep, err := h.svc.Credentials(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeTable(w, r, rep, rep.Table())
	return nil
}

// writeTable answers with a report as CSV when the client asks for it, else as JSON.
func writeTable(w http.ResponseWriter, r *http.Request, rep any, t service.Table) {
	if wantsCSV(r) {
		writeCSV(w, t.Header, t.Rows)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
