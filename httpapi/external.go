package httpapi

import (
	"net/http"

	"github.com/scimtrail/scimtrail/service"
)

// The tenant's external-collaborator rule and policies (service/external.go).
func (h *handler) externalRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/policies/external", h.guard(areaAudit, h.getExternalPolicy))
	mux.HandleFunc("PUT /api/v1/tenants/{tenant}/policies/external", h.guard(areaTenantAdmin, h.putExternalPolicy))
}

func (h *handler) getExternalPolicy(w http.ResponseWriter, r *http.Request, c call) error {
	p, err := h.svc.ExternalPolicy(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *handler) putExternalPolicy(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.ExternalPolicyInput
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	p, rc, err := h.svc.PutExternalPolicy(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusOK, p)
	return nil
}
