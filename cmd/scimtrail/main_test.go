package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/postgres/pgtest"
)

// syncBuffer is a bytes.Buffer that the server goroutine writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a fake environment for Main.Getenv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// cliResult is what one CLI invocation printed and how it exited.
type cliResult struct {
	stdout, stderr string
	code           int
	err            error
}

// runCLI runs the real program in-process with args and the environment e.
func runCLI(tb testing.TB, e env, args ...string) cliResult {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: e.get}
	err := m.Run(tb.Context(), args)
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: ExitCode(err), err: err}
}

// mustCLI runs the CLI and fails the test unless it exits 0.
func mustCLI(tb testing.TB, e env, args ...string) string {
	tb.Helper()
	r := runCLI(tb, e, args...)
	if r.code != 0 {
		tb.Fatalf("scimtrail %s: exit %d: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// backend is a database the end-to-end tests run against: SQLite always, PostgreSQL when
// SCIMTRAIL_TEST_POSTGRES is set (CI always sets it).
type backend struct {
	name string
	// newDSN returns the DSN of a fresh, empty database that lives until the test ends.
	newDSN func(tb testing.TB) string
}

func backends() []backend {
	bs := []backend{{name: "SQLite", newDSN: func(tb testing.TB) string {
		// A directory that does not exist yet: the program must create it.
		return filepath.Join(tb.TempDir(), "data", "scimtrail.db")
	}}}
	if os.Getenv("SCIMTRAIL_TEST_POSTGRES") != "" {
		bs = append(bs, backend{name: "PostgreSQL", newDSN: mustCreateSchema})
	}
	return bs
}

// forEachBackend runs fn as a subtest per backend with a fresh database.
func forEachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b.newDSN(t)) })
	}
}

// mustCreateSchema returns a DSN for a fresh, empty PostgreSQL schema of this test, so every
// test has its own database inside the one CI provides.
func mustCreateSchema(tb testing.TB) string {
	tb.Helper()
	return pgtest.Schema(tb, "e2e")
}

// server is a running in-process `scimtrail serve`.
type server struct {
	URL            string
	env            env
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
	stopOnce       sync.Once
	stopErr        error
}

// startServer runs `scimtrail serve --addr 127.0.0.1:0 --db dsn` with the environment e and
// waits until it listens. The server is stopped when the test ends.
func startServer(tb testing.TB, e env, dsn string, extra ...string) *server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	s := &server{env: e, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	m := &Main{Stdout: s.stdout, Stderr: s.stderr, Getenv: e.get, Ready: ready}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", dsn}, extra...)
	if isPostgres(dsn) && !slices.Contains(extra, "--signing-key") {
		// The default key file is relative to the working directory for PostgreSQL;
		// keep each test database's key ring in its own place instead.
		args = append(args, "--signing-key", testKeyFile(tb, dsn))
	}
	// Likewise the server key, beside the signing key so restarts keep it.
	if isPostgres(dsn) && e["SCIMTRAIL_SERVER_KEY"] == "" && !slices.Contains(extra, "--server-key") {
		args = append(args, "--server-key", filepath.Join(filepath.Dir(testKeyFile(tb, dsn)), "server.key"))
	}
	go func() { s.done <- m.Run(ctx, args) }()
	select {
	case s.URL = <-ready:
	case err := <-s.done:
		cancel()
		tb.Fatalf("serve exited before listening: %v\nstderr:\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatalf("serve did not start listening in 30s\nstderr:\n%s", s.stderr)
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Errorf("serve: %v\nstderr:\n%s", err, s.stderr)
		}
	})
	return s
}

// testKeyFile is the signing key ring of the test database dsn: the same file for every
// server a test starts on dsn, removed when the test ends.
func testKeyFile(tb testing.TB, dsn string) string {
	sum := sha256.Sum256([]byte(dsn))
	dir := filepath.Join(os.TempDir(), "scimtrail-test-key-"+hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "signing-key")
}

// stop cancels the server's context, as SIGTERM does, and waits for Run to return.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.stopErr = <-s.done:
		case <-time.After(40 * time.Second):
			s.stopErr = errors.New("serve did not stop within 40s of cancellation")
		}
	})
	return s.stopErr
}

// client speaks to a server with one bearer token.
type client struct {
	tb    testing.TB
	base  string
	token string
	hc    *http.Client // nil: http.DefaultClient
}

func (c client) with(token string) client { c.token = token; return c }

// do sends a request with a JSON body (nil for none) and returns the status and the body.
func (c client) do(method, path string, body any) (int, []byte) {
	c.tb.Helper()
	var r io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			r = strings.NewReader(b)
		default:
			j, err := json.Marshal(b)
			if err != nil {
				c.tb.Fatal(err)
			}
			r = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.tb.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		if strings.HasPrefix(path, "/scim/") {
			req.Header.Set("Content-Type", "application/scim+json")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// must sends a request, fails the test unless the status is want, and decodes the body
// into out (when out is not nil).
func (c client) must(want int, method, path string, body, out any) {
	c.tb.Helper()
	status, b := c.do(method, path, body)
	if status != want {
		c.tb.Fatalf("%s %s: status %d, want %d; body: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.tb.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// auditEntry is the part of a ledger entry the tests check.
type auditEntry struct {
	Seq    int64  `json:"seq"`
	Action string `json:"action"`
	Target *struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"target"`
	Actor struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"actor"`
	Channel string `json:"channel"`
}

// decodeEntries reads an audit page: {"entries":[{"seq","leaf_hash","entry"}],"next_after"},
// where entry is the hashed ledger entry as stored.
func decodeEntries(b []byte) ([]auditEntry, error) {
	var page struct {
		Entries []struct {
			Seq      int64           `json:"seq"`
			LeafHash string          `json:"leaf_hash"`
			Entry    json.RawMessage `json:"entry"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, err
	}
	out := make([]auditEntry, 0, len(page.Entries))
	for _, w := range page.Entries {
		var e auditEntry
		if err := json.Unmarshal(w.Entry, &e); err != nil {
			return nil, err
		}
		if e.Seq != w.Seq || w.LeafHash == "" {
			return nil, fmt.Errorf("entry %s: wrapper seq %d, leaf_hash %q", w.Entry, w.Seq, w.LeafHash)
		}
		out = append(out, e)
	}
	return out, nil
}

// auditLog reads a tenant's whole audit log through the admin API, page by page.
func (c client) auditLog(tenant string) []auditEntry {
	c.tb.Helper()
	var all []auditEntry
	after := int64(0)
	for {
		path := fmt.Sprintf("/api/v1/tenants/%s/audit?after=%d&limit=500", tenant, after)
		status, b := c.do("GET", path, nil)
		if status != http.StatusOK {
			c.tb.Fatalf("GET %s: status %d; body: %s", path, status, b)
		}
		page, err := decodeEntries(b)
		if err != nil {
			c.tb.Fatalf("GET %s: decode %s: %v", path, b, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

// checkGapFree fails the test unless the entries' seqs are exactly 1, 2, …, n.
func checkGapFree(tb testing.TB, entries []auditEntry) {
	tb.Helper()
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			tb.Fatalf("audit entry %d has seq %d, want %d (seqs must be gap-free from 1)", i, e.Seq, i+1)
		}
	}
}
