package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// binDir holds the scimtrail binary that the subprocess tests run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// scimtrailBinary builds this command once per test run, for tests that must kill the
// process for real.
func scimtrailBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "scimtrail-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "scimtrail")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// proc is `scimtrail serve` running as a child process.
type proc struct {
	cmd    *exec.Cmd
	URL    string
	stderr *syncBuffer
	exited chan error
}

// startProc runs the binary's serve on 127.0.0.1:0 and waits until its "listening" log line.
func startProc(tb testing.TB, dsn string, extraEnv ...string) *proc {
	tb.Helper()
	cmd := exec.Command(scimtrailBinary(tb), "serve", "--addr", "127.0.0.1:0", "--db", dsn)
	// The test's own SCIMTRAIL_* settings must not leak into the server.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCIMTRAIL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(line)
			p.stderr.Write([]byte{'\n'})
			var l struct{ Msg, URL string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "listening" {
				select {
				case urls <- l.URL:
				default:
				}
			}
		}
		io.Copy(io.Discard, pipe)
		p.exited <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.URL = <-urls:
	case err := <-p.exited:
		p.exited <- err
		tb.Fatalf("serve exited before listening: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		tb.Fatalf("serve did not listen within 30s\n%s", p.stderr)
	}
	return p
}

// TestCrash kills the server with SIGKILL at a random moment while clients create users in
// three tenants and an operator issues tokens, restarts it, and checks after every cycle
// that state and log agree: every acknowledged write is present in state and has exactly
// one ledger entry; every write that was not acknowledged is wholly present (state and
// entry) or wholly absent; each tenant's seqs have no gaps; and the log verifies. 20 kill
// cycles on SQLite and 10 on PostgreSQL; SCIMTRAIL_CRASH_CYCLES sets both (soak: 200).
//
// Each cycle reads only the log's new range (counts and the tree of earlier ranges are
// kept) and checks that a checkpoint signed after the restart commits to exactly the leaves
// read since seq 1; one tenant a cycle, and every tenant at the end, also goes through
// `scimtrail audit verify` on the whole log, consistent with its previous checkpoint. So a
// cycle costs about the same at cycle 200 as at cycle 1.
func TestCrash(t *testing.T) {
	cycles := map[string]int{"SQLite": 20, "PostgreSQL": 10}
	var n int
	if k, err := fmt.Sscan(os.Getenv("SCIMTRAIL_CRASH_CYCLES"), &n); k == 1 && err == nil {
		cycles = map[string]int{"SQLite": n, "PostgreSQL": n}
	}
	seed := rand.Uint64()
	if s := os.Getenv("SCIMTRAIL_CRASH_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (set SCIMTRAIL_CRASH_SEED to repeat)", seed)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			crashCycles(t, b.newDSN(t), cycles[b.name], rng)
		})
	}
}

// crashTenant is what TestCrash knows of one tenant across cycles.
type crashTenant struct {
	id        string
	scimToken string
	acked     map[string]string // user id → userName of every create that got 201
	ackedToks map[string]bool   // id of every token issue that got 201
	created   map[string]int    // user.created entries per user id, over the log checked so far
	issued    map[string]int    // token.issued entries per token id, likewise
	checked   int64             // the log is checked up to this seq
	tree      *compact.Range    // the leaves of the log checked so far
	trusted   string            // the checkpoint signed at the last check
}

