package console_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// lastEntry is the newest entry of the tenant's log, decoded.
func (f *fixture) lastEntry(tb testing.TB, tenant string) map[string]any {
	tb.Helper()
	es := f.entries(tb, tenant)
	var m map[string]any
	if err := json.Unmarshal(es[len(es)-1].Body, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestSettingsPage(t *testing.T) {
	f := newFixture(t)
	admin := f.client(t)
	f.signIn(t, admin, f.acmeAdmin)
	_, page, _ := f.get(t, admin, "/console/t/acme/settings")
	for _, want := range []string{`id="settings-form"`, `<option value="auto" selected>`, `<option value="none" selected>`, "These are the defaults", `id="retention-form"`, "No entry has been pruned"} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}

	t.Run("Save", func(t *testing.T) {
		status, _, loc := f.post(t, admin, "/console/t/acme/settings", url.Values{"dialect": {"entra"}, "password_policy": {"reject"}, "break_glass_approval": {"second_admin"}}, nil)
		if status != http.StatusSeeOther || loc != "/console/t/acme/settings?done=settings" {
			t.Fatalf("save: %d %q", status, loc)
		}
		st, _ := f.svc.TenantSettings(t.Context(), "acme")
		if st.Dialect != "entra" || st.PasswordPolicy != "reject" || st.BreakGlassApproval != scimtrail.BreakGlassApprovalSecondAdmin {
			t.Fatalf("stored settings: %+v", st)
		}
		last := f.lastEntry(t, "acme")
		if last["action"] != "tenant.settings_changed" || last["channel"] != "console" || len(last["changes"].([]any)) != 3 {
			t.Fatalf("last entry: %v", last)
		}
		if _, page, _ := f.get(t, admin, "/console/t/acme/settings?done=settings"); !strings.Contains(page, `<option value="second_admin" selected>`) || !strings.Contains(page, "were saved") {
			t.Fatalf("the page does not show the saved settings:\n%s", page)
		}
	})
	t.Run("BadValueChangesNothing", func(t *testing.T) {
		before := len(f.entries(t, "acme"))
		status, body, _ := f.post(t, admin, "/console/t/acme/settings", url.Values{"dialect": {"ldap"}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, `id="settings-error"`) || !strings.Contains(body, "dialect must be one of strict, entra, okta or auto") {
			t.Fatalf("bad dialect: %d\n%s", status, body)
		}
		if after := len(f.entries(t, "acme")); after != before {
			t.Fatalf("a refused change wrote %d entries", after-before)
		}
	})
	t.Run("Retention", func(t *testing.T) {
		status, _, _ := f.post(t, admin, "/console/t/acme/settings/retention", url.Values{"retention_days": {"400"}, "legal_hold": {"on"}}, nil)
		if status != http.StatusSeeOther {
			t.Fatalf("save retention: %d", status)
		}
		ret, _ := f.svc.Retention(t.Context(), "acme")
		if ret.Period != 400*24*60*60*1e9 || !ret.LegalHold {
			t.Fatalf("stored retention: %+v", ret)
		}
		if last := f.lastEntry(t, "acme"); last["action"] != "ledger.retention_changed" || last["channel"] != "console" {
			t.Fatalf("last entry: %v", last)
		}
		status, body, _ := f.post(t, admin, "/console/t/acme/settings/retention", url.Values{"retention_days": {"a year"}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, `id="retention-error"`) || !strings.Contains(body, "whole number of days") {
			t.Fatalf("bad retention: %d\n%s", status, body)
		}
		if ret2, _ := f.svc.Retention(t.Context(), "acme"); ret2 != ret {
			t.Fatalf("a refused retention changed it: %+v", ret2)
		}
	})
	t.Run("AuditorReadsOnly", func(t *testing.T) {
		c := f.client(t)
		f.signIn(t, c, f.acmeAuditor)
		_, page, _ := f.get(t, c, "/console/t/acme/settings")
		if strings.Contains(page, `id="settings-form"`) || strings.Contains(page, `id="retention-form"`) || !strings.Contains(page, `id="fact-approval">second_admin`) || !strings.Contains(page, "400 days") {
			t.Fatalf("auditor's settings page:\n%s", page)
		}
		before := len(f.entries(t, "acme"))
		if status, _, _ := f.post(t, c, "/console/t/acme/settings", url.Values{"dialect": {"strict"}}, nil); status != http.StatusForbidden {
			t.Fatalf("auditor POST: %d, want 403", status)
		}
		if after := len(f.entries(t, "acme")); after != before {
			t.Fatal("an auditor changed the settings")
		}
	})
}

func TestSchemasPage(t *testing.T) {
	f := newFixture(t)
	admin := f.client(t)
	f.signIn(t, admin, f.acmeAdmin)
	if _, page, _ := f.get(t, admin, "/console/t/acme/schemas"); !strings.Contains(page, `id="no-schemas"`) || !strings.Contains(page, `id="schema-form"`) {
		t.Fatalf("empty schemas page:\n%s", page)
	}
	def := `{"id":"urn:example:params:scim:schemas:extension:acme:2.0:User","name":"AcmeUser","resourceType":"User",
		"attributes":[{"name":"costCenter","type":"string"},{"name":"badgeNumber","type":"string","uniqueness":"server"}]}`
	status, _, loc := f.post(t, admin, "/console/t/acme/schemas", url.Values{"definition": {def}}, nil)
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=registered") {
		t.Fatalf("register: %d %q", status, loc)
	}
	if last := f.lastEntry(t, "acme"); last["action"] != "schema.registered" || last["channel"] != "console" {
		t.Fatalf("last entry: %v", last)
	}
	_, page, _ := f.get(t, admin, "/console/t/acme/schemas")
	for _, want := range []string{"urn:example:params:scim:schemas:extension:acme:2.0:User", "costCenter, badgeNumber", `&#34;uniqueness&#34;: &#34;server&#34;`} {
		if !strings.Contains(page, want) {
			t.Errorf("schemas page lacks %q:\n%s", want, page)
		}
	}
	for name, c := range map[string]struct{ def, want string }{
		"NotJSON":   {`{"id": "urn:x", `, "JSON"},
		"Duplicate": {def, "already"},
		"Empty":     {"", "Paste the schema&#39;s JSON definition"},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(f.entries(t, "acme"))
			status, body, _ := f.post(t, admin, "/console/t/acme/schemas", url.Values{"definition": {c.def}}, nil)
			if status != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, c.want) {
				t.Fatalf("%d, want 400 with %q:\n%s", status, c.want, body)
			}
			if after := len(f.entries(t, "acme")); after != before {
				t.Fatal("a refused schema wrote to the log")
			}
		})
	}
	auditor := f.client(t)
	f.signIn(t, auditor, f.acmeAuditor)
	if _, page, _ := f.get(t, auditor, "/console/t/acme/schemas"); strings.Contains(page, `id="schema-form"`) || !strings.Contains(page, "costCenter") {
		t.Fatalf("auditor's schemas page:\n%s", page)
	}
}

