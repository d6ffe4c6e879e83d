package httpapi_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/ledger"
)

// verifiedEntries returns the tenant's ledger entries as JSON objects, in seq order, after
// checking with the offline verifier that every stored body hashes to its leaf hash and the
// log is gap-free: whatever the events API writes must verify like everything else.
func (e *env) verifiedEntries(tenant string) []map[string]any {
	e.t.Helper()
	r := e.must(e.do("GET", "/api/v1/tenants/"+tenant+"/audit?limit=5000", e.operator, nil), 200)
	var body struct {
		Entries []struct {
			Seq      int64           `json:"seq"`
			LeafHash string          `json:"leaf_hash"`
			Entry    json.RawMessage `json:"entry"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		e.t.Fatalf("audit body: %v", err)
	}
	var recs []ledger.Record
	var out []map[string]any
	for _, en := range body.Entries {
		leaf, _ := hex.DecodeString(en.LeafHash)
		recs = append(recs, ledger.Record{Seq: en.Seq, Body: en.Entry, LeafHash: leaf})
		var m map[string]any
		if err := json.Unmarshal(en.Entry, &m); err != nil {
			e.t.Fatalf("entry %d: %v", en.Seq, err)
		}
		out = append(out, m)
	}
	rep := ledger.Verify(&records{recs: recs}, nil, nil, "scimtrail/test/"+tenant, nil)
	if !rep.OK || rep.Entries != int64(len(recs)) {
		e.t.Fatalf("the log of %s does not verify: %+v", tenant, rep)
	}
	return out
}

type records struct{ recs []ledger.Record }

func (r *records) Next() (ledger.Record, error) {
	if len(r.recs) == 0 {
		return ledger.Record{}, io.EOF
	}
	rec := r.recs[0]
	r.recs = r.recs[1:]
	return rec, nil
}

func appEvent(action string, metadata map[string]any) map[string]any {
	ev := map[string]any{
		"action":      action,
		"occurred_at": "2026-11-29T06:39:58.5Z",
		"actor":       map[string]any{"id": "app-user-7", "name": "Dana Admin", "on_behalf_of": "support-ticket-88"},
		"targets": []any{
			map[string]any{"type": "Project", "id": "p-1", "display": "Apollo"},
			map[string]any{"type": "Dataset", "id": "d-9"},
		},
		"context": map[string]any{"ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "request_id": "req-abc"},
	}
	if metadata != nil {
		ev["metadata"] = metadata
	}
	return ev
}

func seqsOf(t *testing.T, r resp) []int64 {
	t.Helper()
	var body struct {
		Events []struct {
			Seq      int64 `json:"seq"`
			Replayed bool  `json:"replayed"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("events response: %v: %s", err, r.body)
	}
	var out []int64
	for _, e := range body.Events {
		out = append(out, e.Seq)
	}
	return out
}

func TestAppEventsRecorded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		before := len(e.auditSeqs("acme"))
		r := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, appEvent("app.data.exported", map[string]any{"rows": 1200, "format": "csv"})), 201)
		seq := int64(r.json()["seq"].(float64))
		if seq != int64(before+1) || r.header.Get("Scimtrail-Audit-Seq") != fmt.Sprint(seq) {
			t.Fatalf("seq %d (header %q), want %d", seq, r.header.Get("Scimtrail-Audit-Seq"), before+1)
		}
		entries := e.verifiedEntries("acme")
		got := entries[seq-1]
		tokens := e.must(e.do("GET", "/api/v1/tenants/acme/tokens", e.operator, nil), 200)
		var appTokenID string
		for _, tk := range tokens.json()["tokens"].([]any) {
			if m := tk.(map[string]any); m["kind"] == "app" {
				appTokenID = m["id"].(string)
			}
		}
		want := map[string]any{
			"v": 1.0, "tenant": "acme", "seq": float64(seq), "time": got["time"],
			"action": "app.data.exported", "channel": "app_api",
			"actor": map[string]any{"type": "app", "id": "app-user-7", "token_id": appTokenID, "on_behalf_of": "support-ticket-88",
				"ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "request_id": "req-abc"},
			"target": map[string]any{"type": "Project", "id": "p-1", "display": "Apollo"},
			"changes": []any{
				map[string]any{"path": "occurred_at", "new": "2026-11-29T06:39:58.500000Z"},
				map[string]any{"path": "actor.name", "new": "Dana Admin"},
				map[string]any{"path": "targets[1]", "new": map[string]any{"type": "Dataset", "id": "d-9"}},
				map[string]any{"path": "metadata.format", "new": "csv"},
				map[string]any{"path": "metadata.rows", "new": 1200.0},
			},
		}
		if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Errorf("entry\n got %s\nwant %s", g, w)
		}

		// A batch lands in order, in consecutive seqs, in one response.
		batch := map[string]any{"events": []any{appEvent("app.sso.changed", nil), appEvent("app.user.impersonated", nil), appEvent("app.sso.changed", nil)}}
		r = e.must(e.do("POST", "/api/v1/tenants/acme/events", app, batch), 201)
		if got, want := fmt.Sprint(seqsOf(t, r)), fmt.Sprint([]int64{seq + 1, seq + 2, seq + 3}); got != want {
			t.Errorf("batch seqs %s, want %s", got, want)
		}
		entries = e.verifiedEntries("acme")
		if a := entries[seq+1]["action"]; a != "app.user.impersonated" {
			t.Errorf("batch entry 2 action %v", a)
		}

		// The operator may record too; the actor stays an app actor, with its own token id.
		r = e.must(e.do("POST", "/api/v1/tenants/globex/events", e.operator, appEvent("app.sso.changed", nil)), 201)
		if seq := r.json()["seq"]; seq != float64(len(e.auditSeqs("globex"))) {
			t.Errorf("operator event seq %v", seq)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAppEventsAuthorization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		admin := e.issue("acme", "admin")
		ev := appEvent("app.sso.changed", nil)
		apiError(t, e.do("POST", "/api/v1/tenants/globex/events", app, ev), 404, "not_found")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/events", e.scim["acme"], ev), 403, "forbidden")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/events", admin, ev), 403, "forbidden")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/events", "", ev), 401, "unauthorized")
		apiError(t, e.do("PUT", "/api/v1/tenants/acme/event-schemas/app.x", app, map[string]any{"metadata_schema": map[string]any{}}), 403, "forbidden")
		apiError(t, e.do("PUT", "/api/v1/event-schemas/app.x", admin, map[string]any{"metadata_schema": map[string]any{}}), 403, "forbidden")
		if n := len(e.auditSeqs("globex")); n != 2 {
			t.Errorf("globex has %d entries, want the 2 of its set-up", n)
		}
	})
}

