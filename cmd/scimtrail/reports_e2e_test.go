package main

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEvidenceReportsEndToEnd drives the evidence reports through the real server and
// checks saved reports offline with `audit verify --report`, including tampered copies.
func TestEvidenceReportsEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		operator := randomToken()
		s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}, dsn, "--checkpoint-interval", "1h")
		op := client{tb: t, base: s.URL, token: operator}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
		var scimTok, auditor, app issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "auditor"}, &auditor)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "app"}, &app)
		scim, aud := op.with(scimTok.Token), op.with(auditor.Token)
		keysFile := verifierKeysFile(t, op)

		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/roles", map[string]any{"id": "viewer", "name": "Viewer"}, nil)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/roles", map[string]any{"id": "root", "name": "Root", "privileged": true}, nil)
		newUser := func(name, userType string) string {
			var u struct{ ID string }
			body := oktaUser(name, "A", "B")
			if userType != "" {
				body["userType"] = userType
			}
			scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", body, &u)
			return u.ID
		}
		alice, guest, bob := newUser("alice@example.com", ""), newUser("gina@partner.example", "Guest"), newUser("bob@example.com", "")
		var grp struct{ ID string }
		scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Engineering", "members": []any{map[string]string{"value": alice}, map[string]string{"value": guest}}}, &grp)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/mappings", map[string]string{"group_id": grp.ID, "role": "viewer"}, nil)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/break-glass", map[string]any{"user_id": bob, "role": "root", "justification": "INC-7", "duration": "1h"}, nil)
		// bob acts in the app under break-glass, and the app grants him a role of its own.
		status, b := op.with(app.Token).do("POST", "/api/v1/tenants/acme/events", map[string]any{"action": "app.role_granted", "occurred_at": time.Now().UTC().Format(time.RFC3339Nano),
			"actor": map[string]any{"id": bob}, "targets": []any{map[string]any{"type": "Role", "id": "viewer"}, map[string]any{"type": "User", "id": bob}}})
		if status != http.StatusCreated {
			t.Fatalf("app event: %d %s", status, b)
		}
		time.Sleep(5 * time.Millisecond)
		mid := time.Now().UTC()
		time.Sleep(5 * time.Millisecond)
		// bob is deactivated by the IdP; the app never revokes its own grant.
		scim.must(http.StatusOK, "PATCH", "/scim/v2/acme/Users/"+bob, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}}, nil)

		// Point-in-time access at mid: alice and the guest through the group, bob through break-glass and the app.
		status, raw := aud.do("GET", "/api/v1/tenants/acme/reports/access?at="+mid.Format(time.RFC3339Nano), nil)
		if status != http.StatusOK {
			t.Fatalf("access report: %d %s", status, raw)
		}
		var rep struct {
			Users []struct {
				UserID   string `json:"user_id"`
				External bool
				Access   []struct {
					Role  string
					Paths []struct {
						Kind string
						Seq  int64
					}
				}
			}
			Evidence struct{ Size int64 }
		}
		json.Unmarshal(raw, &rep)
		got := map[string]string{}
		for _, u := range rep.Users {
			for _, a := range u.Access {
				for _, p := range a.Paths {
					if p.Seq == 0 {
						t.Errorf("user %s role %s path %s cites no seq", u.UserID, a.Role, p.Kind)
					}
					got[u.UserID] += a.Role + ":" + p.Kind + " "
				}
			}
			if u.External != (u.UserID == guest) {
				t.Errorf("user %s external = %v", u.UserID, u.External)
			}
		}
		if got[alice] != "viewer:group " || got[guest] != "viewer:group " || got[bob] != "root:break_glass viewer:app_grant " {
			t.Fatalf("access at mid: %v\n%s", got, raw)
		}
		file := filepath.Join(t.TempDir(), "access.json")
		os.WriteFile(file, raw, 0o600)
		if out := mustCLI(t, env{}, "audit", "verify", "--report", file, "--keys", keysFile); !strings.HasPrefix(out, "OK ") {
			t.Fatalf("verify: %s", out)
		}
		// Keys from the server's URL work too.
		mustCLI(t, env{}, "audit", "verify", "--report", file, "--keys", s.URL+"/api/v1/audit/keys")

		// Tampering: a path citing another entry, a changed body, a forged checkpoint.
		tamper := func(name, old, new string) { t.Helper(); tamperReport(t, raw, keysFile, name, old, new) }
		var ev struct {
			Evidence struct {
				Checkpoint string
				Entries    []struct {
					Seq  int64
					Body []byte
				}
			}
		}
		json.Unmarshal(raw, &ev)
		e0 := ev.Evidence.Entries[0]
		tamper("bad-citation", `"kind":"break_glass","via":[],"grant":`, `"kind":"break_glass","via":["x"],"grant":`)
		forged := bytes.Replace(e0.Body, []byte(`"access.granted"`), []byte(`"access.revoked"`), 1)
		tamper("body", base64.StdEncoding.EncodeToString(e0.Body), base64.StdEncoding.EncodeToString(forged))
		lines := strings.SplitN(ev.Evidence.Checkpoint, "\n", 3)
		cpJSON, _ := json.Marshal(ev.Evidence.Checkpoint)
		forgedCP, _ := json.Marshal(lines[0] + "\n999\n" + lines[2])
		tamper("checkpoint", string(cpJSON), string(forgedCP))

		// CSV: one row per path and a trailing evidence row.
		status, csvBody := aud.do("GET", "/api/v1/tenants/acme/reports/access?format=csv&at="+mid.Format(time.RFC3339Nano), nil)
		rows, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
		if status != 200 || err != nil || len(rows) != 6 || rows[5][0] != "#evidence" || !strings.Contains(rows[5][1], `"checkpoint"`) {
			t.Fatalf("csv: %d %v %q", status, err, rows)
		}

		// The CLI produces the same report.
		out := filepath.Join(t.TempDir(), "cli.json")
		cliArgs := []string{"report", "access", "--tenant", "acme", "--at", mid.Format(time.RFC3339Nano), "--db", dsn, "--out", out}
		if isPostgres(dsn) {
			cliArgs = append(cliArgs, "--signing-key", testKeyFile(t, dsn))
		}
		mustCLI(t, env{}, cliArgs...)
		cli, _ := os.ReadFile(out)
		var cliRep struct{ Users json.RawMessage }
		var apiRep struct{ Users json.RawMessage }
		json.Unmarshal(cli, &cliRep)
		json.Unmarshal(raw, &apiRep)
		var a, c any
		json.Unmarshal(cliRep.Users, &c)
		json.Unmarshal(apiRep.Users, &a)
		if ca, _ := json.Marshal(c); string(ca) != string(mustJSON(t, a)) {
			t.Fatalf("CLI users %s\nAPI users %s", cliRep.Users, apiRep.Users)
		}
		mustCLI(t, env{}, "audit", "verify", "--report", out, "--keys", keysFile)
		apiErr(t, aud, "/api/v1/tenants/acme/reports/access?at="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), 400)

		// Privileged changes: the break-glass grant and its access, and what bob did under it.
		status, raw = aud.do("GET", "/api/v1/tenants/acme/reports/privileged-changes", nil)
		var pr struct {
			Changes []struct {
				Action string
				Role   string
				UserID string `json:"user_id"`
			}
			BreakGlass []struct {
				UserID  string `json:"user_id"`
				Actions []int64
			} `json:"break_glass"`
		}
		json.Unmarshal(raw, &pr)
		var acts []string
		for _, c := range pr.Changes {
			acts = append(acts, c.Action+":"+c.Role)
		}
		if status != 200 || strings.Join(acts, " ") != "role.created:root break_glass.granted:root access.granted:root access.revoked:root" {
			t.Fatalf("privileged changes %v: %d %s", acts, status, raw)
		}
		if len(pr.BreakGlass) != 1 || pr.BreakGlass[0].UserID != bob || len(pr.BreakGlass[0].Actions) != 1 {
			t.Fatalf("break-glass uses: %s", raw)
		}
		os.WriteFile(file, raw, 0o600)
		mustCLI(t, env{}, "audit", "verify", "--report", file, "--keys", keysFile)

		// Stale: bob is deactivated but keeps the app's own grant.
		status, raw = aud.do("GET", "/api/v1/tenants/acme/reports/stale?inactive_days=30", nil)
		var st struct {
			Users []struct {
				UserID   string `json:"user_id"`
				State    string
				GoneSeq  int64    `json:"gone_seq"`
				AppRoles []string `json:"app_roles"`
			}
		}
		json.Unmarshal(raw, &st)
		if status != 200 || len(st.Users) != 1 || st.Users[0].UserID != bob || st.Users[0].State != "deactivated" || st.Users[0].GoneSeq == 0 ||
			strings.Join(st.Users[0].AppRoles, ",") != "viewer" {
			t.Fatalf("stale: %d %s", status, raw)
		}
		os.WriteFile(file, raw, 0o600)
		mustCLI(t, env{}, "audit", "verify", "--report", file, "--keys", keysFile)
		apiErr(t, aud, "/api/v1/tenants/acme/reports/stale?inactive_days=0", 400)

		// Drift: the app sends its view in two pages. It still has bob as root (revoked by
		// his deactivation), gives alice an "owner" role scimtrail never granted, and lacks
		// the guest's viewer.
		apiErr(t, aud, "/api/v1/tenants/acme/reports/drift", 404)
		appc := op.with(app.Token)
		appc.must(http.StatusOK, "PUT", "/api/v1/tenants/acme/app-state", map[string]any{"snapshot": "s1", "users": []any{
			map[string]any{"user_id": alice, "roles": []string{"viewer", "owner"}}}}, nil)
		apiErr(t, aud, "/api/v1/tenants/acme/reports/drift", 404) // not complete yet
		appc.must(http.StatusOK, "PUT", "/api/v1/tenants/acme/app-state", map[string]any{"snapshot": "s1", "last": true, "users": []any{
			map[string]any{"user_id": bob, "roles": []string{"root"}}}}, nil)
		status, raw = aud.do("GET", "/api/v1/tenants/acme/reports/drift", nil)
		var dr struct {
			MissingRevocations []struct {
				UserID, Role string
				Seq          int64
			} `json:"missing_revocations"`
			UnexpectedGrants []struct{ UserID, Role string } `json:"unexpected_grants"`
			MissingGrants    []struct{ UserID, Role string } `json:"missing_grants"`
			RecordedSeq      int64                           `json:"recorded_seq"`
		}
		if err := json.Unmarshal(raw, &dr); err != nil || status != 200 {
			t.Fatalf("drift: %d %s", status, raw)
		}
		if len(dr.MissingRevocations) != 1 || dr.MissingRevocations[0].Role != "root" || dr.MissingRevocations[0].Seq == 0 ||
			len(dr.UnexpectedGrants) != 1 || dr.UnexpectedGrants[0].Role != "owner" || len(dr.MissingGrants) != 1 || dr.RecordedSeq == 0 {
			t.Fatalf("drift: %s", raw)
		}
		os.WriteFile(file, raw, 0o600)
		mustCLI(t, env{}, "audit", "verify", "--report", file, "--keys", keysFile)
		var entries struct {
			Entries []struct {
				Seq   int64
				Entry struct {
					Action  string
					Changes []struct {
						Path string
						New  any
					}
				}
			}
		}
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit?action=access.drift_reported", nil, &entries)
		if len(entries.Entries) != 1 || entries.Entries[0].Seq != dr.RecordedSeq || len(entries.Entries[0].Entry.Changes) < 3 ||
			entries.Entries[0].Entry.Changes[0].New != float64(1) {
			t.Fatalf("access.drift_reported entries: %+v", entries)
		}
	})
}

func mustJSON(tb testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func apiErr(tb testing.TB, c client, path string, want int) {
	tb.Helper()
	if status, b := c.do("GET", path, nil); status != want {
		tb.Fatalf("GET %s: %d %s, want %d", path, status, b, want)
	}
}