// TestBreakGlassApprovalInConsole: with the second_admin policy a console request waits; the
// requester sees no approve button and is refused if it posts one anyway; another admin
// approves, and the entries name them with channel console.
func TestBreakGlassApprovalInConsole(t *testing.T) {
	f := newFixture(t)
	alice, _, _ := accessFixture(t, f)
	policy := scimtrail.BreakGlassApprovalSecondAdmin
	if _, _, err := f.svc.UpdateTenantSettings(t.Context(), operator, "acme", service.SettingsChange{BreakGlassApproval: &policy}); err != nil {
		t.Fatal(err)
	}
	second, _, err := f.svc.IssueToken(t.Context(), operator, "acme", scimtrail.TokenAdmin, "second-admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	requester := f.client(t)
	f.signIn(t, requester, f.acmeAdmin)
	status, _, loc := f.post(t, requester, "/console/t/acme/break-glass", url.Values{"user": {"alice@acme.example"}, "role": {"billing-admin"}, "duration": {"1h"}, "justification": {"INC-5"}}, nil)
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=requested") {
		t.Fatalf("request: %d %q", status, loc)
	}
	reqs, _ := f.svc.BreakGlassRequests(t.Context(), "acme", 0)
	if len(reqs) != 1 || reqs[0].State != scimtrail.RequestPending {
		t.Fatalf("requests: %+v", reqs)
	}
	id := reqs[0].ID
	_, page, _ := f.get(t, requester, "/console/t/acme/break-glass")
	if !strings.Contains(page, `id="request-`+id+`"`) || !strings.Contains(page, "another admin must approve it") || strings.Contains(page, "/"+id+"/approve") {
		t.Fatalf("the requester's page:\n%s", page)
	}
	status, body, _ := f.post(t, requester, "/console/t/acme/break-glass/"+id+"/approve", url.Values{}, nil)
	if status != http.StatusForbidden || !strings.Contains(body, "needs a second admin") {
		t.Fatalf("self-approval: %d\n%s", status, body)
	}
	if acc, _ := f.svc.AccessAt(t.Context(), "acme", f.svc.Now(), alice, "billing-admin"); len(acc.Users) != 0 {
		t.Fatalf("a pending request grants access: %+v", acc)
	}
	if _, page, _ := f.get(t, requester, "/console/t/acme/"); !strings.Contains(page, "1 break-glass request waiting for a second admin") {
		t.Fatalf("the overview does not point at the pending request:\n%s", page)
	}

	approver := f.client(t)
	f.signIn(t, approver, second.Secret)
	if _, page, _ := f.get(t, approver, "/console/t/acme/break-glass"); !strings.Contains(page, "/"+id+"/approve") {
		t.Fatalf("the second admin sees no approve button:\n%s", page)
	}
	if status, _, loc := f.post(t, approver, "/console/t/acme/break-glass/"+id+"/approve", url.Values{}, nil); status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=approved") {
		t.Fatalf("approve: %d %q", status, loc)
	}
	var approved map[string]any
	for _, e := range f.entries(t, "acme") {
		var m map[string]any
		json.Unmarshal(e.Body, &m)
		if m["action"] == "break_glass.approved" {
			approved = m
		}
	}
	if approved == nil || approved["channel"] != "console" || approved["actor"].(map[string]any)["id"] != second.ID {
		t.Fatalf("approval entry: %v", approved)
	}
	_, page, _ = f.get(t, approver, "/console/t/acme/break-glass?done=approved")
	if !strings.Contains(page, `id="active-break-glass"`) || !strings.Contains(page, `class="state-approved"`) {
		t.Fatalf("after approval:\n%s", page)
	}
	if status, body, _ := f.post(t, approver, "/console/t/acme/break-glass/"+id+"/deny", url.Values{}, nil); status != http.StatusBadRequest || !strings.Contains(body, "already approved") {
		t.Fatalf("deny after approval: %d\n%s", status, body)
	}
}