func TestAppEventsInvalid(t *testing.T) {
	big := strings.Repeat("x", 9000)
	with := func(mut func(ev map[string]any)) map[string]any {
		ev := appEvent("app.sso.changed", nil)
		mut(ev)
		return ev
	}
	tooMany := make([]any, 1001)
	for i := range tooMany {
		tooMany[i] = appEvent("app.x", nil)
	}
	cases := []struct {
		name  string
		body  any
		field string // the message must name it
	}{
		{"NoAction", with(func(ev map[string]any) { delete(ev, "action") }), "action"},
		{"ScimtrailAction", with(func(ev map[string]any) { ev["action"] = "user.deleted" }), "action"},
		{"UpperCaseAction", with(func(ev map[string]any) { ev["action"] = "app.User" }), "action"},
		{"NoOccurredAt", with(func(ev map[string]any) { delete(ev, "occurred_at") }), "occurred_at"},
		{"BadOccurredAt", with(func(ev map[string]any) { ev["occurred_at"] = "yesterday" }), "occurred_at"},
		{"FutureOccurredAt", with(func(ev map[string]any) { ev["occurred_at"] = time.Now().Add(24 * time.Hour).Format(time.RFC3339) }), "occurred_at"},
		{"NoActor", with(func(ev map[string]any) { delete(ev, "actor") }), "actor.id"},
		{"TargetWithoutID", with(func(ev map[string]any) { ev["targets"] = []any{map[string]any{"type": "Project"}} }), "targets[0].id"},
		{"BadIP", with(func(ev map[string]any) { ev["context"] = map[string]any{"ip": "not-an-ip"} }), "context.ip"},
		{"MetadataNotObject", with(func(ev map[string]any) { ev["metadata"] = []any{1, 2} }), "metadata"},
		{"MetadataTooLarge", with(func(ev map[string]any) { ev["metadata"] = map[string]any{"blob": big} }), "metadata"},
		{"UnknownField", with(func(ev map[string]any) { ev["severity"] = "high" }), "severity"},
		{"SecondEventBad", map[string]any{"events": []any{appEvent("app.ok", nil), with(func(ev map[string]any) { ev["action"] = "token.issued" })}}, "events[1].action"},
		{"RepeatedID", map[string]any{"events": []any{with(func(ev map[string]any) { ev["id"] = "e1" }), with(func(ev map[string]any) { ev["id"] = "e1" })}}, "events[1].id"},
		{"EmptyBatch", map[string]any{"events": []any{}}, "events"},
		{"TooManyEvents", map[string]any{"events": tooMany}, "events"},
		{"BatchAndEvent", map[string]any{"events": []any{appEvent("app.x", nil)}, "action": "app.y"}, "events"},
		{"RoleEventWithoutRole", with(func(ev map[string]any) { ev["action"] = "app.role_granted" }), "targets"},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		before := len(e.auditSeqs("acme"))
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.do("POST", "/api/v1/tenants/acme/events", app, c.body)
				apiError(t, r, 400, "invalid")
				var body struct{ Error struct{ Message string } }
				json.Unmarshal(r.body, &body)
				if !strings.Contains(body.Error.Message, c.field) {
					t.Errorf("message %q does not name %q", body.Error.Message, c.field)
				}
			})
		}
		if after := len(e.auditSeqs("acme")); after != before {
			t.Errorf("refused events changed the log: %d entries, was %d", after, before)
		}
	})
}

