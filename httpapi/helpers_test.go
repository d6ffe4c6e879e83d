package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/postgres/pgtest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// backend opens a fresh, empty store; onBatch is the group-commit hook.
type backend struct {
	name string
	open func(tb testing.TB, onBatch func(int)) scimtrail.Store
}

// backends is SQLite always, and PostgreSQL when CI provides one, so every test that ranges
// over it runs on both without skipping anything on a laptop.
func backends() []backend {
	bs := []backend{{"sqlite", openSQLite}}
	if os.Getenv("SCIMTRAIL_TEST_POSTGRES") != "" {
		bs = append(bs, backend{"postgres", openPostgres})
	}
	return bs
}

func openSQLite(tb testing.TB, onBatch func(int)) scimtrail.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "scimtrail.db"), sqlite.Options{OnBatch: onBatch})
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// openPostgres isolates each test in its own schema, as the postgres package's own tests
// do: a fresh schema on the CI database, named randomly, on the DSN's search_path, dropped
// when the test ends.
func openPostgres(tb testing.TB, onBatch func(int)) scimtrail.Store {
	tb.Helper()
	dsn := pgtest.Schema(tb, "httpapi")
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{OnBatch: onBatch})
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	// Registered after the schema's cleanup, so it runs first: the pool closes before the
	// schema is dropped.
	tb.Cleanup(func() { db.Close() })
	return db
}

// clock is the service's clock, which tests move forward to expire tokens.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running server over one backend with an operator token, two tenants (acme and
// globex) and a SCIM token for each.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	clock    *clock
	reg      *prometheus.Registry
	logs     *syncBuffer
	operator string
	scim     map[string]string // tenant → SCIM token secret
	svc      *service.Service
}

type envOptions struct {
	maxBody   int64
	publicURL string
	rateLimit float64
	rateBurst int
	keys      *ledger.KeyRing // nil: the service signs no checkpoints
}

// forEachBackend runs fn once per backend, each with its own fresh server.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	forEachBackendOpts(t, envOptions{}, fn)
}

func forEachBackendOpts(t *testing.T, o envOptions, fn func(t *testing.T, e *env)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, newEnv(t, b, o)) })
	}
}

func newEnv(t *testing.T, b backend, o envOptions) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics := httpapi.NewMetrics(reg)
	store := b.open(t, metrics.ObserveWriteBatch)
	clk := &clock{t: time.Now().UTC()}
	svc := service.New(store, service.Options{Now: clk.Now, Keys: o.keys})
	logs := &syncBuffer{}
	h := httpapi.NewHandler(svc, httpapi.Options{
		Logger:       slog.New(slog.NewJSONHandler(logs, nil)),
		Metrics:      metrics,
		MaxBodyBytes: o.maxBody,
		PublicURL:    o.publicURL,
		RateLimit:    o.rateLimit,
		RateBurst:    o.rateBurst,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	secret, created, err := svc.Bootstrap(t.Context(), "")
	if err != nil || !created {
		t.Fatalf("Bootstrap: created %v, %v", created, err)
	}
	e := &env{t: t, srv: srv, clock: clk, reg: reg, logs: logs, operator: secret, scim: map[string]string{}, svc: svc}
	for _, tenant := range []string{"acme", "globex"} {
		e.must(e.do("POST", "/api/v1/tenants", secret, map[string]any{"id": tenant, "name": tenant + " Corp"}), 201)
		e.scim[tenant] = e.issue(tenant, "scim")
	}
	return e
}

// issue issues a token of the kind for the tenant with the operator token and returns its
// secret.
func (e *env) issue(tenant, kind string) string {
	e.t.Helper()
	r := e.must(e.do("POST", "/api/v1/tenants/"+tenant+"/tokens", e.operator, map[string]any{"kind": kind, "name": kind + " token"}), 201)
	secret, _ := r.json()["token"].(string)
	if secret == "" {
		e.t.Fatalf("issued token has no secret: %s", r.body)
	}
	return secret
}

// resp is a response with its body read.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json() map[string]any {
	var m map[string]any
	json.Unmarshal(r.body, &m)
	return m
}

// do sends a request; body is marshalled unless it is a string or []byte, which are sent
// as they are. Extra headers come in name, value pairs.
func (e *env) do(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b // sent chunked: the client cannot know its length
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		if strings.HasPrefix(path, "/scim/") {
			req.Header.Set("Content-Type", "application/scim+json")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// must fails the test unless r has the status.
func (e *env) must(r resp, status int) resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

// scimError checks that r is a SCIM Error message with the status and scimType ("" for none).
func scimError(t *testing.T, r resp, status int, scimType string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	if got, want := r.header.Get("Content-Type"), "application/scim+json"; got != want {
		t.Errorf("Content-Type %q, want %q", got, want)
	}
	m := r.json()
	schemas, _ := m["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("schemas %v, want the Error URN; body: %s", m["schemas"], r.body)
	}
	if got, want := m["status"], strconvItoa(status); got != want {
		t.Errorf("status member %v, want %q", got, want)
	}
	got, _ := m["scimType"].(string)
	if got != scimType {
		t.Errorf("scimType %q, want %q; body: %s", got, scimType, r.body)
	}
}

// apiError checks that r is an admin API error with the status and code.
func apiError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, r.body)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("error %+v, want code %q and a message", body.Error, code)
	}
}

func strconvItoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// syncBuffer collects log output from concurrent handlers.
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

// auditSeqs returns the seqs of the tenant's audit log, checking they are 1…n without gaps.
func (e *env) auditSeqs(tenant string) []int64 {
	e.t.Helper()
	r := e.must(e.do("GET", "/api/v1/tenants/"+tenant+"/audit?limit=1000", e.operator, nil), 200)
	var body struct {
		Entries []struct {
			Seq      int64          `json:"seq"`
			LeafHash string         `json:"leaf_hash"`
			Entry    map[string]any `json:"entry"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		e.t.Fatalf("audit body: %v: %s", err, r.body)
	}
	var seqs []int64
	for i, en := range body.Entries {
		if en.Seq != int64(i+1) {
			e.t.Fatalf("entry %d has seq %d: the log must be gap-free from 1", i, en.Seq)
		}
		if len(en.LeafHash) != 64 {
			e.t.Errorf("entry %d leaf_hash %q is not 32 bytes of hex", en.Seq, en.LeafHash)
		}
		if got, ok := en.Entry["seq"].(float64); !ok || int64(got) != en.Seq {
			e.t.Errorf("entry %d body seq %v", en.Seq, en.Entry["seq"])
		}
		seqs = append(seqs, en.Seq)
	}
	return seqs
}

// testKeyRing is a fresh checkpoint-signing key ring named scimtrail.test.
func testKeyRing(tb testing.TB) *ledger.KeyRing {
	tb.Helper()
	text, err := ledger.NewKeyRing("scimtrail.test")
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(text)
	if err != nil {
		tb.Fatal(err)
	}
	return ring
}
