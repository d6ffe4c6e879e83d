package console

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// A report is one evidence report the Reports page offers, computed by the service and
// written as JSON (the API's document) or CSV (one row per item, for spreadsheets).
type report struct {
	ID, Title, About string
	// compute returns the report's JSON document, its CSV header and rows, and the ledger
	// size it was computed at. o is the session's origin, for reports that record their
	// own download (drift).
	compute func(c *Console, r *http.Request, o service.Origin, tenant string) (reportOutput, error)
}

type reportOutput struct {
	Doc      any
	Header   []string
	Rows     [][]string
	LedgerAt int64
}

// reports are the reports of the Reports page, in order.
var reports = []report{
	{
		ID: "credentials", Title: "Credential lifecycle",
		About: "Every SCIM token and service-account key: when it was issued, last used, rotated, revoked, when it expires, and its age.",
		compute: func(c *Console, r *http.Request, o service.Origin, tenant string) (reportOutput, error) {
			rep, err := c.svc.Credentials(r.Context(), tenant)
			t := rep.Table()
			return reportOutput{Doc: rep, LedgerAt: rep.LedgerAt, Header: t.Header, Rows: t.Rows}, err
		},
	},
	{
		ID: "deprovisioning", Title: "Deprovisioning latency",
		About: "Every deactivation and deletion of a user: when your IdP asked, when scimtrail applied it, and how long that took (median, 95th percentile, worst).",
		compute: func(c *Console, r *http.Request, o service.Origin, tenant string) (reportOutput, error) {
			rep, err := c.svc.DeprovisioningLatency(r.Context(), tenant)
			t := rep.Table()
			return reportOutput{Doc: rep, LedgerAt: rep.LedgerAt, Header: t.Header, Rows: t.Rows}, err
		},
	},
	{
		ID: "access", Title: "Who has access now",
		About: "Every user's effective access at this moment with every path that grants it, and the signed checkpoint and inclusion proofs that back it (the JSON verifies offline with scimtrail audit verify --report).",
		compute: func(c *Console, r *http.Request, o service.Origin, tenant string) (reportOutput, error) {
			rep, err := c.svc.AccessReport(r.Context(), tenant, c.svc.Now())
			return withEvidence(rep, rep.Table(), rep.Evidence, err)
		},
	},
	{
		ID: "privileged", Title: "Privileged changes",
		About: "Every change that touched a privileged role — grants, revocations, mappings, roles marked privileged — and each break-glass use with the entries its user made under it, with the proofs that back them.",
		compute: func(c *Console, r *http.Request, o service.Origin, tenant string) (reportOutput, error) {
			rep, err := c.svc.PrivilegedChanges(r.Context(), tenant, time.Time{}, time.Time{})
			return withEvidence(rep, rep.Table(), rep.Evidence, err)
		},
	},
	{
		ID: "stale", Title: "Stale and orphaned accounts",
		About: "Users your IdP deprovisioned who still hold grants in the app, service accounts whose owner is gone, and service-account keys unused for 90 days or more.",
		compute: func(c *Console, r *http.Request, o service.Origin, tenant string) (reportOutput, error) {
			rep, err := c.svc.Stale(r.Context(), tenant, 90)
			return withEvidence(rep, rep.Table(), rep.Evidence, err)
		},
	},
	{
		ID: "drift", Title: "Drift between the app and the IdP",
		About: "Where the vendor's app's own record of roles differs from effective access now: missed revocations, unexpected grants, missing grants. Needs a snapshot the app sends with PUT /api/v1/tenants/{tenant}/app-state; downloading it is recorded in the audit log.",
		compute: func(c *Console, r *http.Request, o service.Origin, tenant string) (reportOutput, error) {
			rep, err := c.svc.Drift(r.Context(), o, tenant)
			if scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND {
				// Not a missing page: the app has not sent its state yet. Say what to do.
				return reportOutput{}, scimtrail.Errorf(scimtrail.EINVALID, "There is no drift report yet: the vendor's app has not sent a complete snapshot of its users and roles (PUT /api/v1/tenants/%s/app-state).", tenant)
			}
			return withEvidence(rep, rep.Table(), rep.Evidence, err)
		},
	},
}

// withEvidence is a report whose CSV ends with its evidence row, as the API writes it.
func withEvidence(doc any, t service.Table, ev service.Evidence, err error) (reportOutput, error) {
	if err != nil {
		return reportOutput{}, err
	}
	t, err = t.WithEvidence(ev)
	return reportOutput{Doc: doc, Header: t.Header, Rows: t.Rows, LedgerAt: ev.Size}, err
}

type reportsData struct {
	Reports    []report
	Checkpoint *checkpointView
	LogSize    int64
}

// reportsPage lists the reports with download links. It computes none of them: each is
// computed when downloaded, at the log's size then, which the file names and contains.
func (c *Console) reportsPage(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d := &reportsData{Reports: reports}
	size, err := c.svc.LogSize(r.Context(), v.TenantID)
	if err != nil {
		return "", err
	}
	d.LogSize = size
	if size > 0 {
		if cp, err := c.checkpoint(r, v.TenantID); err == nil {
			d.Checkpoint = &cp
		}
	}
	v.Title = "Reports"
	v.Data = d
	return "reports", nil
}

// downloadReport writes one report as JSON or CSV, as an attachment whose name says the
// tenant, the report and the ledger size it was computed at.
func (c *Console) downloadReport(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	id := r.PathValue("report")
	i := -1
	for j := range reports {
		if reports[j].ID == id {
			i = j
		}
	}
	format := r.URL.Query().Get("format")
	if i < 0 || (format != "json" && format != "csv") {
		return "", scimtrail.Errorf(scimtrail.ENOTFOUND, "no report %q as %q", id, format)
	}
	out, err := reports[i].compute(c, r, c.origin(w, r, v.Session), v.TenantID)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s-at-%d.%s", v.TenantID, id, out.LedgerAt, format)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Scimtrail-Ledger-Size", strconv.FormatInt(out.LedgerAt, 10))
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		cw.Write(out.Header)
		cw.WriteAll(out.Rows)
		return "", nil
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out.Doc)
	return "", nil
}