func TestAppEventsIdempotency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		batch := map[string]any{"events": []any{appEvent("app.a", map[string]any{"n": 1}), appEvent("app.b", nil)}}
		first := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, batch, "Idempotency-Key", "k-1"), 201)
		// The same events, serialised differently (indented), are the same request.
		indented, _ := json.MarshalIndent(batch, "", "  ")
		again := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, indented, "Idempotency-Key", "k-1"), 200)
		if a, b := fmt.Sprint(seqsOf(t, first)), fmt.Sprint(seqsOf(t, again)); a != b {
			t.Errorf("replay seqs %s, want the original %s", b, a)
		}
		n := len(e.auditSeqs("acme"))
		other := map[string]any{"events": []any{appEvent("app.a", map[string]any{"n": 2}), appEvent("app.b", nil)}}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/events", app, other, "Idempotency-Key", "k-1"), 409, "conflict")
		// The key is per tenant: globex may use it.
		e.must(e.do("POST", "/api/v1/tenants/globex/events", e.operator, batch, "Idempotency-Key", "k-1"), 201)

		// Per-event ids: a batch that repeats a recorded event records only the new one.
		ev1 := appEvent("app.a", nil)
		ev1["id"] = "evt-1"
		r1 := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, ev1), 201)
		ev2 := appEvent("app.b", nil)
		ev2["id"] = "evt-2"
		r2 := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, map[string]any{"events": []any{ev1, ev2}}), 201)
		if got, want := seqsOf(t, r2), []int64{int64(r1.json()["seq"].(float64)), int64(n + 2)}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("batch with a replayed event: seqs %v, want %v", got, want)
		}
		ev1["metadata"] = map[string]any{"changed": true}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/events", app, ev1), 409, "conflict")
		if got, want := len(e.auditSeqs("acme")), n+2; got != want {
			t.Fatalf("log has %d entries, want %d", got, want)
		}

		// Concurrent retries of one request: exactly one set of entries.
		var wg sync.WaitGroup
		results := make([]string, 8)
		for i := range results {
			wg.Go(func() {
				r := e.do("POST", "/api/v1/tenants/acme/events", app, batch, "Idempotency-Key", "k-concurrent")
				results[i] = fmt.Sprint(r.status, seqsOf(t, r))
			})
		}
		wg.Wait()
		created := 0
		for _, res := range results {
			if strings.HasPrefix(res, "201") {
				created++
			}
			if res[4:] != results[0][4:] {
				t.Errorf("concurrent retries got different seqs: %v", results)
				break
			}
		}
		if created != 1 {
			t.Errorf("%d concurrent retries created entries, want exactly 1: %v", created, results)
		}
		if got, want := len(e.auditSeqs("acme")), n+4; got != want {
			t.Errorf("log has %d entries after concurrent retries, want %d", got, want)
		}

		// Keys are kept at least 24 hours, then forgotten.
		e.clock.Advance(25 * time.Hour)
		e.must(e.do("POST", "/api/v1/tenants/acme/events", app, batch, "Idempotency-Key", "k-1"), 200)
		e.clock.Advance(24 * time.Hour)
		e.must(e.do("POST", "/api/v1/tenants/acme/events", app, batch, "Idempotency-Key", "k-1"), 201)
	})
}

