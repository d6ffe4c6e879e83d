package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// accessFixture adds to f a global role "viewer", a privileged global role "billing-admin",
// and, in acme, alice in group Engineering nested in All Staff; it returns alice's id and
// the two groups' ids.
func accessFixture(t *testing.T, f *fixture) (alice, eng, staff string) {
	t.Helper()
	ctx := t.Context()
	for _, r := range []service.RoleInput{
		{ID: "viewer", Name: "Viewer", Description: "Reads dashboards"},
		{ID: "billing-admin", Name: "Billing admin", Privileged: true},
	} {
		if _, _, err := f.svc.CreateRole(ctx, operator, "", r); err != nil {
			t.Fatalf("CreateRole %s: %v", r.ID, err)
		}
	}
	scim, _, err := f.svc.IssueToken(ctx, operator, "acme", "scim", "entra", 0)
	if err != nil {
		t.Fatal(err)
	}
	alice = f.createUser(t, "acme", scim.Secret, "alice@acme.example", "Alice Liddell")
	eng = f.createGroup(t, "acme", scim.Secret, "Engineering", alice)
	staff = f.createGroup(t, "acme", scim.Secret, "All Staff", eng)
	return alice, eng, staff
}

func TestMappingShowsOnUserAndHolders(t *testing.T) {
	f := newFixture(t)
	alice, _, staff := accessFixture(t, f)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)

	before := time.Now().UTC()
	f.later(time.Hour)
	status, _, loc := f.post(t, c, "/console/t/acme/mappings", url.Values{"group": {staff}, "role": {"viewer"}}, nil)
	if status != http.StatusSeeOther || !strings.Contains(loc, "done=mapped") {
		t.Fatalf("map All Staff to viewer: %d %q", status, loc)
	}
	es := f.entries(t, "acme")
	var mapped string
	for _, e := range es {
		if strings.Contains(string(e.Body), `"action":"mapping.created"`) {
			mapped = string(e.Body)
		}
	}
	if !strings.Contains(mapped, `"channel":"console"`) {
		t.Fatalf("mapping.created entry not via console: %s", mapped)
	}

	_, body, _ := f.get(t, c, "/console/t/acme/")
	if !strings.Contains(body, `id="count-roles">2</span>`) || !strings.Contains(body, "(1 group mapping)") {
		t.Errorf("overview lacks the role and mapping counts")
	}
	_, body, _ = f.get(t, c, "/console/t/acme/users/"+alice)
	for _, want := range []string{`id="effective-access"`, "Viewer", "member of group", "Engineering</a> → ", "All Staff</a>", `id="access-timeline"`, "tl-bar"} {
		if !strings.Contains(body, want) {
			t.Errorf("user page lacks %q", want)
		}
	}
	// As of before the mapping, alice held nothing, and the timeline marks the instant.
	_, body, _ = f.get(t, c, "/console/t/acme/users/"+alice+"?at="+url.QueryEscape(before.Format(time.RFC3339)))
	if !strings.Contains(body, `id="no-access"`) || !strings.Contains(body, `id="timeline-marker"`) {
		t.Errorf("user page as of before the mapping shows access, or no marker:\n%s", body)
	}

	_, body, _ = f.get(t, c, "/console/t/acme/roles/viewer")
	if !strings.Contains(body, "alice@acme.example") || !strings.Contains(body, "by 1 user") {
		t.Errorf("holders of viewer now lack alice:\n%s", body)
	}
	_, body, _ = f.get(t, c, "/console/t/acme/roles/viewer?at="+url.QueryEscape(before.Format(time.RFC3339)))
	if strings.Contains(body, "alice@acme.example") || !strings.Contains(body, `id="no-holders"`) {
		t.Errorf("holders of viewer before the mapping list alice:\n%s", body)
	}

	// Remove the mapping: alice holds nothing now, but did an hour ago.
	ms, _ := f.svc.Mappings(t.Context(), "acme")
	f.later(24 * time.Hour)
	if status, _, _ := f.post(t, c, "/console/t/acme/mappings/"+ms[0].ID+"/delete", nil, nil); status != http.StatusSeeOther {
		t.Fatalf("remove mapping: %d", status)
	}
	_, body, _ = f.get(t, c, "/console/t/acme/roles/viewer?at="+url.QueryEscape(before.Add(2*time.Hour).Format("2006-01-02T15:04")))
	if !strings.Contains(body, "alice@acme.example") || !strings.Contains(body, "nested in All Staff") {
		t.Errorf("holders of viewer in the past lack alice through her group chain:\n%s", body)
	}
}

