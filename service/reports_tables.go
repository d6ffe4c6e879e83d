package service

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Table is a report as CSV for spreadsheets: a header and one row per item. The API and the
// console both write reports through it, so a report's CSV is the same wherever it is
// downloaded.
type Table struct {
	Header []string
	Rows   [][]string
}

// WithEvidence appends the report's evidence as the last row: first field "#evidence",
// second the evidence JSON, padded to the header's width so CSV readers accept it.
func (t Table) WithEvidence(ev Evidence) (Table, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return t, err
	}
	last := make([]string, len(t.Header))
	last[0], last[1] = "#evidence", string(b)
	t.Rows = append(t.Rows, last)
	return t, nil
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func csvInt(n int64) string { return strconv.FormatInt(n, 10) }

// Table lists one row per path by which a user holds a role.
func (r AccessReport) Table() Table {
	t := Table{Header: []string{"user_id", "user_name", "external", "role", "since", "path_kind", "via", "grant", "seq"}}
	for _, u := range r.Users {
		for _, a := range u.Access {
			for _, p := range a.Paths {
				t.Rows = append(t.Rows, []string{u.UserID, u.UserName, strconv.FormatBool(u.External), a.Role, csvTime(a.Since),
					p.Kind, strings.Join(p.Via, " "), p.Grant, csvInt(p.Seq)})
			}
		}
	}
	return t
}

// Table lists each privileged change, then each break-glass use with the seqs of the
// entries made under it.
func (r PrivilegedReport) Table() Table {
	t := Table{Header: []string{"kind", "seq", "time", "action", "role", "user_id", "group_id", "actor", "actions_under"}}
	for _, ch := range r.Changes {
		t.Rows = append(t.Rows, []string{"change", csvInt(ch.Seq), csvTime(ch.Time), ch.Action, ch.Role, ch.UserID, ch.GroupID, ch.Actor.ID, ""})
	}
	for _, u := range r.BreakGlass {
		acts := make([]string, len(u.Actions))
		for i, a := range u.Actions {
			acts[i] = csvInt(a)
		}
		t.Rows = append(t.Rows, []string{"break_glass", csvInt(u.Seq), csvTime(u.From), "break_glass.granted", u.Role, u.UserID, "", "", strings.Join(acts, " ")})
	}
	return t
}

// Table lists users gone from the IdP who keep app grants, orphaned service accounts and
// unused keys.
func (r StaleReport) Table() Table {
	t := Table{Header: []string{"kind", "id", "state", "detail", "seq", "idle_days"}}
	for _, u := range r.Users {
		t.Rows = append(t.Rows, []string{"user_with_app_grants", u.UserID, u.State, strings.Join(u.AppRoles, " "), csvInt(u.GoneSeq), ""})
	}
	for _, a := range r.Orphaned {
		t.Rows = append(t.Rows, []string{"orphaned_service_account", a.ID, a.State, a.OwnerID, csvInt(a.GoneSeq), ""})
	}
	for _, k := range r.UnusedKeys {
		t.Rows = append(t.Rows, []string{"unused_key", k.ID, "active", k.AccountID, "", csvInt(int64(k.IdleDays))})
	}
	return t
}

// Table lists each difference between the app's state and effective access.
func (r DriftReport) Table() Table {
	t := Table{Header: []string{"kind", "user_id", "role", "seq"}}
	for _, set := range []struct {
		kind  string
		items []DriftItem
	}{{"missing_revocation", r.MissingRevocations}, {"unexpected_grant", r.UnexpectedGrants}, {"missing_grant", r.MissingGrants}} {
		for _, d := range set.items {
			t.Rows = append(t.Rows, []string{set.kind, d.UserID, d.Role, csvInt(d.Seq)})
		}
	}
	return t
}

// Table is the review with one row per (user, role): its path kinds and their seqs, and the
// decision ("pending" until there is one).
func (r ReviewReport) Table() Table {
	t := Table{Header: []string{"user_id", "user_name", "external", "role", "path_kinds", "seqs", "decision", "comment",
		"decided_by", "decided_at", "decision_seq"}}
	for _, it := range r.Items {
		kinds, seqs := make([]string, len(it.Paths)), make([]string, len(it.Paths))
		for i, p := range it.Paths {
			kinds[i], seqs[i] = p.Kind, csvInt(p.Seq)
		}
		row := []string{it.UserID, it.UserName, strconv.FormatBool(it.External), it.Role, strings.Join(kinds, " "), strings.Join(seqs, " "),
			"pending", "", "", "", ""}
		if d := it.Decision; d != nil {
			row[6], row[7], row[8], row[9], row[10] = d.Decision, d.Comment, d.By, csvTime(d.At), csvInt(d.Seq)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// Table lists one row per SCIM token or service-account key.
func (r CredentialReport) Table() Table {
	t := Table{Header: []string{"kind", "id", "owner", "issued", "last_used", "rotated", "revoked", "expires", "age_days", "state"}}
	for _, k := range r.Credentials {
		t.Rows = append(t.Rows, []string{k.Kind, k.ID, k.Owner, csvTime(k.Issued), csvTime(k.LastUsed), csvTime(k.Rotated),
			csvTime(k.Revoked), csvTime(k.Expires), strconv.Itoa(k.AgeDays), k.State})
	}
	return t
}

// Table lists one row per deactivation or deletion; latency_ms is empty when the entry has
// no requested_at.
func (r DeprovisioningReport) Table() Table {
	t := Table{Header: []string{"seq", "user_id", "action", "channel", "requested_at", "applied_at", "latency_ms"}}
	for _, e := range r.Events {
		lat := ""
		if e.LatencyMS != nil {
			lat = strconv.FormatFloat(*e.LatencyMS, 'f', 3, 64)
		}
		t.Rows = append(t.Rows, []string{csvInt(e.Seq), e.UserID, e.Action, e.Channel, csvTime(e.RequestedAt), csvTime(e.AppliedAt), lat})
	}
	return t
}
