package httpapi

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// exportRoutes is export: sinks of one tenant (tenant admins), sinks of every tenant
// (operator), and the pull API the vendor's app long-polls.
func (h *handler) exportRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/sinks", h.guard(areaTenantAdmin, h.createSink))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/sinks", h.guard(areaTenantAdmin, h.listSinks))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/sinks/{id}", h.guard(areaTenantAdmin, h.getSink))
	mux.HandleFunc("DELETE /api/v1/tenants/{tenant}/sinks/{id}", h.guard(areaTenantAdmin, h.deleteSink))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/sinks/{id}/retry", h.guard(areaTenantAdmin, h.retrySink))
	mux.HandleFunc("POST /api/v1/tenants/{tenant}/sinks/{id}/rotate", h.guard(areaTenantAdmin, h.rotateSink))
	mux.HandleFunc("POST /api/v1/sinks", h.guard(areaInstall, h.createSink))
	mux.HandleFunc("GET /api/v1/sinks", h.guard(areaInstall, h.listSinks))
	mux.HandleFunc("GET /api/v1/sinks/{id}", h.guard(areaInstall, h.getSink))
	mux.HandleFunc("DELETE /api/v1/sinks/{id}", h.guard(areaInstall, h.deleteSink))
	mux.HandleFunc("POST /api/v1/sinks/{id}/retry", h.guard(areaInstall, h.retrySink))
	mux.HandleFunc("POST /api/v1/sinks/{id}/rotate", h.guard(areaInstall, h.rotateSink))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/events", h.guard(areaEvents, h.pollEvents))
}

// On the /api/v1/sinks routes c.tenant is "": the operator's sinks of every tenant.

func (h *handler) createSink(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.SinkRequest
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	sink, receipt, err := h.svc.CreateSink(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusCreated, sink)
	return nil
}

func (h *handler) listSinks(w http.ResponseWriter, r *http.Request, c call) error {
	sinks, err := h.svc.Sinks(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sinks": sinks})
	return nil
}

func (h *handler) getSink(w http.ResponseWriter, r *http.Request, c call) error {
	st, err := h.svc.SinkStatus(r.Context(), c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (h *handler) deleteSink(w http.ResponseWriter, r *http.Request, c call) error {
	receipt, err := h.svc.DeleteSink(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) retrySink(w http.ResponseWriter, r *http.Request, c call) error {
	st, receipt, err := h.svc.RetrySink(r.Context(), c.origin, c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusOK, st)
	return nil
}

// rotateSink replaces a webhook sink's secret: {"secret": "whsec_…"} (generated when left
// out) and "overlap", how long the old secret keeps signing too (default 24h).
func (h *handler) rotateSink(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		Secret  string `json:"secret"`
		Overlap string `json:"overlap"`
	}
	if r.ContentLength != 0 {
		if err := decodeAdminBody(r, &req); err != nil {
			return err
		}
	}
	overlap := 24 * time.Hour
	if req.Overlap != "" {
		d, err := time.ParseDuration(req.Overlap)
		if err != nil || d < 0 || d > 30*24*time.Hour {
			return scimtrail.Errorf(scimtrail.EINVALID, "overlap must be a duration between 0s and 720h, not %q", req.Overlap)
		}
		overlap = d
	}
	st, receipt, err := h.svc.RotateSinkSecret(r.Context(), c.origin, c.tenant, r.PathValue("id"), req.Secret, overlap)
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	writeJSON(w, http.StatusOK, st)
	return nil
}

const (
	maxEventsWait = 50 * time.Second // below the server's write timeout
	pollInterval  = time.Second      // commits by other replicas are not signalled
)

// eventRecord is one entry of the pull API, the same record a native sink delivers.
type eventRecord struct {
	Tenant     string          `json:"tenant"`
	Seq        int64           `json:"seq"`
	LeafHash   string          `json:"leaf_hash"`
	Checkpoint json.RawMessage `json:"checkpoint"`
	Entry      json.RawMessage `json:"entry"`
}

// pollEvents is GET /api/v1/tenants/{t}/events?after=SEQ&limit=N&wait=30s: the entries after
// SEQ, waiting up to wait for the first one to be committed (long poll). The answer's
// next_after is the cursor to send next.
func (h *handler) pollEvents(w http.ResponseWriter, r *http.Request, c call) error {
	qv := r.URL.Query()
	after, limit, err := ledgerPage(qv)
	if err != nil {
		return err
	}
	var wait time.Duration
	if s := qv.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return scimtrail.Errorf(scimtrail.EINVALID, "wait must be a duration such as 30s, not %q", s)
		}
		wait = min(d, maxEventsWait)
	}
	ctx := r.Context()
	deadline := time.Now().Add(wait)
	for {
		wake := h.svc.Commits()
		entries, err := h.svc.AuditEntries(ctx, c.tenant, after, limit, scimtrail.EntryFilter{})
		if err != nil {
			return err
		}
		left := time.Until(deadline)
		if len(entries) > 0 || left <= 0 {
			out := make([]eventRecord, len(entries))
			next := after
			for i, e := range entries {
				out[i] = eventRecord{Tenant: e.Tenant, Seq: e.Seq, LeafHash: hex.EncodeToString(e.LeafHash),
					Checkpoint: json.RawMessage("null"), Entry: json.RawMessage(e.Body)}
				next = e.Seq
			}
			writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_after": next})
			return nil
		}
		t := time.NewTimer(min(left, pollInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}
