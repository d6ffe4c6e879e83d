package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/service"
)

func TestTenants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.must(e.do("POST", "/api/v1/tenants", e.operator, map[string]any{"id": "initech", "name": "Initech"}), 201)
		auditSeq(t, r)
		m := r.json()
		if m["id"] != "initech" || m["name"] != "Initech" || m["created"] == nil {
			t.Errorf("created tenant %s", r.body)
		}
		apiError(t, e.do("POST", "/api/v1/tenants", e.operator, map[string]any{"id": "initech", "name": "Again"}), 409, "conflict")
		apiError(t, e.do("POST", "/api/v1/tenants", e.operator, map[string]any{"id": "x", "nmae": "typo"}), 400, "invalid")
		apiError(t, e.do("POST", "/api/v1/tenants", e.operator, `{"id":`), 400, "invalid")
		apiError(t, e.do("POST", "/api/v1/tenants", e.operator, map[string]any{"id": 7}), 400, "invalid")
		r = e.must(e.do("GET", "/api/v1/tenants", e.operator, nil), 200)
		var list struct{ Tenants []struct{ ID string } }
		json.Unmarshal(r.body, &list)
		var ids []string
		for _, t := range list.Tenants {
			ids = append(ids, t.ID)
		}
		if got := strings.Join(ids, ","); !strings.Contains(got, "acme") || !strings.Contains(got, "initech") {
			t.Errorf("tenants %q", got)
		}
		if got := e.must(e.do("GET", "/api/v1/tenants/initech", e.operator, nil), 200).json()["name"]; got != "Initech" {
			t.Errorf("tenant name %v", got)
		}
		apiError(t, e.do("GET", "/api/v1/tenants/nosuch", e.operator, nil), 404, "not_found")
	})
}

func TestTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.must(e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "scim", "name": "Entra", "expires_in": "90d"}), 201)
		auditSeq(t, r)
		m := r.json()
		for _, k := range []string{"id", "token", "kind", "name", "tenant", "created", "expires"} {
			if _, ok := m[k]; !ok {
				t.Errorf("issued token lacks %q: %s", k, r.body)
			}
		}
		if !strings.HasPrefix(m["token"].(string), "stk_scim_") || m["tenant"] != "acme" || m["kind"] != "scim" {
			t.Errorf("issued token %s", r.body)
		}
		created, _ := time.Parse(time.RFC3339Nano, m["created"].(string))
		expires, _ := time.Parse(time.RFC3339Nano, m["expires"].(string))
		if got := expires.Sub(created); got != 90*24*time.Hour {
			t.Errorf("expires - created = %v, want 90 days", got)
		}
		id := m["id"].(string)
		old := m["token"].(string)

		for _, bad := range []map[string]any{
			{"kind": "scim", "name": "x", "expires_in": "soon"},
			{"kind": "scim", "name": "x", "expires_in": "-1h"},
			{"kind": "wizard", "name": "x"},
			{"kind": "scim", "name": "x", "expiry": "1h"},
		} {
			apiError(t, e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, bad), 400, "invalid")
		}

		list := e.must(e.do("GET", "/api/v1/tenants/acme/tokens", e.operator, nil), 200)
		if strings.Contains(string(list.body), old) || strings.Contains(string(list.body), `"token"`) || strings.Contains(string(list.body), "hash") {
			t.Errorf("token list shows a secret or hash: %s", list.body)
		}

		r = e.must(e.do("POST", "/api/v1/tenants/acme/tokens/"+id+"/rotate", e.operator, nil), 200)
		auditSeq(t, r)
		fresh := r.json()["token"].(string)
		if fresh == "" || fresh == old || r.json()["id"] != id {
			t.Errorf("rotated token %s", r.body)
		}
		scimError(t, e.do("GET", "/scim/v2/acme/Users", old, nil), 401, "")
		e.must(e.do("GET", "/scim/v2/acme/Users", fresh, nil), 200)

		r = e.must(e.do("DELETE", "/api/v1/tenants/acme/tokens/"+id, e.operator, nil), 204)
		auditSeq(t, r)
		scimError(t, e.do("GET", "/scim/v2/acme/Users", fresh, nil), 401, "")
		apiError(t, e.do("DELETE", "/api/v1/tenants/acme/tokens/nosuch", e.operator, nil), 404, "not_found")
		// A token of one tenant cannot be revoked through another's route.
		globexID := e.must(e.do("POST", "/api/v1/tenants/globex/tokens", e.operator, map[string]any{"kind": "scim", "name": "g"}), 201).json()["id"].(string)
		apiError(t, e.do("DELETE", "/api/v1/tenants/acme/tokens/"+globexID, e.operator, nil), 404, "not_found")
	})
}

func TestAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		var receipts []int64
		for _, name := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			receipts = append(receipts, auditSeq(t, e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser(name)), 201)))
		}
		seqs := e.auditSeqs("acme")
		if len(seqs) < 3 || seqs[len(seqs)-1] != receipts[2] {
			t.Fatalf("log %v, receipts %v", seqs, receipts)
		}
		// Paging with after/limit walks the log in order.
		r := e.must(e.do("GET", "/api/v1/tenants/acme/audit?after=1&limit=2", e.operator, nil), 200)
		var page struct {
			Entries []struct {
				Seq   int64           `json:"seq"`
				Entry json.RawMessage `json:"entry"`
			} `json:"entries"`
			NextAfter int64 `json:"next_after"`
		}
		json.Unmarshal(r.body, &page)
		if len(page.Entries) != 2 || page.Entries[0].Seq != 2 || page.Entries[1].Seq != 3 || page.NextAfter != 3 {
			t.Errorf("page after=1 limit=2: %s", r.body)
		}
		// Filter by action.
		r = e.must(e.do("GET", "/api/v1/tenants/acme/audit?action=user.", e.operator, nil), 200)
		json.Unmarshal(r.body, &page)
		if len(page.Entries) != 3 {
			t.Errorf("%d user.* entries, want 3: %s", len(page.Entries), r.body)
		}
		var entry struct {
			Action  string
			Channel string
			Actor   struct {
				Type      string
				IP        string
				RequestID string `json:"request_id"`
			}
		}
		json.Unmarshal(page.Entries[0].Entry, &entry)
		if entry.Channel != "scim" || entry.Actor.Type != "idp_sync" || entry.Actor.IP != "127.0.0.1" || entry.Actor.RequestID == "" {
			t.Errorf("entry %s", page.Entries[0].Entry)
		}
		// An empty page keeps the cursor where it was.
		r = e.must(e.do("GET", "/api/v1/tenants/acme/audit?after=1000", e.operator, nil), 200)
		json.Unmarshal(r.body, &page)
		if len(page.Entries) != 0 || page.NextAfter != 1000 {
			t.Errorf("past the end: %s", r.body)
		}
		for _, q := range []string{"after=x", "limit=0", "limit=x", "since=yesterday", "until=2026-13-01"} {
			apiError(t, e.do("GET", "/api/v1/tenants/acme/audit?"+q, e.operator, nil), 400, "invalid")
		}
		e.must(e.do("GET", "/api/v1/tenants/acme/audit?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&limit=5000", e.operator, nil), 200)
	})
}

func TestObservability(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		r := e.must(e.do("GET", "/scim/v2/acme/Users", e.scim["acme"], nil, "X-Request-Id", "req-123"), 200)
		if got := r.header.Get("X-Request-Id"); got != "req-123" {
			t.Errorf("X-Request-Id %q, want the incoming one", got)
		}
		r = e.must(e.do("GET", "/healthz", "", nil, "X-Request-Id", "bad id\twith tab"), 200)
		if got := r.header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \t") {
			t.Errorf("X-Request-Id %q for an insane incoming id", got)
		}
		logs := e.logs.String()
		for _, secret := range append([]string{e.operator}, e.scim["acme"], e.scim["globex"]) {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains a token secret")
			}
		}
		if !strings.Contains(logs, `"route":"/scim/v2/{tenant}/Users"`) || !strings.Contains(logs, `"request_id":"req-123"`) || !strings.Contains(logs, `"tenant":"acme"`) {
			t.Errorf("access log lacks route, request id or tenant:\n%s", logs)
		}
		m := string(e.must(e.do("GET", "/metrics", "", nil), 200).body)
		for _, want := range []string{
			`scimtrail_http_requests_total{method="GET",route="/scim/v2/{tenant}/Users",status="200"}`,
			`scimtrail_http_request_duration_seconds_count{method="POST",route="/api/v1/tenants",status="201"}`,
			`scimtrail_store_write_batch_commands_count`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(m, "scimtrail_store_write_batch_commands_count 0") {
			t.Errorf("no write batches observed after writes")
		}
	})
}

// brokenStore fails or panics on Ping so that /readyz can be driven into its failure paths.
type brokenStore struct {
	scimtrail.Store
	panics bool
}

func (s brokenStore) Ping(context.Context) error {
	if s.panics {
		panic("boom")
	}
	return errors.New("database unreachable")
}

func TestReadinessAndPanics(t *testing.T) {
	for _, c := range []struct {
		name   string
		store  brokenStore
		status int
	}{{"NotReady", brokenStore{}, 503}, {"Panic", brokenStore{panics: true}, 500}} {
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			srv := httptest.NewServer(httpapi.NewHandler(service.New(c.store, service.Options{}), httpapi.Options{
				Logger: slog.New(slog.NewJSONHandler(logs, nil)),
			}))
			defer srv.Close()
			e := &env{t: t, srv: srv}
			r := e.do("GET", "/readyz", "", nil)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.store.panics {
				apiError(t, r, 500, "internal")
				if !strings.Contains(logs.String(), "boom") {
					t.Errorf("the panic was not logged:\n%s", logs)
				}
			}
			// Metrics are optional: without them /metrics does not exist.
			apiError(t, e.do("GET", "/metrics", "", nil), 404, "not_found")
			e.must(e.do("GET", "/healthz", "", nil), 200)
		})
	}
}