// crashCycles runs the kill/restart cycles of TestCrash against one database.
func crashCycles(t *testing.T, dsn string, cycles int, rng *rand.Rand) {
	operator := randomToken()
	procEnv := []string{"SCIMTRAIL_BOOTSTRAP_TOKEN=" + operator}
	var keyArgs []string
	if isPostgres(dsn) {
		key := testKeyFile(t, dsn)
		procEnv = append(procEnv, "SCIMTRAIL_SIGNING_KEY="+key)
		keyArgs = []string{"--signing-key", key}
	}
	dir := t.TempDir()
	tenants := make([]*crashTenant, len(replicaTenants))
	start := time.Now()
	var startup, checks, load time.Duration
	for cycle := 0; cycle <= cycles; cycle++ {
		t0 := time.Now()
		p := startProc(t, dsn, procEnv...)
		startup += time.Since(t0)
		op := client{tb: t, base: p.URL, token: operator}
		t0 = time.Now()
		if cycle == 0 {
			for i, id := range replicaTenants {
				op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": id}, nil)
				var tok issued
				op.must(http.StatusCreated, "POST", "/api/v1/tenants/"+id+"/tokens", map[string]string{"kind": "scim"}, &tok)
				tenants[i] = &crashTenant{id: id, scimToken: tok.Token, acked: map[string]string{},
					ackedToks: map[string]bool{tok.ID: true}, created: map[string]int{}, issued: map[string]int{},
					tree: (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)}
			}
		}
		var keys struct{ Keys []string }
		op.must(http.StatusOK, "GET", "/api/v1/audit/keys", nil, &keys)
		verifiers := mustVerifiers(t, keys.Keys)
		for i, ct := range tenants {
			// Every cycle one tenant's whole log goes through `audit verify` too, and every
			// tenant's after the last cycle.
			full := cycle == cycles || (cycle > 0 && cycle%len(tenants) == i)
			ct.check(t, op, client{tb: t, base: p.URL, token: ct.scimToken}, verifiers, full, dsn, dir, keyArgs)
		}
		checks += time.Since(t0)
		if cycle == cycles {
			break
		}
		delay := time.Duration(50+rng.IntN(250)) * time.Millisecond
		t0 = time.Now()
		users, toks := loadUntilKilled(t, p, operator, tenants, cycle, delay)
		load += time.Since(t0)
		t.Logf("cycle %d: killed after %v with %d creates and %d token issues acknowledged", cycle, delay, users, toks)
	}
	for _, ct := range tenants {
		if len(ct.acked) == 0 {
			t.Errorf("%s: no create was ever acknowledged; the test tested nothing", ct.id)
		}
		t.Logf("%s: %d entries, %d creates and %d token issues acknowledged", ct.id, ct.checked, len(ct.acked), len(ct.ackedToks))
	}
	t.Logf("%d cycles in %v: starting %v, checking %v, loading %v", cycles, time.Since(start).Round(time.Millisecond),
		startup.Round(time.Millisecond), checks.Round(time.Millisecond), load.Round(time.Millisecond))
}

