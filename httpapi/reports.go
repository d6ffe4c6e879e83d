package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// Verifiable evidence reports (access issue, item 8). JSON carries an "evidence" object;
// CSV carries the same object as the last row, whose first field is "#evidence" and whose
// second is the evidence JSON, padded to the header's width so CSV readers accept it.

// writeReport answers with an evidence report: as CSV with its evidence row when the client
// asks for CSV, else as JSON.
func writeReport(w http.ResponseWriter, r *http.Request, rep any, t service.Table, ev service.Evidence) error {
	if !wantsCSV(r) {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	t, err := t.WithEvidence(ev)
	if err != nil {
		return err
	}
	writeCSV(w, t.Header, t.Rows)
	return nil
}

// timeParam reads an RFC 3339 query parameter; absent is the zero time.
func timeParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, scimtrail.Errorf(scimtrail.EINVALID, "%q must be an RFC 3339 time such as 2026-11-29T06:40:00Z, not %q", name, s)
	}
	return t, nil
}

func (h *handler) accessReport(w http.ResponseWriter, r *http.Request, c call) error {
	at, err := atParam(r)
	if err != nil {
		return err
	}
	rep, err := h.svc.AccessReport(r.Context(), c.tenant, at)
	if err != nil {
		return err
	}
	return writeReport(w, r, rep, rep.Table(), rep.Evidence)
}

func (h *handler) privilegedReport(w http.ResponseWriter, r *http.Request, c call) error {
	from, err := timeParam(r, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(r, "to")
	if err != nil {
		return err
	}
	rep, err := h.svc.PrivilegedChanges(r.Context(), c.tenant, from, to)
	if err != nil {
		return err
	}
	return writeReport(w, r, rep, rep.Table(), rep.Evidence)
}

func (h *handler) staleReport(w http.ResponseWriter, r *http.Request, c call) error {
	days := 90
	if s := r.URL.Query().Get("inactive_days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 36500 {
			return scimtrail.Errorf(scimtrail.EINVALID, "\"inactive_days\" must be a whole number of days from 1 to 36500, not %q", s)
		}
		days = n
	}
	rep, err := h.svc.Stale(r.Context(), c.tenant, days)
	if err != nil {
		return err
	}
	return writeReport(w, r, rep, rep.Table(), rep.Evidence)
}

func (h *handler) putAppState(w http.ResponseWriter, r *http.Request, c call) error {
	var req service.AppStatePage
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	head, rc, err := h.svc.PutAppState(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusOK, map[string]any{"current": head.Current, "pending": head.Pending, "pages": head.Pages})
	return nil
}

func (h *handler) driftReport(w http.ResponseWriter, r *http.Request, c call) error {
	rep, err := h.svc.Drift(r.Context(), c.origin, c.tenant)
	if err != nil {
		return err
	}
	w.Header().Set("Scimtrail-Audit-Seq", strconv.FormatInt(rep.RecordedSeq, 10))
	return writeReport(w, r, rep, rep.Table(), rep.Evidence)
}
