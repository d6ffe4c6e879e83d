package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSQLiteWritesFail takes the disk away from a running `scimtrail serve` on SQLite — its
// file size limit (RLIMIT_FSIZE, set from outside with prlimit) drops to one byte, so every
// write to the database files fails as on a full disk — and gives it back, without a
// restart. Meanwhile SCIM writes get 503 with Retry-After and a SCIM error saying the store
// is unavailable, admin API writes get 503 in their own shape, reads still work, /readyz
// says 503; nothing of a failed write is kept. Once the limit is lifted /readyz says 200 by
// itself, writes succeed again, the log is gap-free and `audit verify` passes.
func TestSQLiteWritesFail(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "scimtrail.db")
	operator := randomToken()
	p := startProc(t, dsn, "SCIMTRAIL_BOOTSTRAP_TOKEN="+operator)
	op := client{tb: t, base: p.URL, token: operator}
	op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
	var tok issued
	op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &tok)
	scim := client{tb: t, base: p.URL, token: tok.Token}
	var alice struct{ ID string }
	scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser("alice@example.com", "Alice", "Ok"), &alice)
	before := len(op.auditLog("acme"))

	setFileSizeLimit(t, p.cmd.Process.Pid, 1)
	for i := range 5 {
		status, h, b, err := scimPostHeader(http.DefaultClient, p.URL, tok.Token, "/scim/v2/acme/Users",
			mustJSON(t, oktaUser(fmt.Sprintf("full-%d@example.com", i), "Disk", "Full")))
		if err != nil {
			t.Fatalf("create during the outage: %v", err)
		}
		var e struct {
			Schemas  []string `json:"schemas"`
			Status   string   `json:"status"`
			ScimType *string  `json:"scimType"`
			Detail   string   `json:"detail"`
		}
		if status != http.StatusServiceUnavailable || json.Unmarshal(b, &e) != nil || len(e.Schemas) != 1 ||
			e.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || e.Status != "503" || e.ScimType != nil ||
			!strings.Contains(e.Detail, "unavailable") {
			t.Fatalf("create during the outage: status %d, body %s; want a SCIM 503 saying the store is unavailable", status, b)
		}
		if got := h.Get("Retry-After"); got != "5" {
			t.Errorf("create during the outage: Retry-After %q, want 5", got)
		}
	}
	status, b := op.do("POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "app"})
	var e struct {
		Error struct{ Code, Message string }
	}
	if status != http.StatusServiceUnavailable || json.Unmarshal(b, &e) != nil || e.Error.Code != "unavailable" {
		t.Errorf("admin API write during the outage: status %d, body %s; want 503 unavailable", status, b)
	}
	// Reads need no disk space.
	scim.must(http.StatusOK, "GET", "/scim/v2/acme/Users/"+alice.ID, nil, nil)
	if status, b := op.do("GET", "/readyz", nil); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d %s, want 503", status, b)
	}
	if got := len(op.auditLog("acme")); got != before {
		t.Errorf("the log has %d entries after failed writes, want %d", got, before)
	}

	setFileSizeLimit(t, p.cmd.Process.Pid, unix.RLIM_INFINITY)
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _ := op.do("GET", "/readyz", nil)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d 30s after the disk came back\n%s", status, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var bob struct{ ID string }
	scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser("bob@example.com", "Bob", "Back"), &bob)
	checkTenantInvariants(t, op, scim, "acme", map[string]string{alice.ID: "alice@example.com", bob.ID: "bob@example.com"})
	var list struct{ TotalResults int }
	scim.must(http.StatusOK, "GET", "/scim/v2/acme/Users?count=0", nil, &list)
	if list.TotalResults != 2 {
		t.Errorf("%d users after the outage, want 2 (alice and bob; no failed create kept)", list.TotalResults)
	}
	op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, nil)
	if out := mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme"); !strings.HasPrefix(out, "OK ") {
		t.Fatalf("audit verify:\n%s", out)
	}
}

// setFileSizeLimit sets the RLIMIT_FSIZE of the process pid (a child of the test, so the
// same user may): a write past it fails with EFBIG, as on a full disk. Go ignores the
// SIGXFSZ that comes with it.
func setFileSizeLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: limit, Max: unix.RLIM_INFINITY}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
}
