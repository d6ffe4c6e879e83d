package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reviewDoc is the part of an access review export the tests read.
type reviewDoc struct {
	Report string
	Review struct {
		ID    string
		Roles []string
	}
	Summary struct{ Items, Kept, Revoked, Pending int }
	Items   []struct {
		UserID string `json:"user_id"`
		Role   string
		Paths  []struct {
			Kind, Grant, By string
			Seq             int64
		}
		Decision *struct {
			Decision, Comment string
			By                string `json:"decided_by"`
			At                string `json:"decided_at"`
			Seq               int64
			RevokedGrants     []string `json:"revoked_grants"`
		}
	}
}

// TestAccessReviewEndToEnd starts a review of privileged access over the API, records
// decisions (one revoking a direct grant through the write path), refuses bad decisions
// without changing anything, exports the review as JSON and CSV and through the CLI, and
// checks the export offline with `audit verify --report`, tampered copies included.
func TestAccessReviewEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		operator := randomToken()
		s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}, dsn, "--checkpoint-interval", "1h")
		op := client{tb: t, base: s.URL, token: operator}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
		var scimTok, auditor, admin issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "auditor"}, &auditor)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "admin"}, &admin)
		scim, aud, adm := op.with(scimTok.Token), op.with(auditor.Token), op.with(admin.Token)
		keysFile := verifierKeysFile(t, op)

		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/roles", map[string]any{"id": "viewer", "name": "Viewer"}, nil)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/roles", map[string]any{"id": "root", "name": "Root", "privileged": true}, nil)
		newUser := func(name string) string {
			var u struct{ ID string }
			scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser(name, "A", "B"), &u)
			return u.ID
		}
		alice, bob, carol := newUser("alice@example.com"), newUser("bob@example.com"), newUser("carol@example.com")
		var grp struct{ ID string }
		scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Engineering", "members": []any{map[string]string{"value": alice}, map[string]string{"value": carol}}}, &grp)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/mappings", map[string]string{"group_id": grp.ID, "role": "root"}, nil)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/mappings", map[string]string{"group_id": grp.ID, "role": "viewer"}, nil)
		var bobGrant, carolGrant struct{ ID string }
		adm.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/grants", map[string]string{"user_id": bob, "role": "root", "reason": "on call"}, &bobGrant)
		adm.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/grants", map[string]string{"user_id": carol, "role": "root", "reason": "migration"}, &carolGrant)

		// Bad starts are refused and change nothing.
		size := auditSize(t, op)
		for _, bad := range []map[string]string{{"scope": "everything"}, {"scope": "role"}, {"scope": "role", "role": "nosuch"}, {"scope": "all", "role": "root"}} {
			if status, b := aud.do("POST", "/api/v1/tenants/acme/access-reviews", bad); status != http.StatusBadRequest || !bytes.Contains(b, []byte(`"invalid`)) {
				t.Errorf("start %v: %d %s, want 400", bad, status, b)
			}
		}
		if got := auditSize(t, op); got != size {
			t.Fatalf("refused starts grew the log from %d to %d", size, got)
		}

		var rv struct {
			ID    string
			Scope string
			Roles []string
			Seq   int64 `json:"started_seq"`
		}
		aud.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/access-reviews", map[string]string{"scope": "privileged"}, &rv)
		if rv.Scope != "privileged" || strings.Join(rv.Roles, ",") != "root" || rv.Seq != int64(size)+1 {
			t.Fatalf("review %+v (log was %d)", rv, size)
		}
		reviewPath := "/api/v1/tenants/acme/access-reviews/" + rv.ID
		var doc reviewDoc
		aud.must(http.StatusOK, "GET", reviewPath, nil, &doc)
		// alice and carol through the group, bob and carol through direct grants; no viewer.
		var items []string
		for _, it := range doc.Items {
			for _, p := range it.Paths {
				items = append(items, it.UserID+":"+it.Role+":"+p.Kind)
				if p.Seq == 0 {
					t.Errorf("%s %s %s cites no seq", it.UserID, it.Role, p.Kind)
				}
				// A direct path names the administrator who granted it.
				if p.Kind == "direct" && (p.By != admin.ID || p.Grant == "") {
					t.Errorf("direct path %+v: by %q, want the admin token %q", p, p.By, admin.ID)
				}
			}
		}
		want := map[string]bool{alice + ":root:group": true, bob + ":root:direct": true, carol + ":root:group": true, carol + ":root:direct": true}
		if len(items) != len(want) || doc.Summary.Items != 3 || doc.Summary.Pending != 3 {
			t.Fatalf("items %v, summary %+v", items, doc.Summary)
		}
		for _, it := range items {
			if !want[it] {
				t.Fatalf("unexpected item %s in %v", it, items)
			}
		}

		decide := func(c client, wantStatus int, body map[string]any) []byte {
			t.Helper()
			status, b := c.do("POST", reviewPath+"/decisions", body)
			if status != wantStatus {
				t.Fatalf("decide %v: %d %s, want %d", body, status, b, wantStatus)
			}
			return b
		}
		// Refusals change nothing: a pair the review does not list, a bad decision,
		// revoke_grants with keep, revoke_grants from an auditor, no direct grant to revoke,
		// an unknown review.
		size = auditSize(t, op)
		decide(aud, 400, map[string]any{"user_id": alice, "role": "viewer", "decision": "keep"})
		decide(aud, 400, map[string]any{"user_id": bob, "role": "root", "decision": "maybe"})
		decide(adm, 400, map[string]any{"user_id": bob, "role": "root", "decision": "keep", "revoke_grants": true})
		decide(aud, 403, map[string]any{"user_id": carol, "role": "root", "decision": "revoke", "revoke_grants": true})
		decide(adm, 400, map[string]any{"user_id": alice, "role": "root", "decision": "revoke", "revoke_grants": true})
		if status, b := aud.do("POST", "/api/v1/tenants/acme/access-reviews/nosuch/decisions", map[string]any{"user_id": bob, "role": "root", "decision": "keep"}); status != 404 {
			t.Errorf("decision on an unknown review: %d %s", status, b)
		}
		if got := auditSize(t, op); got != size {
			t.Fatalf("refused decisions grew the log from %d to %d", size, got)
		}

		// The auditor keeps bob (first revoke, then changes the decision) and alice; the
		// admin revokes carol's direct grant. Her group path stays: only the IdP can end it.
		decide(aud, 201, map[string]any{"user_id": bob, "role": "root", "decision": "revoke", "comment": "not on call"})
		decide(aud, 201, map[string]any{"user_id": bob, "role": "root", "decision": "keep", "comment": "on call after all"})
		decide(aud, 201, map[string]any{"user_id": alice, "role": "root", "decision": "keep"})
		var d struct {
			Seq           int64
			RevokedGrants []string `json:"revoked_grants"`
		}
		json.Unmarshal(decide(adm, 201, map[string]any{"user_id": carol, "role": "root", "decision": "revoke", "comment": "migration done", "revoke_grants": true}), &d)
		if len(d.RevokedGrants) != 1 || d.RevokedGrants[0] != carolGrant.ID {
			t.Fatalf("revoked grants %v, want [%s]", d.RevokedGrants, carolGrant.ID)
		}
		var log struct {
			Entries []struct {
				Entry struct {
					Seq    int64
					Action string
					Cause  int64
				}
			}
		}
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit?after="+strconv.FormatInt(d.Seq-1, 10), nil, &log)
		var acts []string
		for _, le := range log.Entries {
			e := le.Entry
			acts = append(acts, e.Action)
			if e.Seq > d.Seq && e.Cause != d.Seq {
				t.Errorf("entry %d (%s) has cause %d, want the decision %d", e.Seq, e.Action, e.Cause, d.Seq)
			}
		}
		if strings.Join(acts, " ") != "access.review_decided grant.revoked access.revoked" {
			t.Fatalf("entries of the revoke decision: %v", acts)
		}
		var carolAccess struct {
			Access []struct {
				Role  string
				Paths []struct{ Kind string }
			}
		}
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/users/"+carol+"/access", nil, &carolAccess)
		if len(carolAccess.Access) != 2 || carolAccess.Access[0].Role != "root" || len(carolAccess.Access[0].Paths) != 1 || carolAccess.Access[0].Paths[0].Kind != "group" {
			t.Fatalf("carol's access after the revoke: %+v", carolAccess)
		}

		// The export: every item with its decision, who decided and when; the review's items
		// are those of its instant, so carol's revoked direct path is still listed.
		status, raw := aud.do("GET", reviewPath, nil)
		doc = reviewDoc{}
		json.Unmarshal(raw, &doc)
		if status != 200 || doc.Report != "access_review" || doc.Summary != (struct{ Items, Kept, Revoked, Pending int }{3, 2, 1, 0}) {
			t.Fatalf("export: %d %+v\n%s", status, doc.Summary, raw)
		}
		for _, it := range doc.Items {
			dd := it.Decision
			if dd == nil || dd.By == "" || dd.At == "" || dd.Seq == 0 {
				t.Fatalf("item %s %s: decision %+v", it.UserID, it.Role, dd)
			}
			switch it.UserID {
			case bob:
				if dd.Decision != "keep" || dd.Comment != "on call after all" || dd.By != auditor.ID {
					t.Errorf("bob's decision %+v", dd)
				}
			case carol:
				if dd.Decision != "revoke" || dd.By != admin.ID || len(dd.RevokedGrants) != 1 || len(it.Paths) != 2 {
					t.Errorf("carol's item %+v", it)
				}
			}
		}
		file := filepath.Join(t.TempDir(), "review.json")
		os.WriteFile(file, raw, 0o600)
		if out := mustCLI(t, env{}, "audit", "verify", "--report", file, "--keys", keysFile); !strings.HasPrefix(out, "OK ") {
			t.Fatalf("verify: %s", out)
		}
		tamperReport(t, raw, keysFile, "decision", `"decision":"revoke"`, `"decision":"keep"`)
		tamperReport(t, raw, keysFile, "path", `"kind":"direct","via":[]`, `"kind":"direct","via":["x"]`)

		// CSV: one row per item and the evidence row.
		status, csvBody := aud.do("GET", reviewPath+"?format=csv", nil)
		rows, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
		if status != 200 || err != nil || len(rows) != 5 || rows[0][6] != "decision" || rows[4][0] != "#evidence" {
			t.Fatalf("csv: %d %v %q", status, err, rows)
		}

		// The CLI starts a review and exports it, verifiably.
		var sk []string
		if isPostgres(dsn) {
			sk = []string{"--signing-key", testKeyFile(t, dsn)}
		}
		out := mustCLI(t, env{}, append([]string{"report", "review", "start", "--tenant", "acme", "--scope", "role", "--role", "viewer", "--db", dsn}, sk...)...)
		var cliRv struct{ ID string }
		if err := json.Unmarshal([]byte(out), &cliRv); err != nil || cliRv.ID == "" {
			t.Fatalf("review start printed %q", out)
		}
		outFile := filepath.Join(t.TempDir(), "cli-review.json")
		mustCLI(t, env{}, append([]string{"report", "review", "export", "--tenant", "acme", "--review", cliRv.ID, "--db", dsn, "--out", outFile}, sk...)...)
		cliRaw, _ := os.ReadFile(outFile)
		var cliDoc reviewDoc
		json.Unmarshal(cliRaw, &cliDoc)
		if cliDoc.Summary.Items != 2 || cliDoc.Summary.Pending != 2 || strings.Join(cliDoc.Review.Roles, ",") != "viewer" {
			t.Fatalf("CLI export: %s", cliRaw)
		}
		mustCLI(t, env{}, "audit", "verify", "--report", outFile, "--keys", keysFile)
		var list struct {
			AccessReviews []struct{ ID string } `json:"access_reviews"`
		}
		aud.must(http.StatusOK, "GET", "/api/v1/tenants/acme/access-reviews", nil, &list)
		if len(list.AccessReviews) != 2 || list.AccessReviews[0].ID != rv.ID || list.AccessReviews[1].ID != cliRv.ID {
			t.Fatalf("reviews: %+v", list)
		}
	})
}

