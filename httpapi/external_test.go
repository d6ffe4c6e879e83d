package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/ledger"
)

// reportUser is a user's row of the access report as these tests read it.
type reportUser struct {
	UserID         string `json:"user_id"`
	External       bool
	ExternalReason string `json:"external_reason"`
	Access         []struct {
		Role  string
		Paths []struct{ Kind string }
	}
	Refused []struct {
		Role   string
		Path   struct{ Kind string }
		Reason string
		Seq    int64
	}
}

// TestExternalCollaborators sets a tenant's own domains and its policies for externals over
// the API and checks who is external, as of each report's instant; that the bar on
// privileged roles refuses direct grants with a clear error and records, instead of
// applying, the paths the IdP makes; that grants to externals expire; and that lifting
// the bar or an email change brings the refused access back.
func TestExternalCollaborators(t *testing.T) {
	forEachBackendOpts(t, envOptions{keys: testKeyRing(t)}, func(t *testing.T, e *env) {
		var keys struct{ Keys []string }
		json.Unmarshal(e.must(e.do("GET", "/api/v1/audit/keys", e.operator, nil), 200).body, &keys)
		verifiers, err := ledger.ParseVerifierKeys(keys.Keys)
		if err != nil {
			t.Fatal(err)
		}
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, map[string]any{"id": "viewer", "name": "Viewer"}), 201)
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, map[string]any{"id": "root", "name": "Root", "privileged": true}), 201)
		newUser := func(body map[string]any) string {
			body["schemas"] = []any{"urn:ietf:params:scim:schemas:core:2.0:User"}
			return e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], body), 201).json()["id"].(string)
		}
		alice := newUser(map[string]any{"userName": "alice@acme.example"})
		gina := newUser(map[string]any{"userName": "gina", "userType": "Guest"})
		pat := newUser(map[string]any{"userName": "pat", "emails": []any{map[string]any{"value": "pat@partner.example", "primary": true}}})
		grp := e.must(e.do("POST", "/scim/v2/acme/Groups", e.scim["acme"], map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Eng", "members": []any{map[string]any{"value": alice}, map[string]any{"value": gina}, map[string]any{"value": pat}}}), 201).json()["id"].(string)
		for _, role := range []string{"root", "viewer"} {
			e.must(e.do("POST", "/api/v1/tenants/acme/mappings", e.operator, map[string]any{"group_id": grp, "role": role}), 201)
		}
		report := func(at time.Time) (map[string]reportUser, []byte) {
			t.Helper()
			raw := e.must(e.do("GET", "/api/v1/tenants/acme/reports/access?at="+at.Format(time.RFC3339Nano), e.operator, nil), 200).body
			if _, err := ledger.VerifyReport(raw, verifiers); err != nil {
				t.Fatalf("report at %s does not verify: %v\n%s", at, err, raw)
			}
			var rep struct{ Users []reportUser }
			json.Unmarshal(raw, &rep)
			out := map[string]reportUser{}
			for _, u := range rep.Users {
				out[u.UserID] = u
			}
			return out, raw
		}
		roles := func(u reportUser) string {
			var rs []string
			for _, a := range u.Access {
				rs = append(rs, a.Role)
			}
			return strings.Join(rs, ",")
		}
		e.clock.Advance(time.Second)
		t0 := e.clock.Now()
		e.clock.Advance(time.Second)
		// Before any domains: only the IdP's userType makes gina external.
		rep, raw := report(t0)
		if !rep[gina].External || rep[gina].ExternalReason != "userType guest" || rep[pat].External || rep[alice].External || roles(rep[gina]) != "root,viewer" {
			t.Fatalf("before the policy: %s", raw)
		}

		// Bad policies are refused and change nothing.
		auditor := e.issue("acme", "auditor")
		size := e.auditSize()
		apiError(t, e.do("PUT", "/api/v1/tenants/acme/policies/external", e.operator, map[string]any{"domains": []string{"not a domain"}}), 400, "invalid")
		apiError(t, e.do("PUT", "/api/v1/tenants/acme/policies/external", e.operator, map[string]any{"grant_days": -1}), 400, "invalid")
		apiError(t, e.do("PUT", "/api/v1/tenants/acme/policies/external", auditor, map[string]any{"grant_days": 1}), 403, "forbidden")
		if got := e.auditSize(); got != size {
			t.Fatalf("refused policies appended %d entries", got-size)
		}

		pol := e.must(e.do("PUT", "/api/v1/tenants/acme/policies/external", e.operator,
			map[string]any{"domains": []string{"ACME.example"}, "bar_privileged": true, "grant_days": 30}), 200).json()
		if d, _ := pol["domains"].([]any); len(d) != 1 || d[0] != "acme.example" || pol["bar_privileged"] != true || pol["grant_days"] != 30.0 {
			t.Fatalf("policy %v", pol)
		}
		// gina and pat lose root, kept as refusals with an entry each; viewer stays.
		if got := len(e.entriesOf("access.refused")); got != 2 {
			t.Fatalf("%d access.refused entries, want 2", got)
		}
		for _, en := range e.entriesOf("access.revoked") {
			if tgt := en["target"].(map[string]any)["id"]; tgt != gina && tgt != pat {
				t.Errorf("access.revoked of %v", tgt)
			}
		}
		var pr struct {
			Changes []struct {
				Action   string
				UserID   string `json:"user_id"`
				External bool
			}
		}
		json.Unmarshal(e.must(e.do("GET", "/api/v1/tenants/acme/reports/privileged-changes", e.operator, nil), 200).body, &pr)
		refusedChanges := 0
		for _, c := range pr.Changes {
			if c.Action == "access.refused" {
				refusedChanges++
				if !c.External {
					t.Errorf("privileged change %+v: the refused user is not marked external", c)
				}
			}
			if c.UserID == alice && c.External {
				t.Errorf("privileged change %+v marks alice external", c)
			}
		}
		if refusedChanges != 2 {
			t.Errorf("the privileged-change report lists %d refusals, want 2: %+v", refusedChanges, pr.Changes)
		}
		e.clock.Advance(time.Second)
		t1 := e.clock.Now()
		e.clock.Advance(time.Second)
		rep, raw = report(t1)
		if u := rep[pat]; !u.External || !strings.Contains(u.ExternalReason, "partner.example") || roles(u) != "viewer" ||
			len(u.Refused) != 1 || u.Refused[0].Role != "root" || u.Refused[0].Path.Kind != "group" || u.Refused[0].Seq == 0 ||
			!strings.Contains(u.Refused[0].Reason, "bars externals from privileged roles") {
			t.Fatalf("pat under the bar: %+v\n%s", u, raw)
		}
		if roles(rep[alice]) != "root,viewer" || rep[alice].External || len(rep[gina].Refused) != 1 {
			t.Fatalf("alice and gina under the bar: %s", raw)
		}

		// The direct routes refuse a privileged role to an external, clearly, changing nothing.
		size = e.auditSize()
		r := e.do("POST", "/api/v1/tenants/acme/grants", e.operator, map[string]any{"user_id": pat, "role": "root", "reason": "x"})
		apiError(t, r, 400, "invalid")
		if !strings.Contains(string(r.body), "external collaborator") || !strings.Contains(string(r.body), "root") {
			t.Errorf("refusal %s does not say why", r.body)
		}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/break-glass", e.operator, map[string]any{"user_id": gina, "role": "root", "justification": "x", "duration": "1h"}), 400, "invalid")
		if got := e.auditSize(); got != size {
			t.Fatalf("refused grants appended %d entries", got-size)
		}
		// A grant to an external expires after grant_days; one to an employee does not.
		g := e.must(e.do("POST", "/api/v1/tenants/acme/grants", e.operator, map[string]any{"user_id": pat, "role": "viewer", "reason": "contract"}), 201).json()
		if exp, _ := time.Parse(time.RFC3339Nano, g["expires"].(string)); !exp.Equal(e.clock.Now().Truncate(time.Microsecond).Add(30 * 24 * time.Hour)) {
			t.Errorf("grant to an external expires %v", g["expires"])
		}
		if g := e.must(e.do("POST", "/api/v1/tenants/acme/grants", e.operator, map[string]any{"user_id": alice, "role": "viewer", "reason": "x"}), 201).json(); g["expires"] != nil {
			t.Errorf("grant to an employee expires %v", g["expires"])
		}
		e.clock.Advance(31 * 24 * time.Hour)
		acc := string(e.must(e.do("GET", "/api/v1/tenants/acme/users/"+pat+"/access", e.operator, nil), 200).body)
		if strings.Contains(acc, `"kind":"direct"`) || !strings.Contains(acc, `"kind":"group"`) {
			t.Errorf("pat's access after the grant expired: %s", acc)
		}
		if n, _, err := e.svc.ExpireAccess(t.Context(), "acme"); n != 1 || err != nil {
			t.Errorf("ExpireAccess: %d, %v; want the one expired grant", n, err)
		}

		// pat's work email moves into the tenant's domain: pat is no longer external, the
		// refusal ends and root is granted. A report at t1 still says what held then.
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+pat, e.scim["acme"], map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "emails", "value": []any{map[string]any{"value": "pat@acme.example", "primary": true}}}}}), 200)
		e.clock.Advance(time.Second)
		rep, raw = report(e.clock.Now())
		if u := rep[pat]; u.External || roles(u) != "root,viewer" || len(u.Refused) != 0 {
			t.Fatalf("pat after the email change: %s", raw)
		}
		if rep, raw = report(t1); !rep[pat].External || len(rep[pat].Refused) != 1 {
			t.Fatalf("the report at t1 after the email change: %s", raw)
		}
		// Lifting the bar gives gina root back.
		e.must(e.do("PUT", "/api/v1/tenants/acme/policies/external", e.operator, map[string]any{"bar_privileged": false}), 200)
		e.clock.Advance(time.Second)
		if rep, raw = report(e.clock.Now()); roles(rep[gina]) != "root,viewer" || len(rep[gina].Refused) != 0 || !rep[gina].External {
			t.Fatalf("gina after the bar was lifted: %s", raw)
		}
		if p := e.must(e.do("GET", "/api/v1/tenants/acme/policies/external", auditor, nil), 200).json(); p["bar_privileged"] != false || p["grant_days"] != 30.0 {
			t.Errorf("policy read back: %v", p)
		}
		// The drift report marks externals too: the app has gina as owner, a role never
		// granted here, and lacks alice's roles.
		e.must(e.do("PUT", "/api/v1/tenants/acme/app-state", e.issue("acme", "app"), map[string]any{"snapshot": "s1", "last": true,
			"users": []any{map[string]any{"user_id": gina, "roles": []string{"owner"}}}}), 200)
		var dr struct {
			Unexpected []struct {
				UserID   string `json:"user_id"`
				External bool
			} `json:"unexpected_grants"`
			Missing []struct {
				UserID   string `json:"user_id"`
				External bool
			} `json:"missing_grants"`
		}
		json.Unmarshal(e.must(e.do("GET", "/api/v1/tenants/acme/reports/drift", e.operator, nil), 200).body, &dr)
		if len(dr.Unexpected) != 1 || dr.Unexpected[0].UserID != gina || !dr.Unexpected[0].External || len(dr.Missing) == 0 {
			t.Fatalf("drift: %+v", dr)
		}
		for _, m := range dr.Missing {
			if m.External != (m.UserID == gina) {
				t.Errorf("drift missing grant %+v: external is wrong", m)
			}
		}
	})
}
