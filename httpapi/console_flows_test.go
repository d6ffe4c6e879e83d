package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestConsoleSettingsAndApprovalFlow drives the console's Settings, Schemas, Break-glass and
// Kafka forms on each backend, as a browser would post them, and checks the results
// through the API: the policy is stored, a console request waits for a second admin, the
// requester's own approval is refused, another admin's is not.
func TestConsoleSettingsAndApprovalFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, map[string]any{"id": "root", "name": "Root", "privileged": true}), 201)
		e.scimID("Users", user("oncall"))
		first, second := e.consoleSignIn(e.issue("acme", "admin")), e.consoleSignIn(e.issue("acme", "admin"))

		if r := first.send("POST", "/console/t/acme/settings", url.Values{"break_glass_approval": {"second_admin"}, "dialect": {"okta"}}); r.status != http.StatusSeeOther {
			t.Fatalf("save settings: %d %s", r.status, r.body)
		}
		st := e.must(e.do("GET", "/api/v1/tenants/acme/settings", e.operator, nil), 200).json()
		if st["break_glass_approval"] != "second_admin" || st["dialect"] != "okta" {
			t.Fatalf("settings after the console saved them: %v", st)
		}
		if r := first.send("POST", "/console/t/acme/settings/retention", url.Values{"retention_days": {"30"}}); r.status != http.StatusSeeOther {
			t.Fatalf("save retention: %d %s", r.status, r.body)
		}
		if got := e.must(e.do("GET", "/api/v1/tenants/acme/retention", e.operator, nil), 200).json()["retention"]; got != "30d" {
			t.Fatalf("retention after the console saved it: %v", got)
		}
		def := `{"id":"urn:example:flow:User","resourceType":"User","attributes":[{"name":"floor","type":"integer"}]}`
		if r := first.send("POST", "/console/t/acme/schemas", url.Values{"definition": {def}}); r.status != http.StatusSeeOther {
			t.Fatalf("register schema: %d %s", r.status, r.body)
		}
		e.must(e.do("GET", "/api/v1/tenants/acme/schemas/urn:example:flow:User", e.operator, nil), 200)
		if r := first.send("POST", "/console/t/acme/exports", url.Values{"type": {"kafka"}, "brokers": {"203.0.113.10:9092"}, "topic": {"flow-audit"}, "format": {"native"}}); r.status != http.StatusOK || !strings.Contains(string(r.body), "flow-audit @ 203.0.113.10:9092") {
			t.Fatalf("kafka sink: %d %s", r.status, r.body)
		}

		if r := first.send("POST", "/console/t/acme/break-glass", url.Values{"user": {"oncall"}, "role": {"root"}, "duration": {"1h"}, "justification": {"INC-3"}}); r.status != http.StatusSeeOther {
			t.Fatalf("request: %d %s", r.status, r.body)
		}
		list := e.must(e.do("GET", "/api/v1/tenants/acme/break-glass/requests", e.operator, nil), 200).json()["requests"].([]any)
		if len(list) != 1 {
			t.Fatalf("requests: %v", list)
		}
		id := list[0].(map[string]any)["id"].(string)
		if r := first.send("POST", "/console/t/acme/break-glass/"+id+"/approve", url.Values{}); r.status != http.StatusForbidden {
			t.Fatalf("the requester's approval: %d, want 403", r.status)
		}
		if r := second.send("POST", "/console/t/acme/break-glass/"+id+"/approve", url.Values{}); r.status != http.StatusSeeOther {
			t.Fatalf("the second admin's approval: %d %s", r.status, r.body)
		}
		got := e.must(e.do("GET", "/api/v1/tenants/acme/break-glass/requests", e.operator, nil), 200).json()["requests"].([]any)[0].(map[string]any)
		if got["state"] != "approved" || got["decided_by"] == got["requested_by"] || got["grant_id"] == nil {
			t.Fatalf("request after approval: %v", got)
		}
		for _, action := range []string{"break_glass.requested", "break_glass.approved", "break_glass.granted", "tenant.settings_changed", "schema.registered", "sink.created"} {
			es := e.entriesOf(action)
			if len(es) != 1 || es[0]["channel"] != "console" {
				t.Errorf("%s entries: %v, want one with channel console", action, es)
			}
		}
	})
}
