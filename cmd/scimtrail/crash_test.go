package main

import (
	"bufio"
	"bytes"
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

// TestCrash kills the server with SIGKILL at a random moment while clients create users,
// restarts it, and checks that state and log agree: every acknowledged create survived with
// exactly one user.created entry, every user.created entry's user exists, and the log's
// seqs have no gaps. Three kill cycles on each backend; SCIMTRAIL_CRASH_CYCLES asks for
// more (soak).
func TestCrash(t *testing.T) {
	cycles := 3
	if n, err := fmt.Sscan(os.Getenv("SCIMTRAIL_CRASH_CYCLES"), &cycles); n != 1 || err != nil {
		cycles = 3
	}
	seed := rand.Uint64()
	t.Logf("seed %d (set SCIMTRAIL_CRASH_SEED to repeat)", seed)
	if s := os.Getenv("SCIMTRAIL_CRASH_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	// Each backend: SQLite and, when CI provides one, PostgreSQL (a fresh schema).
	forEachBackend(t, func(t *testing.T, dsn string) {
		rng := rand.New(rand.NewPCG(seed, seed))
		crashCycles(t, dsn, cycles, rng)
	})
}

// crashCycles runs the kill/restart cycles of TestCrash against one database.
func crashCycles(t *testing.T, dsn string, cycles int, rng *rand.Rand) {
	operator := randomToken()
	bootstrap := "SCIMTRAIL_BOOTSTRAP_TOKEN=" + operator

	acked := map[string]string{} // id → userName of every create that got 201
	var scimToken string
	for cycle := 0; cycle <= cycles; cycle++ {
		p := startProc(t, dsn, bootstrap)
		op := client{tb: t, base: p.URL, token: operator}
		if cycle == 0 {
			op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme", "name": "Acme"}, nil)
			var tok issued
			op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &tok)
			scimToken = tok.Token
		} else {
			checkCrashInvariants(t, op, client{tb: t, base: p.URL, token: scimToken}, acked)
			// The log verifies after the crash, against a checkpoint of all of it (signed
			// on demand) and every checkpoint signed before the kill.
			op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, nil)
			out := mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme")
			if !strings.HasPrefix(out, "OK ") {
				t.Fatalf("cycle %d: audit verify:\n%s", cycle, out)
			}
		}
		if cycle == cycles {
			break
		}

		delay := time.Duration(100+rng.IntN(400)) * time.Millisecond
		got := createUntilKilled(t, p, scimToken, cycle, 4, delay)
		for id, name := range got {
			acked[id] = name
		}
		t.Logf("cycle %d: killed after %v with %d creates acknowledged", cycle, delay, len(got))
	}
	if len(acked) == 0 {
		t.Fatal("no create was ever acknowledged; the test tested nothing")
	}
}

// createUntilKilled runs workers that create users as fast as they can and SIGKILLs the
// server after delay. It returns the creates that were acknowledged with 201.
func createUntilKilled(t *testing.T, p *proc, token string, cycle, workers int, delay time.Duration) map[string]string {
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		wg    sync.WaitGroup
	)
	hc := &http.Client{Timeout: 10 * time.Second}
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				name := fmt.Sprintf("c%d-w%d-%d@example.com", cycle, w, i)
				body, _ := json.Marshal(oktaUser(name, "Crash", fmt.Sprintf("Test %d", i)))
				req, _ := http.NewRequest("POST", p.URL+"/scim/v2/acme/Users", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/scim+json")
				resp, err := hc.Do(req)
				if err != nil {
					return // the server is gone; this create may or may not have committed
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return
				}
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("create %s: status %d, body %s", name, resp.StatusCode, b)
					return
				}
				var u struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(b, &u); err != nil || u.ID == "" {
					t.Errorf("create %s: no id in %s", name, b)
					return
				}
				mu.Lock()
				acked[u.ID] = name
				mu.Unlock()
			}
		})
	}
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
	return acked
}

// checkCrashInvariants checks, after a restart, that state and log agree.
func checkCrashInvariants(t *testing.T, op, scim client, acked map[string]string) {
	t.Helper()
	entries := op.auditLog("acme")
	checkGapFree(t, entries)
	created := map[string]int{}
	for _, e := range entries {
		if e.Action == "user.created" && e.Target != nil {
			created[e.Target.ID]++
		}
	}
	for id, name := range acked {
		if n := created[id]; n != 1 {
			t.Errorf("acknowledged user %s (%s) has %d user.created entries, want 1", id, name, n)
		}
	}
	for id, n := range created {
		if n != 1 {
			t.Errorf("user %s has %d user.created entries, want 1", id, n)
		}
		var u struct {
			UserName string `json:"userName"`
		}
		status, b := scim.do("GET", "/scim/v2/acme/Users/"+id, nil)
		if status != http.StatusOK {
			t.Errorf("user %s has a user.created entry but GET says %d: %s", id, status, b)
			continue
		}
		if err := json.Unmarshal(b, &u); err != nil {
			t.Fatalf("GET user %s: %v", id, err)
		}
		if want, ok := acked[id]; ok && u.UserName != want {
			t.Errorf("user %s: userName %q, want %q", id, u.UserName, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("after restart: %d entries, %d users created, all %d acknowledged creates present", len(entries), len(created), len(acked))
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
