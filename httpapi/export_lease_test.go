package httpapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/postgres/pgtest"
	"github.com/scimtrail/scimtrail/service"
)

// taggingTransport marks each delivery with the dispatcher that made it.
type taggingTransport struct {
	tag  string
	next http.RoundTripper
}

func (t taggingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-Dispatcher", t.tag)
	return t.next.RoundTrip(r)
}

// TestSinkLeaseAcrossReplicas runs two dispatchers, as two replicas do, each with its own
// connection pool on one PostgreSQL schema. While both run, only the lease holder delivers.
// Then the holder is killed mid-stream — its pool closed under it, so it can neither renew
// nor give up its lease, as after kill -9 — and the other takes the sink over once the lease
// expires, from the durable cursor: every entry arrives, first arrivals in order.
func TestSinkLeaseAcrossReplicas(t *testing.T) {
	if pgtest.DSN() == "" {
		t.Log("SCIMTRAIL_TEST_POSTGRES is not set: replicas need PostgreSQL (make test sets it)")
		return
	}
	var dsn string
	pg := backend{"postgres", func(tb testing.TB, onBatch func(int)) scimtrail.Store {
		dsn = pgtest.Schema(tb, "lease")
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{OnBatch: onBatch})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return db
	}}
	x := newExportEnv(t, pg, true, export.Options{})
	x.stop() // the env's own dispatcher is neither replica

	// Replica a: its own pool and service on the same schema, the same sink key.
	dbA, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closeA := sync.OnceFunc(func() { dbA.Close() })
	t.Cleanup(closeA)
	key := make([]byte, service.SinkKeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	svcA := service.New(dbA, service.Options{Sinks: service.SinkOptions{Key: key, AllowPrivate: true}})

	const ttl = 2 * time.Second
	run := func(svc *service.Service, tag string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		d := export.New(svc, export.Options{Holder: tag, LeaseTTL: ttl, Poll: 50 * time.Millisecond, BatchSize: 5,
			AllowPrivate: true, MaxFailures: 1000, BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			Client: &http.Client{Timeout: 10 * time.Second, Transport: taggingTransport{tag, http.DefaultTransport}}})
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		return sync.OnceFunc(func() { cancel(); <-done })
	}

	rcv := newReceiver(t, testSecret)
	id := x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
		map[string]any{"type": "webhook", "url": rcv.url(), "secret": testSecret}), 201).json()["id"].(string)
	stopA := run(svcA, "a")
	t.Cleanup(stopA)
	holder := func() string {
		h, _, err := x.svc.SinkLease(t.Context(), id)
		if err != nil && scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
			t.Fatal(err)
		}
		return h
	}
	waitFor(t, "replica a to take the lease", func() bool { return holder() == "a" })
	stopB := run(x.svc, "b")
	t.Cleanup(stopB)

	// Both running: only the holder delivers.
	x.createUsers("acme", 12)
	waitFor(t, "delivery by the holder", lagZero(x, "acme", id))
	tags := func() map[string]int {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		n := map[string]int{}
		for _, d := range rcv.bodies {
			n[d.header.Get("X-Test-Dispatcher")]++
		}
		return n
	}
	if n := tags(); n["b"] != 0 || n["a"] == 0 {
		t.Fatalf("deliveries by dispatcher while a held the lease: %v; want all by a", n)
	}
	if h := holder(); h != "a" {
		t.Fatalf("holder %q after a renewed for a while, want a", h)
	}

	// Kill a mid-stream: a slow receiver keeps a's batch in flight.
	rcv.mu.Lock()
	before := len(rcv.bodies)
	rcv.mu.Unlock()
	rcv.mu.Lock()
	rcv.delay = 30 * time.Millisecond
	rcv.mu.Unlock()
	x.createUsers("acme", 20)
	waitFor(t, "a to be mid-stream", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return len(rcv.bodies) >= before+3
	})
	closeA() // its pool is gone: no renewal, no release, no cursor moves
	stopA()
	rcv.mu.Lock()
	rcv.delay = 0
	rcv.mu.Unlock()
	waitFor(t, "b to take the sink over", func() bool { return holder() == "b" })
	waitFor(t, "b to deliver the rest", lagZero(x, "acme", id))
	if n := tags(); n["b"] == 0 {
		t.Fatalf("deliveries after a was killed: %v; want some by b", n)
	}
	rcv.check("acme", x.head("acme"))
}
