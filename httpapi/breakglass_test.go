package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBreakGlassSecondAdmin: under the tenant policy second_admin a break-glass request
// grants nothing until another admin approves it; the requester and auditors cannot approve;
// the time counts from approval; approval and denial are ledger entries naming the approver.
func TestBreakGlassSecondAdmin(t *testing.T) {
	// Reports need signed checkpoints.
	forEachBackendOpts(t, envOptions{keys: testKeyRing(t)}, func(t *testing.T, e *env) {
		op := e.operator
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", op, map[string]any{"id": "root", "name": "Root", "privileged": true}), 201)
		u := e.scimID("Users", user("oncall"))
		alice, bob, auditor := e.issue("acme", "admin"), e.issue("acme", "admin"), e.issue("acme", "auditor")

		apiError(t, e.do("PATCH", "/api/v1/tenants/acme/settings", alice, map[string]any{"break_glass_approval": "maybe"}), 400, "invalid")
		if got := e.must(e.do("GET", "/api/v1/tenants/acme/settings", auditor, nil), 200).json()["break_glass_approval"]; got != "none" {
			t.Fatalf("default break_glass_approval = %v, want none", got)
		}
		e.must(e.do("PATCH", "/api/v1/tenants/acme/settings", alice, map[string]any{"break_glass_approval": "second_admin"}), 200)
		if last := e.lastEntry("acme"); last["action"] != "tenant.settings_changed" {
			t.Fatalf("policy change logged as %v", last["action"])
		}

		ask := map[string]any{"user_id": u, "role": "root", "justification": "INC-9 database down", "duration": "2h"}
		// What no approval could grant is refused at once.
		apiError(t, e.do("POST", "/api/v1/tenants/acme/break-glass", alice, map[string]any{"user_id": u, "role": "nosuch", "justification": "x", "duration": "1h"}), 400, "invalid")
		req := e.must(e.do("POST", "/api/v1/tenants/acme/break-glass", alice, ask), 202).json()
		id, _ := req["id"].(string)
		if req["state"] != "pending" || id == "" || req["duration"] != "2h0m0s" {
			t.Fatalf("request: %v", req)
		}
		if last := e.lastEntry("acme"); last["action"] != "break_glass.requested" || last["reason"] != "INC-9 database down" {
			t.Fatalf("request logged as %v", last)
		}
		if got := e.accessOf("acme", u, ""); len(got) != 0 {
			t.Fatalf("a pending request already grants %v", got)
		}
		before := e.auditSize()
		approve := "/api/v1/tenants/acme/break-glass/requests/" + id + "/approve"
		apiError(t, e.do("POST", approve, alice, nil), 403, "forbidden")
		apiError(t, e.do("POST", approve, auditor, nil), 403, "forbidden")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/break-glass/requests/nosuch/approve", bob, nil), 404, "not_found")
		if after := e.auditSize(); after != before {
			t.Fatalf("refused approvals wrote %d entries", after-before)
		}
		list := e.must(e.do("GET", "/api/v1/tenants/acme/break-glass/requests", auditor, nil), 200).json()["requests"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["state"] != "pending" {
			t.Fatalf("requests: %v", list)
		}

		// Bob approves ten minutes later: the two hours start now.
		e.clock.Advance(10 * time.Minute)
		approvedAt := e.clock.Now()
		got := e.must(e.do("POST", approve, bob, map[string]any{"reason": "confirmed with on-call lead"}), 200).json()
		if got["state"] != "approved" || got["grant_id"] == "" || got["decided_by"] == got["requested_by"] {
			t.Fatalf("approved request: %v", got)
		}
		apiError(t, e.do("POST", approve, op, nil), 409, "conflict")
		approved := e.entriesOf("break_glass.approved")
		granted := e.entriesOf("break_glass.granted")
		if len(approved) != 1 || len(granted) != 1 {
			t.Fatalf("entries: %d approved, %d granted", len(approved), len(granted))
		}
		actor := approved[0]["actor"].(map[string]any)
		if actor["id"] != got["decided_by"] || actor["type"] != "break_glass" || approved[0]["reason"] != "confirmed with on-call lead" {
			t.Fatalf("approval entry: %v", approved[0])
		}
		wantExpiry := approvedAt.Add(2 * time.Hour).UTC().Format(time.RFC3339Nano)
		var expires any
		for _, ch := range granted[0]["changes"].([]any) {
			if c := ch.(map[string]any); c["path"] == "expires" {
				expires = c["new"]
			}
		}
		// Entry times keep microseconds.
		if gotT, _ := time.Parse(time.RFC3339Nano, expires.(string)); gotT.Sub(approvedAt.Add(2*time.Hour)).Abs() >= time.Microsecond {
			t.Fatalf("grant expires %v, want %s (two hours from approval)", expires, wantExpiry)
		}
		if got, want := e.accessOf("acme", u, ""), []string{"root: break_glass[]"}; !cmp.Equal(got, want) {
			t.Fatalf("after approval: %v, want %v", got, want)
		}
		e.clock.Advance(2*time.Hour - time.Minute)
		if got := e.accessOf("acme", u, ""); len(got) != 1 {
			t.Fatalf("1h59m after approval (2h09m after the request) access is %v, want still held", got)
		}
		e.clock.Advance(2 * time.Minute)
		if got := e.accessOf("acme", u, ""); len(got) != 0 {
			t.Fatalf("after expiry: %v", got)
		}

		// A second request, denied by bob: nothing granted, the denial is logged.
		id2, _ := e.must(e.do("POST", "/api/v1/tenants/acme/break-glass", alice, ask), 202).json()["id"].(string)
		denied := e.must(e.do("POST", "/api/v1/tenants/acme/break-glass/requests/"+id2+"/deny", bob, map[string]any{"reason": "not an incident"}), 200).json()
		if denied["state"] != "denied" || denied["grant_id"] != nil {
			t.Fatalf("denied request: %v", denied)
		}
		if d := e.entriesOf("break_glass.denied"); len(d) != 1 || d[0]["reason"] != "not an incident" || d[0]["actor"].(map[string]any)["id"] != denied["decided_by"] {
			t.Fatalf("denial entries: %v", d)
		}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/break-glass/requests/"+id2+"/approve", bob, nil), 409, "conflict")
		if got := e.accessOf("acme", u, ""); len(got) != 0 {
			t.Fatalf("after a denial: %v", got)
		}

		// The privileged-changes report names who asked and who decided.
		var rep struct {
			Changes []struct {
				Action string         `json:"action"`
				Role   string         `json:"role"`
				UserID string         `json:"user_id"`
				Actor  map[string]any `json:"actor"`
			} `json:"changes"`
		}
		if err := json.Unmarshal(e.must(e.do("GET", "/api/v1/tenants/acme/reports/privileged-changes", auditor, nil), 200).body, &rep); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, c := range rep.Changes {
			if strings.HasPrefix(c.Action, "break_glass.") && c.Role == "root" && c.UserID == u {
				seen[c.Action]++
			}
		}
		if want := map[string]int{"break_glass.requested": 2, "break_glass.approved": 1, "break_glass.granted": 1, "break_glass.denied": 1}; !cmp.Equal(seen, want) {
			t.Fatalf("privileged report's break-glass changes: %v, want %v", seen, want)
		}

		// Policy back to none: break-glass is granted at once again (201, as before).
		e.must(e.do("PATCH", "/api/v1/tenants/acme/settings", alice, map[string]any{"break_glass_approval": "none"}), 200)
		e.must(e.do("POST", "/api/v1/tenants/acme/break-glass", alice, ask), 201)
	})
}
