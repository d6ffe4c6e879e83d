package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/postgres/pgtest"
)

// TestKillPostgres stops the PostgreSQL server itself with `pg_ctl stop -m immediate` while
// clients create users through a real `scimtrail serve`, then starts it again (crash
// recovery), twice (SCIMTRAIL_REPLICA_CYCLES for more). It checks that the server recovers
// by itself: /readyz says 503 while the database is down and 200 again after; every request
// meanwhile gets a complete response — 201, or 503 with Retry-After and a SCIM error that
// says the store is unavailable, never a 500 — and never a dropped connection or a hang
// past the client's timeout; the admin API answers 503 too; creates succeed again
// after the restart; and in the end every acknowledged create is present with exactly one
// user.created entry, the log is gap-free and `audit verify` passes.
//
// It runs its own throwaway cluster: the shared one of scripts/with-postgres must not be
// stopped under the other tests.
func TestKillPostgres(t *testing.T) {
	if pgtest.DSN() == "" && pgBinDir() == "" {
		t.Log("no PostgreSQL installed: make test installs it")
		return
	}
	cycles := 2
	if n, err := fmt.Sscan(os.Getenv("SCIMTRAIL_REPLICA_CYCLES"), &cycles); n != 1 || err != nil {
		cycles = 2
	}
	pg := newPGCluster(t)
	keyFile := filepath.Join(t.TempDir(), "signing-key")
	operator := randomToken()
	p := startProc(t, pg.DSN(), "SCIMTRAIL_BOOTSTRAP_TOKEN="+operator, "SCIMTRAIL_SIGNING_KEY="+keyFile)
	op := client{tb: t, base: p.URL, token: operator}
	op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
	var tok issued
	op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &tok)

	var (
		mu       sync.Mutex
		acked    = map[string]string{}
		statuses = map[int]int{}
		lastOK   time.Time
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			hc := &http.Client{Timeout: 30 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("pk-w%d-%d@example.com", w, i)
				body, _ := json.Marshal(oktaUser(name, "Pg", "Kill"))
				status, h, b, err := scimPostHeader(hc, p.URL, tok.Token, "/scim/v2/acme/Users", body)
				if err != nil {
					t.Errorf("create %s: no response: %v", name, err)
					return
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
				switch status {
				case http.StatusCreated:
					var u struct {
						ID string `json:"id"`
					}
					if json.Unmarshal(b, &u) != nil || u.ID == "" {
						t.Errorf("create %s: no id in %s", name, b)
						return
					}
					mu.Lock()
					acked[u.ID] = name
					lastOK = time.Now()
					mu.Unlock()
				case http.StatusServiceUnavailable:
					// An outage is not the request's fault: 503, a SCIM error saying
					// so (RFC 7644 has no scimType for it) and when to come back.
					var e struct {
						Schemas  []string `json:"schemas"`
						Status   string   `json:"status"`
						ScimType *string  `json:"scimType"`
						Detail   string   `json:"detail"`
					}
					if json.Unmarshal(b, &e) != nil || len(e.Schemas) != 1 || e.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" ||
						e.Status != "503" || e.ScimType != nil || !strings.Contains(e.Detail, "unavailable") {
						t.Errorf("create %s during the outage: 503 with a body that is no SCIM unavailable error: %s", name, b)
						return
					}
					if h.Get("Retry-After") != "5" {
						t.Errorf("create %s during the outage: 503 with Retry-After %q, want 5", name, h.Get("Retry-After"))
						return
					}
					time.Sleep(10 * time.Millisecond)
				default:
					t.Errorf("create %s: status %d, body %s", name, status, b)
					return
				}
			}
		})
	}

	ready := func() int {
		status, _ := op.do("GET", "/readyz", nil)
		return status
	}
	waitReady := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for ready() != want {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz never said %d", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for cycle := range cycles {
		time.Sleep(300 * time.Millisecond)
		pg.crash()
		waitReady(http.StatusServiceUnavailable)
		// The admin API says the same in its own shape; authentication itself needs the
		// database, so this is also the answer to any token while it is down.
		status, b := op.do("GET", "/api/v1/tenants/acme/tokens", nil)
		var e struct {
			Error struct{ Code, Message string }
		}
		if status != http.StatusServiceUnavailable || json.Unmarshal(b, &e) != nil || e.Error.Code != "unavailable" {
			t.Errorf("cycle %d: admin API during the outage: status %d, body %s; want 503 unavailable", cycle, status, b)
		}
		time.Sleep(300 * time.Millisecond) // load keeps arriving while the database is down
		restarted := time.Now()
		pg.start()
		waitReady(http.StatusOK)
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			ok := lastOK.After(restarted)
			mu.Unlock()
			if ok || t.Failed() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: no create succeeded within 60s of PostgreSQL's restart", cycle)
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		t.Logf("cycle %d: PostgreSQL killed and restarted; %d creates acknowledged so far", cycle, n)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("statuses: %v", statuses)
	// The workers never stop while the database is down, so some of their creates ran
	// into each outage; each of those was a 503 (any other status failed above).
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Error("no create got 503 during the outages")
	}
	checkTenantInvariants(t, op, client{tb: t, base: p.URL, token: tok.Token}, "acme", acked)
	op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, nil)
	out := mustCLI(t, env{}, "audit", "verify", "--db", pg.DSN(), "--tenant", "acme", "--signing-key", keyFile)
	if !strings.HasPrefix(out, "OK ") {
		t.Fatalf("audit verify:\n%s", out)
	}
}
