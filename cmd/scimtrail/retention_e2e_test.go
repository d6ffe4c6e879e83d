package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// rawAuditEntry is one item of GET …/audit as served, pruned or not.
type rawAuditEntry struct {
	Seq      int64           `json:"seq"`
	LeafHash string          `json:"leaf_hash"`
	Entry    json.RawMessage `json:"entry"`
	Pruned   bool            `json:"pruned"`
}

func (c client) rawAudit(tenant string) []rawAuditEntry {
	c.tb.Helper()
	var all []rawAuditEntry
	for after := int64(0); ; {
		var page struct{ Entries []rawAuditEntry }
		c.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/tenants/%s/audit?after=%d&limit=500", tenant, after), nil, &page)
		if len(page.Entries) == 0 {
			return all
		}
		all = append(all, page.Entries...)
		after = page.Entries[len(page.Entries)-1].Seq
	}
}

// TestRetentionEndToEnd sets a retention period and legal hold over the admin API and prunes
// with `audit prune`: nothing beyond the latest signed checkpoint, nothing under legal hold,
// whole entry bundles only; the pruned log still verifies (from the database and from a
// bundle), reports the pruned range as such, and still proves inclusion of pruned entries.
func TestRetentionEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		operator := randomToken()
		s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}, dsn, "--checkpoint-interval", "1h")
		op := client{tb: t, base: s.URL, token: operator}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
		var scimTok, auditor issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "auditor"}, &auditor)
		scim, aud := op.with(scimTok.Token), op.with(auditor.Token)

		var ret retentionJSONForTest
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/retention", nil, &ret)
		if ret != (retentionJSONForTest{}) {
			t.Fatalf("default retention %+v, want keep forever, no hold", ret)
		}
		for _, bad := range []map[string]any{{"retention": "soon", "legal_hold": false}, {"retention": "-5d", "legal_hold": false}, {"retention": "1d"}} {
			if status, b := op.do("PUT", "/api/v1/tenants/acme/retention", bad); status != http.StatusBadRequest {
				t.Errorf("PUT retention %v: status %d, want 400; %s", bad, status, b)
			}
		}
		for _, c := range []client{scim, aud} {
			if status, _ := c.do("PUT", "/api/v1/tenants/acme/retention", map[string]any{"retention": "1s", "legal_hold": false}); status != http.StatusForbidden {
				t.Errorf("PUT retention with a scim/auditor token: status %d, want 403", status)
			}
		}
		// A checkpoint of the young log only.
		aud.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, nil)

		for i := range 260 {
			scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser(fmt.Sprintf("u%d@example.com", i), "U", strconv.Itoa(i)), nil)
		}
		status, b := op.do("PUT", "/api/v1/tenants/acme/retention", map[string]any{"retention": "1s", "legal_hold": false})
		if status != http.StatusOK {
			t.Fatalf("PUT retention: %d %s", status, b)
		}
		time.Sleep(1100 * time.Millisecond)
		prune := func(args ...string) string {
			t.Helper()
			return mustCLI(t, env{}, append([]string{"audit", "prune", "--db", dsn, "--tenant", "acme"}, args...)...)
		}
		// Every user entry is past retention, but no signed checkpoint covers them yet.
		if got := prune(); !strings.Contains(got, "nothing to prune") {
			t.Fatalf("prune before a checkpoint covers the entries: %q", got)
		}
		op.must(http.StatusOK, "PUT", "/api/v1/tenants/acme/retention", map[string]any{"retention": "1s", "legal_hold": true}, &ret)
		aud.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, nil)
		if got := prune(); !strings.Contains(got, "legal hold") {
			t.Fatalf("prune under legal hold: %q", got)
		}
		op.must(http.StatusOK, "PUT", "/api/v1/tenants/acme/retention", map[string]any{"retention": "1s", "legal_hold": false}, &ret)
		if got := prune("--dry-run"); !strings.Contains(got, "would prune: 1-256") {
			t.Fatalf("prune --dry-run: %q", got)
		}
		if got := prune(); !strings.Contains(got, "pruned: 1-256 (256 entries)") {
			t.Fatalf("prune: %q", got)
		}
		if got := prune(); !strings.Contains(got, "nothing to prune") {
			t.Fatalf("second prune: %q", got)
		}
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/retention", nil, &ret)
		if want := (retentionJSONForTest{Retention: "1s", PrunedTo: 256}); ret != want {
			t.Errorf("retention after pruning %+v, want %+v", ret, want)
		}

		// The log: bodies 1–256 gone, leaf hashes kept; the changes and the pruning logged.
		entries := aud.rawAudit("acme")
		var actions []string
		for i, e := range entries {
			if e.Seq != int64(i+1) || len(e.LeafHash) != 64 {
				t.Fatalf("entry %d: seq %d, leaf hash %q", i+1, e.Seq, e.LeafHash)
			}
			if pruned := e.Seq <= 256; e.Pruned != pruned || (string(e.Entry) == "null") != pruned {
				t.Fatalf("entry %d: pruned %v, entry %s", e.Seq, e.Pruned, e.Entry)
			}
			var head struct{ Action string }
			json.Unmarshal(e.Entry, &head)
			if strings.HasPrefix(head.Action, "ledger.") {
				actions = append(actions, head.Action+" "+string(e.Entry))
			}
		}
		if len(actions) != 4 || !strings.Contains(actions[0], `{"new":"1s","old":"","path":"retention"}`) ||
			!strings.Contains(actions[1], `{"new":true,"old":false,"path":"legal_hold"}`) ||
			!strings.Contains(actions[3], `"action":"ledger.pruned"`) || !strings.Contains(actions[3], `{"new":256,"old":0,"path":"pruned_to"}`) {
			t.Fatalf("ledger entries:\n%s", strings.Join(actions, "\n"))
		}

		// Tiles and proofs still work; the pruned entry bundle is gone (C2SP).
		if status, _ := aud.do("GET", "/logs/acme/tile/entries/000", nil); status != http.StatusNotFound {
			t.Errorf("pruned entry bundle: status %d, want 404", status)
		}
		if status, _ := aud.do("GET", "/logs/acme/tile/0/000", nil); status != http.StatusOK {
			t.Errorf("tile 0/000 after pruning: status %d", status)
		}
		var cp proofResp
		aud.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, &cp)
		var ip proofResp
		aud.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/tenants/acme/audit/proof/inclusion?seq=7&size=%d", cp.Size), nil, &ip)
		leaf, _ := hex.DecodeString(entries[6].LeafHash)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 6, uint64(cp.Size), leaf, b64s(t, ip.Hashes), b64d(t, cp.Root)); err != nil {
			t.Fatalf("inclusion proof of a pruned entry: %v", err)
		}

		// The verifier reports the range as pruned, not as tampering, from the database and
		// from an exported bundle.
		keys := s.URL + "/api/v1/audit/keys"
		for _, args := range [][]string{
			{"audit", "verify", "--db", dsn, "--tenant", "acme", "--keys", keys},
			{"audit", "export", "--db", dsn, "--tenant", "acme", "--out", filepath.Join(t.TempDir(), "acme.tar"), "--keys", keys},
		} {
			out := mustCLI(t, env{}, args...)
			if args[1] == "export" {
				out = mustCLI(t, env{}, "audit", "verify", "--bundle", args[len(args)-3], "--keys", keys)
			}
			if !strings.Contains(out, "OK ") || !strings.Contains(out, "pruned: 1-256\n") {
				t.Errorf("%s:\n%s", strings.Join(args[:2], " "), out)
			}
		}
	})
}

type retentionJSONForTest struct {
	Retention string `json:"retention"`
	LegalHold bool   `json:"legal_hold"`
	PrunedTo  int64  `json:"pruned_to"`
}