func TestAppEventSchemas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		admin := e.issue("acme", "admin")
		v1 := map[string]any{
			"metadata_schema": map[string]any{"type": "object", "required": []any{"format"},
				"properties": map[string]any{"format": map[string]any{"enum": []any{"csv", "json"}}, "rows": map[string]any{"type": "integer", "minimum": 0}}},
			"targets_schema": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"properties": map[string]any{"type": map[string]any{"const": "Project"}}}},
		}
		r := e.must(e.do("PUT", "/api/v1/tenants/acme/event-schemas/app.data.exported", admin, v1), 201)
		if r.json()["version"] != 1.0 {
			t.Fatalf("first registration: %s", r.body)
		}
		regSeq := r.header.Get("Scimtrail-Audit-Seq")
		ev := func(meta map[string]any, targets ...any) map[string]any {
			x := appEvent("app.data.exported", meta)
			x["targets"] = targets
			return x
		}
		project := map[string]any{"type": "Project", "id": "p-1"}
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{ev(map[string]any{"rows": 3}, project), "metadata"},
			{ev(map[string]any{"format": "xml"}, project), "metadata.format"},
			{ev(map[string]any{"format": "csv", "rows": -1}, project), "metadata.rows"},
			{ev(map[string]any{"format": "csv"}, map[string]any{"type": "User", "id": "u"}), "targets[0].type"},
			{ev(map[string]any{"format": "csv"}), "targets"},
		} {
			r := e.do("POST", "/api/v1/tenants/acme/events", app, c.body)
			apiError(t, r, 400, "invalid")
			if msg := string(r.body); !strings.Contains(msg, c.field) {
				t.Errorf("message %s does not name %s", msg, c.field)
			}
		}
		r = e.must(e.do("POST", "/api/v1/tenants/acme/events", app, ev(map[string]any{"format": "csv", "rows": 3}, project)), 201)
		entries := e.verifiedEntries("acme")
		if s := mustJSON(t, entries[len(entries)-1]["changes"]); !strings.Contains(s, `{"new":"tenant:v1","path":"schema"}`) {
			t.Errorf("entry does not record the schema version: %s", s)
		}
		reg := entries[mustAtoi(t, regSeq)-1]
		if reg["action"] != "event_schema.registered" || mustJSON(t, reg["target"]) != `{"id":"app.data.exported","type":"EventSchema"}` {
			t.Errorf("registration entry %v", reg)
		}

		// A new PUT is a new version; the old one stays readable, and the new one applies.
		e.must(e.do("PUT", "/api/v1/tenants/acme/event-schemas/app.data.exported", e.operator, map[string]any{
			"metadata_schema": map[string]any{"type": "object", "required": []any{"reason"}}}), 201)
		old := e.must(e.do("GET", "/api/v1/tenants/acme/event-schemas/app.data.exported?version=1", admin, nil), 200)
		if old.json()["version"] != 1.0 || old.json()["targets_schema"] == nil {
			t.Errorf("version 1: %s", old.body)
		}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/events", app, ev(map[string]any{"format": "csv"}, project)), 400, "invalid")
		e.must(e.do("POST", "/api/v1/tenants/acme/events", app, ev(map[string]any{"reason": "audit"})), 201)

		// A global schema applies to tenants without their own.
		e.must(e.do("PUT", "/api/v1/event-schemas/app.data.exported", e.operator, map[string]any{
			"metadata_schema": map[string]any{"type": "object", "required": []any{"ticket"}}}), 201)
		globexApp := e.issue("globex", "app")
		r = e.do("POST", "/api/v1/tenants/globex/events", globexApp, ev(nil))
		apiError(t, r, 400, "invalid")
		if !strings.Contains(string(r.body), "ticket") {
			t.Errorf("global schema message %s", r.body)
		}
		e.must(e.do("POST", "/api/v1/tenants/acme/events", app, ev(map[string]any{"reason": "x"})), 201)

		// Unknown actions: accepted by default, refused once the tenant says so.
		e.must(e.do("POST", "/api/v1/tenants/acme/events", app, appEvent("app.never.registered", nil)), 201)
		e.must(e.do("PUT", "/api/v1/tenants/acme/event-settings", admin, map[string]any{"unknown_actions": "reject"}), 200)
		r = e.do("POST", "/api/v1/tenants/acme/events", app, appEvent("app.never.registered", nil))
		apiError(t, r, 400, "invalid")
		if !strings.Contains(string(r.body), "action") {
			t.Errorf("unknown action message %s", r.body)
		}
		e.must(e.do("POST", "/api/v1/tenants/acme/events", app, ev(map[string]any{"reason": "x"})), 201)
		apiError(t, e.do("PUT", "/api/v1/tenants/acme/event-settings", admin, map[string]any{"unknown_actions": "maybe"}), 400, "invalid")
		entries = e.verifiedEntries("acme")
		var settings map[string]any
		for _, en := range entries {
			if en["action"] == "tenant.event_settings_changed" {
				settings = en
			}
		}
		if settings == nil || mustJSON(t, settings["changes"]) != `[{"new":"reject","old":"accept","path":"unknown_actions"}]` {
			t.Errorf("settings entry %v", settings)
		}

		// A schema that does not compile, or reaches for a remote document, is refused.
		for _, bad := range []map[string]any{
			{"metadata_schema": map[string]any{"type": 12}},
			{"metadata_schema": map[string]any{"$ref": "https://example.com/schema.json"}},
			{},
		} {
			apiError(t, e.do("PUT", "/api/v1/tenants/acme/event-schemas/app.bad", admin, bad), 400, "invalid")
		}
		apiError(t, e.do("PUT", "/api/v1/tenants/acme/event-schemas/user.created", admin, v1), 400, "invalid")
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

func TestAppRoleEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		u := e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{
			"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@example.com"}), 201)
		uid := u.json()["id"].(string)
		// App role grants name roles of the catalogue (they become app_grant access paths).
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, map[string]any{"id": "billing_admin", "name": "Billing admin"}), 201)
		roleEvent := func(action, user string) map[string]any {
			ev := appEvent(action, nil)
			ev["targets"] = []any{map[string]any{"type": "Role", "id": "billing_admin"}, map[string]any{"type": "User", "id": user, "display": "alice"}}
			return ev
		}
		r := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, roleEvent("app.role_granted", uid)), 201)
		seq := r.json()["seq"].(float64)
		grants := e.must(e.do("GET", "/api/v1/tenants/acme/app-role-grants?user_id="+uid, e.operator, nil), 200)
		var body struct {
			Grants []struct {
				UserID, Role string
				Seq          float64
			}
		}
		json.Unmarshal(grants.body, &body)
		if len(body.Grants) != 1 || body.Grants[0].Role != "billing_admin" || body.Grants[0].Seq != seq {
			t.Fatalf("grants %s", grants.body)
		}
		entries := e.verifiedEntries("acme")
		en := entries[int(seq)-1]
		if got, want := mustJSON(t, en["target"]), fmt.Sprintf(`{"display":"alice","id":%q,"type":"User"}`, uid); got != want {
			t.Errorf("target %s, want %s", got, want)
		}
		if s := mustJSON(t, en["changes"]); !strings.Contains(s, `{"new":"billing_admin","path":"role"}`) || strings.Contains(s, "targets[") {
			t.Errorf("changes %s", s)
		}
		rseq := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, roleEvent("app.role_revoked", uid)), 201).json()["seq"].(float64)
		grants = e.must(e.do("GET", "/api/v1/tenants/acme/app-role-grants", e.operator, nil), 200)
		if !strings.Contains(string(grants.body), `"grants":[]`) {
			t.Errorf("after revoke: %s", grants.body)
		}
		entries = e.verifiedEntries("acme")
		if s := mustJSON(t, entries[int(rseq)-1]["changes"]); !strings.Contains(s, `{"old":"billing_admin","path":"role"}`) {
			t.Errorf("revoke changes %s", s)
		}
		r = e.do("POST", "/api/v1/tenants/acme/events", app, roleEvent("app.role_granted", "no-such-user"))
		apiError(t, r, 400, "invalid")
		if !strings.Contains(string(r.body), "no-such-user") {
			t.Errorf("unknown user message %s", r.body)
		}
	})
}
