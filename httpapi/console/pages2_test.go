package console_test

import (
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/service"
)

// receiver is a webhook receiver on loopback that accepts every delivery.
func receiver(t *testing.T) *httptest.Server {
	t.Helper()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(rcv.Close)
	return rcv
}

var secretPattern = regexp.MustCompile(`whsec_[A-Za-z0-9+/=_-]+`)

// secretInPage finds a webhook secret in a page as a person reads it: html/template writes
// a base64 "+" in an attribute as "&#43;", so the page is unescaped first.
func secretInPage(page string) string { return secretPattern.FindString(html.UnescapeString(page)) }

func TestExportsPage(t *testing.T) {
	f := newFixture(t)
	rcv := receiver(t)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)

	t.Run("EmptySaysWhatToDo", func(t *testing.T) {
		if _, body, _ := f.get(t, c, "/console/t/acme/exports"); !strings.Contains(body, "No sink yet") {
			t.Fatalf("empty exports page:\n%s", body)
		}
	})
	t.Run("BadURLInWords", func(t *testing.T) {
		status, body, _ := f.post(t, c, "/console/t/acme/exports", url.Values{"url": {"ftp://x"}, "format": {"native"}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, "ftp://x") {
			t.Fatalf("bad URL: %d\n%s", status, body)
		}
	})
	var id string
	t.Run("CreateShowsSecretOnce", func(t *testing.T) {
		status, body, _ := f.post(t, c, "/console/t/acme/exports", url.Values{"url": {rcv.URL + "/hook"}, "format": {"ocsf"}}, nil)
		if status != http.StatusOK || !strings.Contains(body, "shown only once") || secretInPage(body) == "" {
			t.Fatalf("create: %d\n%s", status, body)
		}
		sinks, err := f.svc.Sinks(t.Context(), "acme")
		if err != nil || len(sinks) != 1 || sinks[0].Format != "ocsf" || sinks[0].Type != "webhook" {
			t.Fatalf("sinks after create: %+v, %v", sinks, err)
		}
		id = sinks[0].ID
		es := f.entries(t, "acme")
		if last := string(es[len(es)-1].Body); !strings.Contains(last, `"action":"sink.created"`) || !strings.Contains(last, `"channel":"console"`) {
			t.Fatalf("last entry: %s", last)
		}
		_, page, _ := f.get(t, c, "/console/t/acme/exports")
		if secretInPage(page) != "" {
			t.Fatal("the exports page shows the secret again")
		}
		if !strings.Contains(page, rcv.URL+"/hook") {
			t.Fatalf("the sink is not listed:\n%s", page)
		}
	})
	t.Run("RotateShowsNewSecret", func(t *testing.T) {
		status, body, _ := f.post(t, c, "/console/t/acme/exports/"+id+"/rotate", nil, nil)
		if status != http.StatusOK || secretInPage(body) == "" || !strings.Contains(body, "24 hours") {
			t.Fatalf("rotate: %d\n%s", status, body)
		}
	})
	t.Run("SplunkHECTokenNeverShown", func(t *testing.T) {
		status, body, _ := f.post(t, c, "/console/t/acme/exports", url.Values{"type": {"splunk_hec"}, "url": {rcv.URL + "/services/collector"},
			"token": {"11111111-2222-3333-4444-555555555555"}}, nil)
		if status != http.StatusOK || !strings.Contains(body, "Splunk HEC") || strings.Contains(body, "11111111-2222") || strings.Contains(body, `id="new-secret"`) {
			t.Fatalf("create HEC: %d\n%s", status, body)
		}
	})
	t.Run("SyslogWithoutAddressInWords", func(t *testing.T) {
		status, body, _ := f.post(t, c, "/console/t/acme/exports", url.Values{"type": {"syslog"}, "format": {"cef"}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, `id="add-syslog" open`) {
			t.Fatalf("syslog without address: %d\n%s", status, body)
		}
	})
	t.Run("RetryAndDelete", func(t *testing.T) {
		if status, _, loc := f.post(t, c, "/console/t/acme/exports/"+id+"/retry", nil, nil); status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=retried") {
			t.Fatalf("retry: %d %q", status, loc)
		}
		if status, _, loc := f.post(t, c, "/console/t/acme/exports/"+id+"/delete", nil, nil); status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=deleted") {
			t.Fatalf("delete: %d %q", status, loc)
		}
		if sinks, _ := f.svc.Sinks(t.Context(), "acme"); len(sinks) != 1 || sinks[0].Type != "splunk_hec" {
			t.Fatalf("sinks after delete: %+v", sinks)
		}
	})
}