// check checks, after a restart, the part of the tenant's log written since the last
// check, the tenant's state against the whole log, and that the log verifies.
func (ct *crashTenant) check(t *testing.T, op, scim client, verifiers note.Verifiers, fullVerify bool, dsn, dir string, keyArgs []string) {
	t.Helper()
	var fresh []auditEntry
	for {
		var page struct {
			Entries []struct {
				Seq      int64           `json:"seq"`
				LeafHash string          `json:"leaf_hash"`
				Entry    json.RawMessage `json:"entry"`
			} `json:"entries"`
		}
		op.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/tenants/%s/audit?after=%d&limit=500", ct.id, ct.checked), nil, &page)
		if len(page.Entries) == 0 {
			break
		}
		for _, w := range page.Entries {
			var e auditEntry
			if err := json.Unmarshal(w.Entry, &e); err != nil {
				t.Fatalf("%s: entry %d: %v", ct.id, w.Seq, err)
			}
			if e.Seq != ct.checked+1 || w.Seq != e.Seq {
				t.Fatalf("%s: entry with seq %d follows seq %d (seqs must be gap-free from 1)", ct.id, e.Seq, ct.checked)
			}
			// The leaf is the hash of exactly the bytes served (RFC 6962 leaf hash).
			leaf := rfc6962.DefaultHasher.HashLeaf(w.Entry)
			if got := hex.EncodeToString(leaf); got != w.LeafHash {
				t.Fatalf("%s: entry %d: leaf_hash %s, but its body hashes to %s", ct.id, e.Seq, w.LeafHash, got)
			}
			if err := ct.tree.Append(leaf, nil); err != nil {
				t.Fatal(err)
			}
			ct.checked = e.Seq
			fresh = append(fresh, e)
		}
	}
	for _, e := range fresh {
		switch {
		case e.Target == nil:
		case e.Action == "user.created":
			ct.created[e.Target.ID]++
			if ct.created[e.Target.ID] != 1 {
				t.Errorf("%s: user %s has %d user.created entries, want 1", ct.id, e.Target.ID, ct.created[e.Target.ID])
				continue
			}
			// A logged create is in state, under the acknowledged name if it was acknowledged.
			var u struct {
				UserName string `json:"userName"`
			}
			status, b := scim.do("GET", "/scim/v2/"+ct.id+"/Users/"+e.Target.ID, nil)
			if status != http.StatusOK || json.Unmarshal(b, &u) != nil {
				t.Errorf("%s: user %s has a user.created entry but GET says %d: %s", ct.id, e.Target.ID, status, b)
			} else if want, ok := ct.acked[e.Target.ID]; ok && u.UserName != want {
				t.Errorf("%s: user %s: userName %q, want %q", ct.id, e.Target.ID, u.UserName, want)
			}
		case e.Action == "token.issued":
			ct.issued[e.Target.ID]++
			if ct.issued[e.Target.ID] != 1 {
				t.Errorf("%s: token %s has %d token.issued entries, want 1", ct.id, e.Target.ID, ct.issued[e.Target.ID])
			}
		}
	}
	for id, name := range ct.acked {
		if ct.created[id] != 1 {
			t.Errorf("%s: acknowledged user %s (%s) has %d user.created entries, want 1", ct.id, id, name, ct.created[id])
		}
	}
	for id := range ct.ackedToks {
		if ct.issued[id] != 1 {
			t.Errorf("%s: acknowledged token %s has %d token.issued entries, want 1", ct.id, id, ct.issued[id])
		}
	}
	// State holds nothing the log does not: as many users as user.created entries (each
	// of which was read above), and exactly the logged tokens.
	var list struct {
		TotalResults int `json:"totalResults"`
	}
	scim.must(http.StatusOK, "GET", "/scim/v2/"+ct.id+"/Users?count=0", nil, &list)
	if list.TotalResults != len(ct.created) {
		t.Errorf("%s: %d users in state, %d user.created entries", ct.id, list.TotalResults, len(ct.created))
	}
	var toks struct {
		Tokens []struct {
			ID string `json:"id"`
		} `json:"tokens"`
	}
	op.must(http.StatusOK, "GET", "/api/v1/tenants/"+ct.id+"/tokens", nil, &toks)
	inState := map[string]bool{}
	for _, tk := range toks.Tokens {
		inState[tk.ID] = true
		if ct.issued[tk.ID] != 1 {
			t.Errorf("%s: token %s is in state with %d token.issued entries", ct.id, tk.ID, ct.issued[tk.ID])
		}
	}
	for id := range ct.issued {
		if !inState[id] {
			t.Errorf("%s: token %s has a token.issued entry but is not in state", ct.id, id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The log checked so far is the log a checkpoint signed now commits to: the root of
	// every leaf read since seq 1 (kept as a compact range, so this costs only the new
	// range) is the signed root, which also makes it consistent with every earlier one.
	var cp struct {
		Checkpoint string `json:"checkpoint"`
	}
	op.must(http.StatusOK, "GET", "/api/v1/tenants/"+ct.id+"/audit/checkpoint", nil, &cp)
	origin, _, _ := strings.Cut(cp.Checkpoint, "\n")
	size, root := signedTree(t, []byte(cp.Checkpoint), verifiers, origin)
	want, err := ct.tree.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if size != ct.checked || !bytes.Equal(root, want) {
		t.Fatalf("%s: signed checkpoint of size %d root %x; the %d entries read hash to root %x", ct.id, size, root, ct.checked, want)
	}
	if !fullVerify {
		ct.trusted = cp.Checkpoint
		return
	}
	// And `scimtrail audit verify` reads the whole log from the database and agrees,
	// consistently with the checkpoint of the tenant's previous full verify.
	args := append([]string{"audit", "verify", "--db", dsn, "--tenant", ct.id}, keyArgs...)
	if ct.trusted != "" {
		file := filepath.Join(dir, ct.id+".checkpoint")
		if err := os.WriteFile(file, []byte(ct.trusted), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--trusted-checkpoint", file)
	}
	out := mustCLI(t, env{}, args...)
	if !strings.HasPrefix(out, "OK ") || !strings.Contains(out, fmt.Sprintf("entries: %d\n", ct.checked)) {
		t.Fatalf("%s: audit verify:\n%s", ct.id, out)
	}
	ct.trusted = cp.Checkpoint
}

// loadUntilKilled runs, against every tenant, workers that create users as fast as they
// can, and an operator that issues tokens, and SIGKILLs the server after delay. It records
// the acknowledged writes in the tenants and returns how many there were.
func loadUntilKilled(t *testing.T, p *proc, operator string, tenants []*crashTenant, cycle int, delay time.Duration) (users, toks int) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, ct := range tenants {
		for w := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					name := fmt.Sprintf("c%d-w%d-%d@example.com", cycle, w, i)
					body, _ := json.Marshal(oktaUser(name, "Crash", fmt.Sprintf("Test %d", i)))
					status, b, err := scimPost(hc, p.URL, ct.scimToken, "/scim/v2/"+ct.id+"/Users", body)
					if err != nil {
						return // the server is gone; this create may or may not have committed
					}
					id, ok := createdID(t, status, b, name)
					if !ok {
						return
					}
					mu.Lock()
					ct.acked[id] = name
					users++
					mu.Unlock()
				}
			})
		}
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			ct := tenants[i%len(tenants)]
			body := fmt.Sprintf(`{"kind":"app","name":"crash-%d-%d"}`, cycle, i)
			status, b, err := postJSON(hc, p.URL+"/api/v1/tenants/"+ct.id+"/tokens", operator, body)
			if err != nil {
				return
			}
			id, ok := createdID(t, status, b, body)
			if !ok {
				return
			}
			mu.Lock()
			ct.ackedToks[id] = true
			toks++
			mu.Unlock()
		}
	})
	time.Sleep(delay)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-p.exited
	p.exited <- err // for the cleanup
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("server exit: %v, want killed by SIGKILL\n%s", err, p.stderr)
	}
	wg.Wait()
	return users, toks
}

// createdID returns the id of a 201 answer; anything else fails the test.
func createdID(t *testing.T, status int, b []byte, what string) (string, bool) {
	var v struct {
		ID string `json:"id"`
	}
	if status != http.StatusCreated {
		t.Errorf("create %s: status %d, body %s", what, status, b)
		return "", false
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		t.Errorf("create %s: no id in %s", what, b)
		return "", false
	}
	return v.ID, true
}

// postJSON sends one admin API POST without failing the test, like scimPost.
func postJSON(hc *http.Client, url, token, body string) (int, []byte, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestSIGTERM: the real binary drains and exits 0 on SIGTERM, logging "stopped".
func TestSIGTERM(t *testing.T) {
	operator := randomToken()
	p := startProc(t, filepath.Join(t.TempDir(), "scimtrail.db"), "SCIMTRAIL_BOOTSTRAP_TOKEN="+operator)
	client{tb: t, base: p.URL, token: operator}.must(http.StatusOK, "GET", "/api/v1/tenants", nil, nil)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0\n%s", err, p.stderr)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("no exit within 40s of SIGTERM")
	}
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped log line:\n%s", p.stderr)
	}
}