func TestRolesFormsSayWhatIsWrong(t *testing.T) {
	f := newFixture(t)
	accessFixture(t, f)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	for _, tc := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/console/t/acme/grants", url.Values{"user": {"nobody@acme.example"}, "role": {"viewer"}, "reason": {"x"}}, "There is no user"},
		{"/console/t/acme/grants", url.Values{"user": {"alice@acme.example"}, "role": {"viewer"}}, "needs a reason"},
		{"/console/t/acme/roles", url.Values{"id": {"Bad Id"}, "name": {"x"}}, "must be 1 to 64 characters"},
		{"/console/t/acme/mappings", url.Values{"role": {"viewer"}}, "Choose both a group and a role"},
		{"/console/t/acme/break-glass", url.Values{"user": {"alice@acme.example"}, "role": {"billing-admin"}, "duration": {"1h"}}, "needs a justification"},
	} {
		status, body, _ := f.post(t, c, tc.path, tc.form, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s %v: %d, want 400 with %q", tc.path, tc.form, status, tc.want)
		}
	}
	// A good grant and a break-glass request both land, via the console.
	if status, _, _ := f.post(t, c, "/console/t/acme/grants", url.Values{"user": {"alice@acme.example"}, "role": {"viewer"}, "reason": {"IT-1"}}, nil); status != http.StatusSeeOther {
		t.Fatalf("grant: %d", status)
	}
	if status, _, _ := f.post(t, c, "/console/t/acme/break-glass", url.Values{"user": {"alice@acme.example"}, "role": {"billing-admin"},
		"duration": {"30m"}, "justification": {"INC-42"}}, nil); status != http.StatusSeeOther {
		t.Fatalf("break-glass: %d", status)
	}
	_, body, _ := f.get(t, c, "/console/t/acme/break-glass")
	for _, want := range []string{`id="active-break-glass"`, "alice@acme.example", "INC-42", "left", `id="break-glass-history"`} {
		if !strings.Contains(body, want) {
			t.Errorf("break-glass page lacks %q", want)
		}
	}
	es := f.entries(t, "acme")
	last := ""
	for _, e := range es {
		if strings.Contains(string(e.Body), `"action":"break_glass.granted"`) {
			last = string(e.Body)
		}
	}
	for _, want := range []string{`"channel":"console"`, `"type":"break_glass"`, `"reason":"INC-42"`} {
		if !strings.Contains(last, want) {
			t.Errorf("break_glass.granted lacks %s: %s", want, last)
		}
	}
}

func TestAuditorReadsAccessButChangesNothing(t *testing.T) {
	f := newFixture(t)
	alice, eng, _ := accessFixture(t, f)
	c := f.client(t)
	f.signIn(t, c, f.acmeAuditor)
	for _, path := range []string{"/console/t/acme/roles", "/console/t/acme/roles/viewer", "/console/t/acme/break-glass", "/console/t/acme/users/" + alice} {
		status, body, _ := f.get(t, c, path)
		if status != http.StatusOK || strings.Contains(body, `method="post" action="/console/t/acme/`) {
			t.Errorf("auditor GET %s: %d, or it shows a change form", path, status)
		}
	}
	before := len(f.entries(t, "acme"))
	for path, form := range map[string]url.Values{
		"/console/t/acme/mappings":    {"group": {eng}, "role": {"viewer"}},
		"/console/t/acme/roles":       {"id": {"r"}, "name": {"R"}},
		"/console/t/acme/grants":      {"user": {"alice@acme.example"}, "role": {"viewer"}, "reason": {"x"}},
		"/console/t/acme/break-glass": {"user": {"alice@acme.example"}, "role": {"viewer"}, "duration": {"1h"}, "justification": {"x"}},
	} {
		if status, _, _ := f.post(t, c, path, form, nil); status != http.StatusForbidden {
			t.Errorf("auditor POST %s: %d, want 403", path, status)
		}
	}
	if after := len(f.entries(t, "acme")); after != before {
		t.Fatalf("the log grew from %d to %d entries after refused changes", before, after)
	}
}