// TestExportsAdminsOnly: auditors neither see where the log goes nor change it, and an
// admin of another tenant sees nothing of this tenant's sinks.
func TestExportsAdminsOnly(t *testing.T) {
	f := newFixture(t)
	rcv := receiver(t)
	created, _, err := f.svc.CreateSink(t.Context(), operator, "acme", service.SinkRequest{Type: "webhook", URL: rcv.URL + "/acme-secret-path"})
	if err != nil {
		t.Fatal(err)
	}
	auditor := f.client(t)
	f.signIn(t, auditor, f.acmeAuditor)
	status, body, _ := f.get(t, auditor, "/console/t/acme/exports")
	if status != http.StatusOK || !strings.Contains(body, "set up by the tenant's admins") || strings.Contains(body, "acme-secret-path") {
		t.Fatalf("auditor's exports page: %d\n%s", status, body)
	}
	before := len(f.entries(t, "acme"))
	for _, path := range []string{"/console/t/acme/exports", "/console/t/acme/exports/" + created.ID + "/retry",
		"/console/t/acme/exports/" + created.ID + "/rotate", "/console/t/acme/exports/" + created.ID + "/delete"} {
		if status, _, _ := f.post(t, auditor, path, url.Values{"url": {rcv.URL}}, nil); status != http.StatusForbidden {
			t.Errorf("auditor POST %s: %d, want 403", path, status)
		}
	}
	if after := len(f.entries(t, "acme")); after != before {
		t.Fatalf("refused changes grew the log from %d to %d", before, after)
	}
	globex := f.client(t)
	f.signIn(t, globex, f.globexAdmin)
	for _, path := range []string{"/console/t/acme/exports", "/console/t/acme/reports", "/console/t/acme/reports/credentials?format=json",
		"/console/t/acme/service-accounts"} {
		if status, body, _ := f.get(t, globex, path); status != http.StatusNotFound || strings.Contains(body, "acme-secret-path") {
			t.Errorf("globex admin GET %s: %d, want 404", path, status)
		}
	}
	if status, _, _ := f.post(t, globex, "/console/t/acme/exports/"+created.ID+"/delete", nil, nil); status != http.StatusNotFound {
		t.Errorf("globex admin deletes acme's sink: %d, want 404", status)
	}
	// Under its own tenant, another tenant's sink id is not found either.
	if status, _, _ := f.post(t, globex, "/console/t/globex/exports/"+created.ID+"/delete", nil, nil); status != http.StatusNotFound {
		t.Errorf("acme's sink under globex: %d, want 404", status)
	}
	if sinks, _ := f.svc.Sinks(t.Context(), "acme"); len(sinks) != 1 {
		t.Fatalf("acme's sink is gone: %+v", sinks)
	}
}

