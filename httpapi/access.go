package httpapi

import (
	"net/http"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// accessRoutes is the access model (DESIGN.md §5 "Access"): roles catalogues, group→role
// mappings, direct and break-glass grants, and effective access with provenance, now or at
// any past instant.
func (h *handler) accessRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/roles", h.guard(areaInstall, h.createRole))
	mux.HandleFunc("GET /api/v1/roles", h.guard(areaInstall, h.listRoles))
	mux.HandleFunc("PATCH /api/v1/roles/{id}", h.guard(areaInstall, h.updateRole))
	mux.HandleFunc("DELETE /api/v1/roles/{id}", h.guard(areaInstall, h.retireRole))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/roles", h.guard(areaTenantAdmin, h.createRole))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/roles", h.guard(areaAudit, h.listRoles))
	mux.HandleFunc("PATCH /api/v1/tenants/{tenant}/roles/{id}", h.guard(areaTenantAdmin, h.updateRole))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/roles/{id}", h.guard(areaTenantAdmin, h.retireRole))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/mappings", h.guard(areaTenantAdmin, h.createMapping))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/mappings", h.guard(areaAudit, h.listMappings))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/mappings/{id}", h.guard(areaTenantAdmin, h.deleteMapping))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/grants", h.guard(areaTenantAdmin, h.createGrant))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/grants/{id}", h.guard(areaTenantAdmin, h.revokeGrant))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/break-glass", h.guard(areaTenantAdmin, h.breakGlass))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/break-glass/requests", h.guard(areaAudit, h.breakGlassRequests))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/break-glass/requests/{id}/approve", h.guard(areaTenantAdmin, h.decideBreakGlass(true)))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/break-glass/requests/{id}/deny", h.guard(areaTenantAdmin, h.decideBreakGlass(false)))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/users/{id}/access", h.guard(areaAudit, h.userAccess))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/roles/{role}/holders", h.guard(areaAudit, h.roleHolders))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/access", h.guard(areaAudit, h.tenantAccess))
}

func (h *handler) createRole(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.RoleInput
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	role, rc, err := h.svc.CreateRole(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusCreated, role)
	return nil
}

func (h *handler) listRoles(w http.ResponseWriter, r *http.Request, c call) error {
	roles, err := h.svc.Roles(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	if roles == nil {
		roles = []scimtrail.Role{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": roles})
	return nil
}

func (h *handler) updateRole(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.RolePatch
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	role, rc, err := h.svc.UpdateRole(r.Context(), c.origin, c.tenant, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusOK, role)
	return nil
}

func (h *handler) retireRole(w http.ResponseWriter, r *http.Request, c call) error {
	rc, err := h.svc.RetireRole(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) createMapping(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		GroupID string `json:"group_id"`
		Role    string `json:"role"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	if err := h.mayGrant(r, c, req.Role); err != nil { // access2.go
		return err
	}
	m, rc, err := h.svc.CreateMapping(r.Context(), c.origin, c.tenant, req.GroupID, req.Role)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (h *handler) listMappings(w http.ResponseWriter, r *http.Request, c call) error {
	ms, err := h.svc.Mappings(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []scimtrail.RoleMapping{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"mappings": ms})
	return nil
}

func (h *handler) deleteMapping(w http.ResponseWriter, r *http.Request, c call) error {
	rc, err := h.svc.DeleteMapping(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) createGrant(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		UserID string `json:"user_id"`
		Role   string `json:"role"`
		Reason string `json:"reason"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	if err := h.mayGrant(r, c, req.Role); err != nil { // access2.go
		return err
	}
	g, rc, err := h.svc.GrantRole(r.Context(), c.origin, c.tenant, req.UserID, req.Role, req.Reason)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusCreated, g)
	return nil
}

func (h *handler) revokeGrant(w http.ResponseWriter, r *http.Request, c call) error {
	rc, err := h.svc.RevokeGrant(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) breakGlass(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		UserID        string `json:"user_id"`
		Role          string `json:"role"`
		Justification string `json:"justification"`
		Duration      string `json:"duration"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	if err := h.mayGrant(r, c, req.Role); err != nil { // access2.go
		return err
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		return scimtrail.Errorf(scimtrail.EINVALID, "\"duration\" must be a duration such as \"30m\" or \"2h\", not %q", req.Duration)
	}
	out, rc, err := h.svc.BreakGlass(r.Context(), c.origin, c.tenant, req.UserID, req.Role, req.Justification, d)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	if out.Request != nil {
		// The tenant wants a second admin: nothing is granted until one approves.
		writeJSON(w, http.StatusAccepted, toBreakGlassRequestJSON(*out.Request))
		return nil
	}
	writeJSON(w, http.StatusCreated, out.Grant)
	return nil
}

// atParam reads ?at=RFC3339; absent means now (the zero time).
func atParam(r *http.Request) (time.Time, error) {
	s := r.URL.Query().Get("at")
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, scimtrail.Errorf(scimtrail.EINVALID, "\"at\" must be an RFC 3339 time such as 2026-11-29T06:40:00Z, not %q", s)
	}
	return t, nil
}

func (h *handler) userAccess(w http.ResponseWriter, r *http.Request, c call) error {
	at, err := atParam(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	ans, err := h.svc.AccessAt(r.Context(), c.tenant, at, id, "")
	if err != nil {
		return err
	}
	out := map[string]any{"user_id": id, "at": ans.At, "access": []any{}}
	if len(ans.Users) == 1 {
		out["access"] = ans.Users[0].Access
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) roleHolders(w http.ResponseWriter, r *http.Request, c call) error {
	at, err := atParam(r)
	if err != nil {
		return err
	}
	role := r.PathValue("role")
	ans, err := h.svc.AccessAt(r.Context(), c.tenant, at, "", role)
	if err != nil {
		return err
	}
	type holder struct {
		UserID string                 `json:"user_id"`
		Paths  []scimtrail.AccessPath `json:"paths"`
		Since  time.Time              `json:"since"`
	}
	holders := []holder{}
	for _, u := range ans.Users {
		for _, a := range u.Access {
			holders = append(holders, holder{UserID: u.UserID, Paths: a.Paths, Since: a.Since})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"role": role, "at": ans.At, "holders": holders})
	return nil
}

func (h *handler) tenantAccess(w http.ResponseWriter, r *http.Request, c call) error {
	at, err := atParam(r)
	if err != nil {
		return err
	}
	ans, err := h.svc.AccessAt(r.Context(), c.tenant, at, "", "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": ans.At, "users": ans.Users})
	return nil
}