func TestNewReportsDownload(t *testing.T) {
	f := newFixture(t)
	accessFixture(t, f)
	c := f.client(t)
	f.signIn(t, c, f.acmeAuditor)
	_, page, _ := f.get(t, c, "/console/t/acme/reports")
	for _, id := range []string{"privileged", "stale", "drift"} {
		if !strings.Contains(page, `id="download-`+id+`-csv"`) || !strings.Contains(page, `id="download-`+id+`-json"`) {
			t.Errorf("reports page has no downloads for %s", id)
		}
	}
	for _, id := range []string{"privileged", "stale"} {
		status, body, _ := f.get(t, c, "/console/t/acme/reports/"+id+"?format=json")
		var doc struct {
			Evidence service.Evidence `json:"evidence"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &doc) != nil || doc.Evidence.Size == 0 || doc.Evidence.Checkpoint == "" {
			t.Fatalf("%s JSON: %d\n%s", id, status, body)
		}
		_, csvBody, _ := f.get(t, c, "/console/t/acme/reports/"+id+"?format=csv")
		rows, err := csv.NewReader(strings.NewReader(csvBody)).ReadAll()
		if err != nil || len(rows) < 2 || rows[0][0] != "kind" || rows[len(rows)-1][0] != "#evidence" {
			t.Fatalf("%s CSV: %v %q", id, err, rows)
		}
	}
	// Drift needs the app's snapshot: without one the page says so instead of a bare 404.
	status, body, _ := f.get(t, c, "/console/t/acme/reports/drift?format=json")
	if status != http.StatusBadRequest || !strings.Contains(body, "has not sent a complete snapshot") {
		t.Fatalf("drift without a snapshot: %d\n%s", status, body)
	}
}

func TestKafkaSinkForm(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	if _, page, _ := f.get(t, c, "/console/t/acme/exports"); !strings.Contains(page, `id="kafka-form"`) {
		t.Fatal("the exports page has no Kafka form")
	}
	status, body, _ := f.post(t, c, "/console/t/acme/exports", url.Values{"type": {"kafka"}, "brokers": {"kafka-1.example.com:9092, kafka-2.example.com:9092"}, "topic": {"bad topic!"}, "format": {"native"}}, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, "topic") || !strings.Contains(body, `<details id="add-kafka" open>`) {
		t.Fatalf("bad topic: %d\n%s", status, body)
	}
	if sinks, _ := f.svc.Sinks(t.Context(), "acme"); len(sinks) != 0 {
		t.Fatalf("a refused sink was created: %+v", sinks)
	}
	status, body, _ = f.post(t, c, "/console/t/acme/exports", url.Values{"type": {"kafka"}, "brokers": {"kafka-1.example.com:9092, kafka-2.example.com:9092"}, "topic": {"acme-audit"}, "format": {"ocsf"}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "acme-audit @ kafka-1.example.com:9092,kafka-2.example.com:9092") || !strings.Contains(body, "The Kafka sink was created") {
		t.Fatalf("create: %d\n%s", status, body)
	}
	sinks, _ := f.svc.Sinks(t.Context(), "acme")
	if len(sinks) != 1 || sinks[0].Type != "kafka" || sinks[0].Topic != "acme-audit" || len(sinks[0].Brokers) != 2 || sinks[0].Format != "ocsf" {
		t.Fatalf("sinks: %+v", sinks)
	}
	if last := f.lastEntry(t, "acme"); last["action"] != "sink.created" || last["channel"] != "console" {
		t.Fatalf("last entry: %v", last)
	}
}