func TestAccessPagesTenantIsolation(t *testing.T) {
	f := newFixture(t)
	accessFixture(t, f)
	c := f.client(t)
	f.signIn(t, c, f.globexAdmin)
	for _, path := range []string{"/console/t/acme/roles", "/console/t/acme/roles/viewer", "/console/t/acme/break-glass"} {
		if status, body, _ := f.get(t, c, path); status != http.StatusNotFound || strings.Contains(body, "alice") {
			t.Errorf("globex admin GET %s: %d", path, status)
		}
	}
	if status, _, _ := f.post(t, c, "/console/t/acme/grants", url.Values{"user": {"alice@acme.example"}, "role": {"viewer"}, "reason": {"x"}}, nil); status != http.StatusNotFound {
		t.Errorf("globex admin POST to acme: %d, want 404", status)
	}
	// Globex's own roles page shows the global catalogue, but none of acme's users.
	_, body, _ := f.get(t, c, "/console/t/globex/roles/viewer")
	if strings.Contains(body, "alice") {
		t.Error("globex's holders of viewer list acme's alice")
	}
}

// TestScopedAdminInConsole: a delegated admin token whose scope lists only viewer signs in to
// the console; granting, mapping or breaking glass for billing-admin and issuing, rotating or
// revoking SCIM tokens are refused with the scope's reason, as on the API, and change nothing;
// granting viewer works.
func TestScopedAdminInConsole(t *testing.T) {
	f := newFixture(t)
	_, eng, _ := accessFixture(t, f)
	scoped, _, err := f.svc.IssueScopedToken(t.Context(), operator, "acme", scimtrail.TokenAdmin, "helpdesk", 0,
		scimtrail.TokenScope{GrantableRoles: []string{"viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	scimTok, _, err := f.svc.IssueToken(t.Context(), operator, "acme", scimtrail.TokenSCIM, "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	f.signIn(t, c, scoped.Secret)
	before := len(f.entries(t, "acme"))
	for path, form := range map[string]url.Values{
		"/console/t/acme/grants":                                   {"user": {"alice@acme.example"}, "role": {"billing-admin"}, "reason": {"x"}},
		"/console/t/acme/mappings":                                 {"group": {eng}, "role": {"billing-admin"}},
		"/console/t/acme/break-glass":                              {"user": {"alice@acme.example"}, "role": {"billing-admin"}, "justification": {"x"}, "duration": {"1h"}},
		"/console/t/acme/connect/tokens":                           {"name": {"sneaky"}, "expires": {"30d"}},
		"/console/t/acme/connect/tokens/" + scimTok.ID + "/rotate": {},
		"/console/t/acme/connect/tokens/" + scimTok.ID + "/revoke": {},
	} {
		status, body, _ := f.post(t, c, path, form, nil)
		if status != http.StatusForbidden || !strings.Contains(body, "scope") || strings.Contains(body, "auditor token") {
			t.Errorf("POST %s by a scoped admin: %d, want 403 naming the scope:\n%.2000s", path, status, body)
		}
	}
	if after := len(f.entries(t, "acme")); after != before {
		t.Fatalf("refused console actions wrote %d entries", after-before)
	}
	status, _, _ := f.post(t, c, "/console/t/acme/grants", url.Values{"user": {"alice@acme.example"}, "role": {"viewer"}, "reason": {"helpdesk ticket 12"}}, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("granting a role in scope: %d, want 303", status)
	}
}