// TestServeRunsTheExpirer checks that `serve` records access.expired for a break-glass
// grant soon after it expires, with no request touching the user.
func TestServeRunsTheExpirer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		operator := randomToken()
		s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}, dsn, "--expire-interval", "50ms")
		op := client{tb: t, base: s.URL, token: operator}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/roles", map[string]any{"id": "root", "name": "Root", "privileged": true}, nil)
		var scimTok issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		var u struct{ ID string }
		op.with(scimTok.Token).must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser("ops@example.com", "O", "P"), &u)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/break-glass", map[string]any{"user_id": u.ID, "role": "root", "justification": "INC-9", "duration": "1s"}, nil)
		deadline := time.Now().Add(60 * time.Second)
		for {
			var log struct{ Entries []struct{ Action string } }
			op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit?action=access.expired", nil, &log)
			if len(log.Entries) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no access.expired entry 60s after a 1s break-glass grant")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func auditSize(t *testing.T, c client) int {
	t.Helper()
	var cp struct{ Size int }
	c.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, &cp)
	return cp.Size
}

// TestAccessReportCitesPrunedGrant prunes the entry that granted a role and checks that the
// access report still cites its seq (kept with the interval), proves its inclusion without
// its body, and verifies offline.
func TestAccessReportCitesPrunedGrant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		operator := randomToken()
		s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}, dsn, "--checkpoint-interval", "1h")
		op := client{tb: t, base: s.URL, token: operator}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
		var scimTok issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		scim := op.with(scimTok.Token)
		keysFile := verifierKeysFile(t, op)

		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/roles", map[string]any{"id": "viewer", "name": "Viewer"}, nil)
		var u struct{ ID string }
		scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser("alice@example.com", "A", "B"), &u)
		var g struct{ ID string }
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/grants", map[string]string{"user_id": u.ID, "role": "viewer", "reason": "r"}, &g)
		var granted struct {
			Entries []struct{ Entry struct{ Seq int64 } }
		}
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit?action=access.granted", nil, &granted)
		if len(granted.Entries) != 1 {
			t.Fatalf("access.granted entries: %+v", granted)
		}
		grantSeq := granted.Entries[0].Entry.Seq
		for i := range 260 {
			scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser("u"+strconv.Itoa(i)+"@example.com", "U", strconv.Itoa(i)), nil)
		}
		op.must(http.StatusOK, "PUT", "/api/v1/tenants/acme/retention", map[string]any{"retention": "1s", "legal_hold": false}, nil)
		time.Sleep(1100 * time.Millisecond)
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, nil)
		if out := mustCLI(t, env{}, "audit", "prune", "--db", dsn, "--tenant", "acme"); !strings.Contains(out, "pruned: 1-256") {
			t.Fatalf("prune: %q", out)
		}

		status, raw := op.do("GET", "/api/v1/tenants/acme/reports/access", nil)
		var rep struct {
			Users []struct {
				Access []struct {
					Paths []struct{ Seq int64 }
				}
			}
			Evidence struct {
				Entries []struct {
					Seq  int64
					Body []byte
				}
			}
		}
		json.Unmarshal(raw, &rep)
		if status != 200 || len(rep.Users) != 1 || rep.Users[0].Access[0].Paths[0].Seq != grantSeq {
			t.Fatalf("access report after pruning seq %d: %d %s", grantSeq, status, raw)
		}
		if len(rep.Evidence.Entries) != 1 || rep.Evidence.Entries[0].Seq != grantSeq || rep.Evidence.Entries[0].Body != nil {
			t.Fatalf("evidence after pruning: %+v", rep.Evidence.Entries)
		}
		file := filepath.Join(t.TempDir(), "access.json")
		os.WriteFile(file, raw, 0o600)
		if out := mustCLI(t, env{}, "audit", "verify", "--report", file, "--keys", keysFile); !strings.HasPrefix(out, "OK ") {
			t.Fatalf("verify: %s", out)
		}
	})
}

// verifierKeysFile saves the server's checkpoint verifier keys for `audit verify --keys`.
func verifierKeysFile(t *testing.T, op client) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "keys.txt")
	var keys struct{ Keys []string }
	op.must(http.StatusOK, "GET", "/api/v1/audit/keys", nil, &keys)
	if err := os.WriteFile(f, []byte(strings.Join(keys.Keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// tamperReport replaces old by new in a saved report and checks that `audit verify
// --report` fails on it with exit 1.
func tamperReport(t *testing.T, raw []byte, keysFile, name, old, new string) {
	t.Helper()
	if !strings.Contains(string(raw), old) {
		t.Fatalf("%s: %q not in the report", name, old)
	}
	f := filepath.Join(t.TempDir(), name+".json")
	os.WriteFile(f, []byte(strings.Replace(string(raw), old, new, 1)), 0o600)
	if r := runCLI(t, env{}, "audit", "verify", "--report", f, "--keys", keysFile); r.code != 1 || !strings.Contains(r.stdout, "FAIL") {
		t.Errorf("%s: exit %d, stdout %q, err %v; want 1 and FAIL", name, r.code, r.stdout, r.err)
	}
}
