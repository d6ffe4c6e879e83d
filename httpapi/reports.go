package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// Verifiable evidence reports (access issue, item 8). JSON carries an "evidence" object;
// CSV carries the same object as the last row, whose first field is "#evidence" and whose
// second is the evidence JSON, padded to the header's width so CSV readers accept it.

func writeCSVWithEvidence(w http.ResponseWriter, header []string, rows [][]string, ev service.Evidence) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	last := make([]string, len(header))
	last[0], last[1] = "#evidence", string(b)
	writeCSV(w, header, append(rows, last))
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
	if wantsCSV(r) {
		var rows [][]string
		for _, u := range rep.Users {
			for _, a := range u.Access {
				for _, p := range a.Paths {
					rows = append(rows, []string{u.UserID, u.UserName, strconv.FormatBool(u.External), a.Role, fmtTime(a.Since),
						p.Kind, strings.Join(p.Via, " "), p.Grant, itoa64(p.Seq)})
				}
			}
		}
		return writeCSVWithEvidence(w, []string{"user_id", "user_name", "external", "role", "since", "path_kind", "via", "grant", "seq"}, rows, rep.Evidence)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
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
	if wantsCSV(r) {
		var rows [][]string
		for _, ch := range rep.Changes {
			rows = append(rows, []string{"change", itoa64(ch.Seq), fmtTime(ch.Time), ch.Action, ch.Role, ch.UserID, ch.GroupID, ch.Actor.ID, ""})
		}
		for _, u := range rep.BreakGlass {
			acts := make([]string, len(u.Actions))
			for i, a := range u.Actions {
				acts[i] = itoa64(a)
			}
			rows = append(rows, []string{"break_glass", itoa64(u.Seq), fmtTime(u.From), "break_glass.granted", u.Role, u.UserID, "", "", strings.Join(acts, " ")})
		}
		return writeCSVWithEvidence(w, []string{"kind", "seq", "time", "action", "role", "user_id", "group_id", "actor", "actions_under"}, rows, rep.Evidence)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
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
	if wantsCSV(r) {
		var rows [][]string
		for _, u := range rep.Users {
			rows = append(rows, []string{"user_with_app_grants", u.UserID, u.State, strings.Join(u.AppRoles, " "), itoa64(u.GoneSeq), ""})
		}
		for _, a := range rep.Orphaned {
			rows = append(rows, []string{"orphaned_service_account", a.ID, a.State, a.OwnerID, itoa64(a.GoneSeq), ""})
		}
		for _, k := range rep.UnusedKeys {
			rows = append(rows, []string{"unused_key", k.ID, "active", k.AccountID, "", itoa64(int64(k.IdleDays))})
		}
		return writeCSVWithEvidence(w, []string{"kind", "id", "state", "detail", "seq", "idle_days"}, rows, rep.Evidence)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
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
	w.Header().Set("Scimtrail-Audit-Seq", itoa64(rep.RecordedSeq))
	if wantsCSV(r) {
		var rows [][]string
		for _, set := range []struct {
			kind  string
			items []service.DriftItem
		}{{"missing_revocation", rep.MissingRevocations}, {"unexpected_grant", rep.UnexpectedGrants}, {"missing_grant", rep.MissingGrants}} {
			for _, d := range set.items {
				rows = append(rows, []string{set.kind, d.UserID, d.Role, itoa64(d.Seq)})
			}
		}
		return writeCSVWithEvidence(w, []string{"kind", "user_id", "role", "seq"}, rows, rep.Evidence)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
