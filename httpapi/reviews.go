package httpapi

import (
	"net/http"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// Access reviews (service/reviews.go). Auditors, tenant admins and operators start reviews
// and record decisions; revoking grants along with a decision changes access, so it is
// refused to auditors and held to a delegated admin's grantable roles.
func (h *handler) reviewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/access-reviews", h.guard(areaAudit, h.startReview))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/access-reviews", h.guard(areaAudit, h.listReviews))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/access-reviews/{id}", h.guard(areaAudit, h.reviewReport))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/access-reviews/{id}/decisions", h.guard(areaAudit, h.decideReview))
}

func (h *handler) startReview(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.ReviewInput
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	rv, rc, err := h.svc.StartReview(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusCreated, rv)
	return nil
}

func (h *handler) listReviews(w http.ResponseWriter, r *http.Request, c call) error {
	rs, err := h.svc.AccessReviews(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_reviews": rs})
	return nil
}

func (h *handler) decideReview(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.DecisionInput
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	if req.RevokeGrants {
		if c.token.Kind == scimtrail.TokenAuditor {
			return scimtrail.Errorf(scimtrail.EFORBIDDEN, "an auditor token may record decisions but not revoke grants: leave out \"revoke_grants\" or use an admin token")
		}
		if err := h.mayGrant(r, c, req.Role); err != nil { // access2.go
			return err
		}
	}
	d, rc, err := h.svc.DecideReview(r.Context(), c.origin, c.tenant, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (h *handler) reviewReport(w http.ResponseWriter, r *http.Request, c call) error {
	rep, err := h.svc.ReviewReport(r.Context(), c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeReport(w, r, rep, rep.Table(), rep.Evidence)
}
