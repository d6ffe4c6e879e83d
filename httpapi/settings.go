package httpapi

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/dialect"
	"github.com/scimtrail/scimtrail/service"
)

// settingsRoutes is a tenant's own configuration: its settings (IdP dialect, password
// policy) and its custom SCIM schema extensions. Admins change them; auditors may read them.
func (h *handler) settingsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/settings", h.guard(areaAudit, h.getSettings))
	mux.HandleFunc("PATCH /api/v1/tenants/{tenant}/settings", h.guard(areaTenantAdmin, h.patchSettings))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/schemas", h.guard(areaAudit, h.listTenantSchemas))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/schemas", h.guard(areaTenantAdmin, h.registerSchema))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/schemas/{urn}", h.guard(areaAudit, h.getTenantSchema))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/schemas/{urn}", h.guard(areaTenantAdmin, h.deleteTenantSchema))
}

// scimDialect is the dialect a SCIM request of the tenant is read in: the tenant's setting,
// with auto narrowed to the sender's own dialect when it is recognised.
func (h *handler) scimDialect(r *http.Request, tenant string) (dialect.Dialect, error) {
	d, err := h.svc.TenantDialect(r.Context(), tenant)
	if err != nil {
		return "", err
	}
	return dialect.Resolve(d, r.UserAgent(), r.URL.Query()), nil
}

// settingsJSON is the API representation of a tenant's settings.
type settingsJSON struct {
	Tenant         string `json:"tenant"`
	Dialect        string `json:"dialect"`
	PasswordPolicy string `json:"password_policy"`
	// BreakGlassApproval is none or second_admin (access-model.md).
	BreakGlassApproval string     `json:"break_glass_approval"`
	Updated            *time.Time `json:"updated,omitempty"`
}

func toSettingsJSON(s scimtrail.TenantSettings) settingsJSON {
	out := settingsJSON{Tenant: s.Tenant, Dialect: s.Dialect, PasswordPolicy: s.PasswordPolicy, BreakGlassApproval: s.BreakGlassApproval}
	if !s.Updated.IsZero() {
		out.Updated = &s.Updated
	}
	return out
}

func (h *handler) getSettings(w http.ResponseWriter, r *http.Request, c call) error {
	s, err := h.svc.TenantSettings(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSettingsJSON(s))
	return nil
}

func (h *handler) patchSettings(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.SettingsChange
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	s, receipt, err := h.svc.UpdateTenantSettings(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusOK, toSettingsJSON(s))
	return nil
}

// schemaJSON is a registered custom schema: its definition with every characteristic
// spelled out, and when it was registered.
func schemaJSON(ts scimtrail.TenantSchema) map[string]any {
	var def map[string]any
	json.Unmarshal(ts.Definition, &def)
	if def == nil {
		def = map[string]any{}
	}
	def["created"] = ts.Created
	return def
}

func (h *handler) listTenantSchemas(w http.ResponseWriter, r *http.Request, c call) error {
	all, err := h.svc.TenantSchemas(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	out := make([]any, len(all))
	for i, ts := range all {
		out[i] = schemaJSON(ts)
	}
	writeJSON(w, http.StatusOK, map[string]any{"schemas": out})
	return nil
}

func (h *handler) getTenantSchema(w http.ResponseWriter, r *http.Request, c call) error {
	all, err := h.svc.TenantSchemas(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	urn := r.PathValue("urn")
	for _, ts := range all {
		if strings.EqualFold(ts.URN, urn) {
			writeJSON(w, http.StatusOK, schemaJSON(ts))
			return nil
		}
	}
	return scimtrail.Errorf(scimtrail.ENOTFOUND, "schema %q not found", urn)
}

func (h *handler) registerSchema(w http.ResponseWriter, r *http.Request, c call) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && mt != "application/scim+json") {
			return scimtrail.Errorf(scimtrail.EINVALID, "the Content-Type must be application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	ts, receipt, err := h.svc.RegisterSchema(r.Context(), c.origin, c.tenant, body)
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusCreated, schemaJSON(ts))
	return nil
}

func (h *handler) deleteTenantSchema(w http.ResponseWriter, r *http.Request, c call) error {
	receipt, err := h.svc.DeleteSchema(r.Context(), c.origin, c.tenant, r.PathValue("urn"))
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
