package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// eventsRoutes is the app events API: the vendor's app records its own admin actions in
// the tenant's ledger; admins register the actions' schemas and the tenant's policy.
func (h *handler) eventsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/events", h.guard(areaApp, h.recordEvents))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/event-schemas", h.guard(areaTenantAdmin, h.listEventSchemas))
	mux.HandleFunc("PUT /api/v1/tenants/{tenant}/event-schemas/{action}", h.guard(areaTenantAdmin, h.putEventSchema))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/event-schemas/{action}", h.guard(areaTenantAdmin, h.getEventSchema))
	mux.HandleFunc("GET /api/v1/event-schemas", h.guard(areaInstall, h.listEventSchemas))
	mux.HandleFunc("PUT /api/v1/event-schemas/{action}", h.guard(areaInstall, h.putEventSchema))
	mux.HandleFunc("GET /api/v1/event-schemas/{action}", h.guard(areaInstall, h.getEventSchema))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/event-settings", h.guard(areaTenantAdmin, h.getEventSettings))
	mux.HandleFunc("PUT /api/v1/tenants/{tenant}/event-settings", h.guard(areaTenantAdmin, h.putEventSettings))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/app-role-grants", h.guard(areaAudit, h.appRoleGrants))
}

// recordEvents takes one event, or {"events":[…]} with up to 1,000. It answers 201 when it
// recorded something and 200 when the request was an idempotent replay.
func (h *handler) recordEvents(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		service.AppEvent
		Events []service.AppEvent `json:"events"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	batch := req.Events != nil
	events := req.Events
	if batch && !reflect.ValueOf(req.AppEvent).IsZero() {
		return scimtrail.Errorf(scimtrail.EINVALID, `send one event, or a batch as {"events":[…]} with nothing beside "events"`)
	}
	if !batch {
		events = []service.AppEvent{req.AppEvent}
	}
	res, err := h.svc.RecordEvents(r.Context(), c.origin, c.tenant, events, batch, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	var last int64
	for _, e := range res.Events {
		last = max(last, e.Seq)
	}
	setAuditSeq(w, scimtrail.Receipt{Seq: last})
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
	}
	if !batch {
		writeJSON(w, status, res.Events[0])
		return nil
	}
	writeJSON(w, status, map[string]any{"events": res.Events})
	return nil
}

// schemaTenant is the tenant of a schema route: "" on the global routes.
func schemaTenant(c call) string { return c.tenant }

func (h *handler) putEventSchema(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		Metadata json.RawMessage `json:"metadata_schema"`
		Targets  json.RawMessage `json:"targets_schema"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	sc, receipt, err := h.svc.RegisterEventSchema(r.Context(), c.origin, schemaTenant(c), r.PathValue("action"), req.Metadata, req.Targets)
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusCreated, sc)
	return nil
}

func (h *handler) getEventSchema(w http.ResponseWriter, r *http.Request, c call) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return scimtrail.Errorf(scimtrail.EINVALID, "version must be a positive integer, not %q", v)
		}
		version = n
	}
	sc, err := h.svc.EventSchema(r.Context(), schemaTenant(c), r.PathValue("action"), version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

func (h *handler) listEventSchemas(w http.ResponseWriter, r *http.Request, c call) error {
	list, err := h.svc.EventSchemas(r.Context(), schemaTenant(c))
	if err != nil {
		return err
	}
	if list == nil {
		list = []scimtrail.EventSchema{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"schemas": list})
	return nil
}

func (h *handler) getEventSettings(w http.ResponseWriter, r *http.Request, c call) error {
	s, err := h.svc.EventSettings(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (h *handler) putEventSettings(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		UnknownActions string `json:"unknown_actions"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	s, receipt, err := h.svc.SetEventSettings(r.Context(), c.origin, c.tenant, req.UnknownActions)
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (h *handler) appRoleGrants(w http.ResponseWriter, r *http.Request, c call) error {
	grants, err := h.svc.AppRoleGrants(r.Context(), c.tenant, r.URL.Query().Get("user_id"))
	if err != nil {
		return err
	}
	if grants == nil {
		grants = []scimtrail.AppRoleGrant{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": grants})
	return nil
}