func TestReportsDownload(t *testing.T) {
	f := newFixture(t)
	scim, _, err := f.svc.IssueToken(t.Context(), operator, "acme", "scim", "entra", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	f.signIn(t, c, f.acmeAuditor) // auditors pull evidence
	_, page, _ := f.get(t, c, "/console/t/acme/reports")
	for _, want := range []string{"Credential lifecycle", "Deprovisioning latency", "Computed at checkpoint", `download-credentials-csv`} {
		if !strings.Contains(page, want) {
			t.Errorf("reports page lacks %q", want)
		}
	}
	status, body, _ := f.get(t, c, "/console/t/acme/reports/credentials?format=json")
	var rep service.CredentialReport
	if status != http.StatusOK || json.Unmarshal([]byte(body), &rep) != nil || len(rep.Credentials) != 1 || rep.Credentials[0].ID != scim.ID || rep.LedgerAt == 0 {
		t.Fatalf("credentials JSON: %d\n%s", status, body)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/console/t/acme/reports/credentials?format=csv", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "kind" || rows[1][1] != scim.ID {
		t.Fatalf("credentials CSV: %v %q", err, rows)
	}
	if got := resp.Header.Get("Content-Disposition"); !strings.Contains(got, "acme-credentials-at-") || !strings.HasSuffix(got, `.csv"`) {
		t.Fatalf("Content-Disposition %q does not name the tenant, report and ledger size", got)
	}
	if status, _, _ := f.get(t, c, "/console/t/acme/reports/nosuch?format=csv"); status != http.StatusNotFound {
		t.Fatalf("unknown report: %d, want 404", status)
	}
}

func TestServiceAccountsPage(t *testing.T) {
	f := newFixture(t)
	alice, _, _ := accessFixture(t, f)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	if _, body, _ := f.get(t, c, "/console/t/acme/service-accounts"); !strings.Contains(body, "No service accounts yet") {
		t.Fatalf("empty page:\n%s", body)
	}
	status, body, _ := f.post(t, c, "/console/t/acme/service-accounts", url.Values{"name": {"billing-sync"}, "owner": {"nobody@acme.example"}}, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "There is no user") {
		t.Fatalf("unknown owner: %d\n%s", status, body)
	}
	if status, _, _ := f.post(t, c, "/console/t/acme/service-accounts", url.Values{"name": {"billing-sync"}, "owner": {"alice@acme.example"}}, nil); status != http.StatusSeeOther {
		t.Fatalf("create: %d", status)
	}
	accts, _ := f.svc.ServiceAccounts(t.Context(), "acme")
	if len(accts) != 1 || accts[0].OwnerID != alice {
		t.Fatalf("accounts: %+v", accts)
	}
	id := accts[0].ID
	status, body, _ = f.post(t, c, "/console/t/acme/service-accounts/"+id+"/keys", url.Values{"expires": {"90d"}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "stk_nhi_") || !strings.Contains(body, "shown only once") {
		t.Fatalf("issue key: %d\n%s", status, body)
	}
	_, page, _ := f.get(t, c, "/console/t/acme/service-accounts")
	if strings.Contains(page, "stk_nhi_") || !strings.Contains(page, "alice@acme.example") {
		t.Fatalf("the page shows the key again, or not the owner:\n%s", page)
	}
	av, _ := f.svc.ServiceAccount(t.Context(), "acme", id)
	key := av.Keys[0].ID
	status, body, _ = f.post(t, c, "/console/t/acme/service-accounts/"+id+"/keys/"+key+"/rotate", url.Values{"overlap": {"1h"}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "stk_nhi_") || !strings.Contains(body, "keeps working for 1h0m0s") {
		t.Fatalf("rotate: %d\n%s", status, body)
	}
	if status, _, _ := f.post(t, c, "/console/t/acme/service-accounts/"+id+"/keys/"+key+"/revoke", nil, nil); status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", status)
	}
	if status, _, _ := f.post(t, c, "/console/t/acme/service-accounts/"+id+"/disable", url.Values{"reason": {"replaced"}}, nil); status != http.StatusSeeOther {
		t.Fatalf("disable: %d", status)
	}
	_, page, _ = f.get(t, c, "/console/t/acme/service-accounts")
	if !strings.Contains(page, "disabled") || strings.Contains(page, "Issue key") {
		t.Fatalf("a disabled account still offers keys:\n%s", page)
	}
	var actions []string
	for _, e := range f.entries(t, "acme") {
		if strings.Contains(string(e.Body), `"channel":"console"`) {
			var x struct{ Action string }
			json.Unmarshal(e.Body, &x)
			actions = append(actions, x.Action)
		}
	}
	for _, want := range []string{"service_account.created", "nhi.key_issued", "service_account.disabled"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("console entries %v lack %s", actions, want)
		}
	}
	// Auditors see, and change nothing.
	aud := f.client(t)
	f.signIn(t, aud, f.acmeAuditor)
	if _, body, _ := f.get(t, aud, "/console/t/acme/service-accounts"); !strings.Contains(body, "billing-sync") || strings.Contains(body, `id="account-form"`) {
		t.Fatalf("auditor's page:\n%s", body)
	}
	if status, _, _ := f.post(t, aud, "/console/t/acme/service-accounts", url.Values{"name": {"x"}, "owner": {"alice@acme.example"}}, nil); status != http.StatusForbidden {
		t.Fatalf("auditor create: %d, want 403", status)
	}
}

func TestUsersFilterByRoleAndGroup(t *testing.T) {
	f := newFixture(t)
	_, eng, staff := accessFixture(t, f)
	scim, _, _ := f.svc.IssueToken(t.Context(), operator, "acme", "scim", "okta", 0)
	f.createUser(t, "acme", scim.Secret, "bob@acme.example", "Bob Builder")
	if _, _, err := f.svc.CreateMapping(t.Context(), operator, "acme", staff, "viewer"); err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	f.signIn(t, c, f.acmeAuditor)
	for _, tc := range []struct{ query, want, notWant string }{
		{"role=viewer", "alice@acme.example", "bob@acme.example"},
		{"group=" + staff, "alice@acme.example", "bob@acme.example"}, // through Engineering, nested
		{"group=" + eng + "&role=viewer", "alice@acme.example", "bob@acme.example"},
		{"role=billing-admin", "No user matches", "alice@acme.example"},
		{"", "bob@acme.example", "No user matches"},
	} {
		status, body, _ := f.get(t, c, "/console/t/acme/users?"+tc.query)
		if status != http.StatusOK {
			t.Errorf("users?%s: %d, want 200", tc.query, status)
		}
		// Users show as link text: ">alice@acme.example<".
		mark := func(s string) string {
			if strings.Contains(s, "@") {
				return ">" + s + "<"
			}
			return s
		}
		if !strings.Contains(body, mark(tc.want)) || strings.Contains(body, mark(tc.notWant)) {
			t.Errorf("users?%s: want %q shown and %q not", tc.query, tc.want, tc.notWant)
		}
	}
}

// TestDeadSinkShowsErrorAndRetry: a sink whose receiver keeps failing stops, the page says so
// with the receiver's answer, and Retry makes it active again.
func TestDeadSinkShowsErrorAndRetry(t *testing.T) {
	f := newFixture(t)
	var fail atomic.Bool
	fail.Store(true)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	created, _, err := f.svc.CreateSink(t.Context(), operator, "acme", service.SinkRequest{Type: "webhook", URL: rcv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	var body string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body, _ = f.get(t, c, "/console/t/acme/exports")
		if strings.Contains(body, "stopped after repeated failures") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink never showed as stopped:\n%s", body)
		}
	}
	for _, want := range []string{"503", "/exports/" + created.ID + "/retry"} {
		if !strings.Contains(body, want) {
			t.Errorf("the dead sink's row lacks %q", want)
		}
	}
	fail.Store(false)
	if status, _, _ := f.post(t, c, "/console/t/acme/exports/"+created.ID+"/retry", nil, nil); status != http.StatusSeeOther {
		t.Fatalf("retry: %d", status)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := f.svc.SinkStatus(t.Context(), "acme", created.ID)
		if err == nil && st.State == "active" && st.Lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after retry: %+v, %v", st, err)
		}
	}
	es := f.entries(t, "acme")
	found := false
	for _, e := range es {
		found = found || strings.Contains(string(e.Body), `"action":"sink.retried"`) && strings.Contains(string(e.Body), `"channel":"console"`)
	}
	if !found {
		t.Fatal("no sink.retried entry from the console")
	}
}

