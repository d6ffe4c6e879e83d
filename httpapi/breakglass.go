package httpapi

import (
	"net/http"
	"time"

	"github.com/scimtrail/scimtrail"
)

// breakGlassRequestJSON is a break-glass request as the API shows it.
type breakGlassRequestJSON struct {
	ID            string    `json:"id"`
	UserID        string    `json:"user_id"`
	Role          string    `json:"role"`
	Justification string    `json:"justification"`
	Duration      string    `json:"duration"` // counted from approval
	RequestedBy   string    `json:"requested_by"`
	Requested     time.Time `json:"requested"`
	State         string    `json:"state"` // pending, approved or denied
	DecidedBy     string    `json:"decided_by,omitempty"`
	Decided       time.Time `json:"decided,omitzero"`
	Decision      string    `json:"decision,omitempty"` // the reason the decider gave
	GrantID       string    `json:"grant_id,omitempty"`
}

func toBreakGlassRequestJSON(r scimtrail.BreakGlassRequest) breakGlassRequestJSON {
	return breakGlassRequestJSON{ID: r.ID, UserID: r.UserID, Role: r.Role, Justification: r.Justification, Duration: r.Duration.String(),
		RequestedBy: r.RequestedBy, Requested: r.Requested, State: r.State, DecidedBy: r.DecidedBy, Decided: r.Decided,
		Decision: r.Decision, GrantID: r.GrantID}
}

func (h *handler) breakGlassRequests(w http.ResponseWriter, r *http.Request, c call) error {
	all, err := h.svc.BreakGlassRequests(r.Context(), c.tenant, 0)
	if err != nil {
		return err
	}
	out := make([]breakGlassRequestJSON, len(all))
	for i, req := range all {
		out[i] = toBreakGlassRequestJSON(req)
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	return nil
}

// decideBreakGlass approves or denies a pending request. A delegated admin approving must be
// allowed to grant the role itself, as if it had granted break-glass directly.
func (h *handler) decideBreakGlass(approve bool) func(http.ResponseWriter, *http.Request, call) error {
	return func(w http.ResponseWriter, r *http.Request, c call) error {
		var req struct {
			Reason string `json:"reason"`
		}
		if r.ContentLength != 0 {
			if err := decodeAdminBody(r, &req); err != nil {
				return err
			}
		}
		if approve {
			pending, err := h.svc.BreakGlassRequest(r.Context(), c.tenant, r.PathValue("id"))
			if err != nil {
				return err
			}
			if err := h.mayGrant(r, c, pending.Role); err != nil {
				return err
			}
		}
		decided, rc, err := h.svc.DecideBreakGlass(r.Context(), c.origin, c.tenant, r.PathValue("id"), approve, req.Reason)
		if err != nil {
			return err
		}
		setAuditSeq(w, rc)
		writeJSON(w, http.StatusOK, toBreakGlassRequestJSON(decided))
		return nil
	}
}
