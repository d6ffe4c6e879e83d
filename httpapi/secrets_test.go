package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/export"
)

// TestSecretsCanary puts canary values where secrets go — issued token values, SCIM
// passwords, wrong bearer tokens, a webhook signing secret — drives requests that succeed
// and fail with them, and then searches everything the server lets out: its log, every
// tenant's ledger, every response body (including error bodies), /metrics, and what the
// export sinks delivered (webhook bodies and headers, JSON Lines files). No canary may
// appear anywhere.
func TestSecretsCanary(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { secretsCanary(t, newExportEnv(t, b, true, export.Options{})) })
	}
}

func secretsCanary(t *testing.T, x *exportEnv) {
	e := x.env
	pw := "CanaryPassw0rd-" + randomHex(8)
	wrongToken := "stk_scim_CANARY" + randomHex(16)
	var raw [24]byte
	rand.Read(raw[:])
	hookSecret := "whsec_" + base64.StdEncoding.EncodeToString(raw[:])
	canaries := []string{pw, wrongToken, e.operator, e.scim["acme"], e.scim["globex"], hookSecret}
	var bodies []string
	do := func(method, path, token string, body any, headers ...string) resp {
		r := e.do(method, path, token, body, headers...)
		bodies = append(bodies, string(r.body), strings.Join(r.header.Values("Www-Authenticate"), " "))
		return r
	}
	// Sinks first, so that they export everything below.
	rcv := newReceiver(t, hookSecret)
	hook := do("POST", "/api/v1/tenants/acme/sinks", e.operator, map[string]any{"type": "webhook", "url": rcv.url(), "secret": hookSecret})
	file := do("POST", "/api/v1/tenants/acme/sinks", e.operator, map[string]any{"type": "file", "dir": "canary", "format": "jsonl"})
	if hook.status != 201 || file.status != 201 {
		t.Fatalf("create sinks: %d %s, %d %s", hook.status, hook.body, file.status, file.body)
	}
	sinks := []string{hook.json()["id"].(string), file.json()["id"].(string)}
	admin := e.issue("acme", "admin")
	canaries = append(canaries, admin)
	rot := e.must(e.do("POST", "/api/v1/tenants/acme/tokens", admin, map[string]any{"kind": "scim", "name": "to rotate"}), 201).json()
	canaries = append(canaries, rot["token"].(string))
	rotated := e.do("POST", "/api/v1/tenants/acme/tokens/"+rot["id"].(string)+"/rotate", admin, nil)
	if s, _ := rotated.json()["token"].(string); s != "" {
		canaries = append(canaries, s)
	}
	tok := e.scim["acme"]
	u := do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "canary@example.com", "password": pw})
	if u.status != 201 {
		t.Fatalf("create with password: %d %s", u.status, u.body)
	}
	id := u.json()["id"].(string)
	do("PUT", "/scim/v2/acme/Users/"+id, tok, map[string]any{"schemas": []string{userSchema}, "userName": "canary@example.com", "password": pw + "2"})
	do("PATCH", "/scim/v2/acme/Users/"+id, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "password", "value": pw + "3"}}})
	do("PATCH", "/scim/v2/acme/Users/"+id, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"password": pw + "4"}}}})
	// Failures carrying the canary: a bad password type, a conflict, filters on the
	// password. (An error may quote what the client put in the filter text, the path or
	// a field such as "kind" back to that same client — that is the client's own input,
	// not a secret the server holds — so the canaries are not planted there.)
	do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "canary@example.com", "password": pw})
	do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "other@example.com", "password": []string{pw}})
	do("GET", "/scim/v2/acme/Users?filter="+urlQueryEscape(`password eq "`+pw+`"`), tok, nil)
	do("GET", "/scim/v2/acme/Users?filter="+urlQueryEscape(`password eq "`+pw), tok, nil)
	do("GET", "/scim/v2/acme/Users/"+id, tok, nil)
	do("GET", "/scim/v2/acme/Users/"+id+"?attributes=password", tok, nil)
	do("GET", "/scim/v2/acme/Users", wrongToken, nil)
	do("GET", "/scim/v2/acme/Users", "", nil, "Authorization", "Basic "+wrongToken)
	do("GET", "/api/v1/tenants/acme/tokens", admin, nil)
	do("GET", "/api/v1/tenants/acme/tokens", wrongToken, nil)

	var ledger strings.Builder
	for _, tenant := range []string{"acme", "globex"} {
		ledger.Write(e.must(e.do("GET", "/api/v1/tenants/"+tenant+"/audit?limit=1000", e.operator, nil), 200).body)
	}
	if !strings.Contains(ledger.String(), `"user.created"`) {
		t.Fatal("the ledger has no user.created: the canary run did nothing")
	}
	metrics := string(e.must(e.do("GET", "/metrics", "", nil), 200).body)
	for _, id := range sinks {
		bodies = append(bodies, string(e.must(e.do("GET", "/api/v1/tenants/acme/sinks/"+id, e.operator, nil), 200).body))
		waitFor(t, "the sinks to catch up", lagZero(x, "acme", id))
	}
	var exported strings.Builder
	rcv.mu.Lock()
	for _, d := range rcv.bodies {
		fmt.Fprintf(&exported, "%v\n%s\n", d.header, d.body)
	}
	rcv.mu.Unlock()
	files, _ := filepath.Glob(filepath.Join(x.files, "canary", "*", "*", "*.jsonl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		exported.Write(b)
	}
	if !strings.Contains(exported.String(), `"user.created"`) || len(files) == 0 {
		t.Fatalf("the sinks exported no user.created (%d files): the canary run exported nothing", len(files))
	}
	places := map[string]string{
		"exports":         exported.String(),
		"the log":         e.logs.String(),
		"the ledger":      ledger.String(),
		"response bodies": strings.Join(bodies, "\n"),
		"/metrics":        metrics,
	}
	for where, text := range places {
		for _, c := range canaries {
			// The passwords' variants share the prefix; any part of a token's random
			// part would do, the whole value is what a leak would carry.
			if strings.Contains(text, c) || strings.Contains(text, c[len(c)-16:]) {
				i := max(strings.Index(text, c[len(c)-16:]), 0)
				t.Errorf("a canary secret (%.12s…) appears in %s: …%s…", c, where, text[max(0, i-200):min(len(text), i+40)])
			}
		}
		if strings.Contains(text, "CanaryPassw0rd") {
			t.Errorf("a canary password appears in %s", where)
		}
	}
}