// The access report on the Reports page is the API's evidence report: the user's role with
// its group path, and a signed checkpoint with inclusion proofs for the entries it cites.
func TestAccessReportDownload(t *testing.T) {
	f := newFixture(t)
	alice, _, staff := accessFixture(t, f)
	if _, _, err := f.svc.CreateMapping(t.Context(), operator, "acme", staff, "viewer"); err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	f.signIn(t, c, f.acmeAuditor)
	_, page, _ := f.get(t, c, "/console/t/acme/reports")
	if !strings.Contains(page, "Who has access now") {
		t.Fatalf("reports page lacks the access report")
	}
	status, body, _ := f.get(t, c, "/console/t/acme/reports/access?format=json")
	var rep service.AccessReport
	if status != http.StatusOK || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("access JSON: %d\n%s", status, body)
	}
	if rep.Evidence.Checkpoint == "" || len(rep.Evidence.Entries) == 0 {
		t.Fatalf("access report carries no evidence: %+v", rep.Evidence)
	}
	found := false
	for _, u := range rep.Users {
		for _, a := range u.Access {
			if u.UserID == alice && a.Role == "viewer" {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("access report lacks alice's viewer role:\n%s", body)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/console/t/acme/reports/access?format=csv", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][3] != "role" || rows[1][0] != alice || rows[1][5] != "group" {
		t.Fatalf("access CSV: %v %q", err, rows)
	}
}
