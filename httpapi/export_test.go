package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/export/file"
	"github.com/scimtrail/scimtrail/export/webhook"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

// exportEnv is an env whose server can have sinks, with a dispatcher that tests stop and
// start again as a restart would.
type exportEnv struct {
	*env
	svc   *service.Service
	store scimtrail.Store
	dopts export.Options
	stop  func()
	files string // the file sinks' base directory
	keys  *ledger.KeyRing
}

func newExportEnv(t *testing.T, b backend, allowPrivate bool, dopts export.Options) *exportEnv {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics := httpapi.NewMetrics(reg)
	store := b.open(t, metrics.ObserveWriteBatch)
	key := make([]byte, service.SinkKeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	clk := &clock{t: time.Now().UTC()}
	files := t.TempDir()
	ringText, err := ledger.NewKeyRing("scimtrail.test")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(ringText)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(store, service.Options{Keys: ring, Sinks: service.SinkOptions{Key: key, AllowPrivate: allowPrivate, FileDir: files}})
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	srv := httptest.NewServer(httpapi.NewHandler(svc, httpapi.Options{Logger: logger, Metrics: metrics}))
	t.Cleanup(srv.Close)
	secret, _, err := svc.Bootstrap(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, clock: clk, reg: reg, logs: logs, operator: secret, scim: map[string]string{}}
	for _, tenant := range []string{"acme", "globex"} {
		e.must(e.do("POST", "/api/v1/tenants", secret, map[string]any{"id": tenant}), 201)
		e.scim[tenant] = e.issue(tenant, "scim")
	}
	dopts.Logger = logger
	dopts.AllowPrivate = allowPrivate
	dopts.Metrics = export.NewMetrics(reg)
	if dopts.Poll == 0 {
		dopts.Poll = 100 * time.Millisecond
	}
	if dopts.BackoffBase == 0 {
		dopts.BackoffBase, dopts.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	}
	dopts.FileDir, dopts.WriteFiles = files, file.Write
	x := &exportEnv{env: e, svc: svc, store: store, dopts: dopts, files: files, keys: ring}
	x.start()
	t.Cleanup(func() { x.stop() })
	return x
}

// start runs a fresh dispatcher, as a restarted server would.
func (x *exportEnv) start() {
	ctx, cancel := context.WithCancel(context.Background())
	d := export.New(x.svc, x.dopts)
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	x.stop = func() { cancel(); <-done; x.stop = func() {} }
}

func (x *exportEnv) createUsers(tenant string, n int) {
	x.t.Helper()
	for range n {
		var b [6]byte
		rand.Read(b[:])
		x.must(x.do("POST", "/scim/v2/"+tenant+"/Users", x.scim[tenant],
			map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": fmt.Sprintf("u%x@example.com", b)}), 201)
	}
}

func (x *exportEnv) head(tenant string) int64 {
	x.t.Helper()
	return int64(len(x.auditSeqs(tenant)))
}

// sinkStatus GETs a sink of tenant ("" for operator sinks).
func (x *exportEnv) sinkStatus(tenant, id string) map[string]any {
	x.t.Helper()
	return x.must(x.do("GET", sinkPath(tenant)+"/"+id, x.operator, nil), 200).json()
}

func sinkPath(tenant string) string {
	if tenant == "" {
		return "/api/v1/sinks"
	}
	return "/api/v1/tenants/" + tenant + "/sinks"
}

// waitFor polls cond until it holds, failing after a generous deadline; it never asserts
// how long anything took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is a webhook endpoint on loopback that verifies Standard Webhooks signatures and
// records what arrived. It can be stopped and started on the same address, and told to fail.
type receiver struct {
	t      *testing.T
	secret string
	addr   string
	mu     sync.Mutex
	srv    *http.Server
	fail   bool
	delay  time.Duration // how long each request takes to answer
	got    []delivered   // in arrival order, duplicates included
	bad    []string      // signature failures
	bodies []rawDelivery
}

type delivered struct {
	Tenant string
	Seq    int64
	ID     string
}

type rawDelivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle)}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

func (r *receiver) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *receiver) restart() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the address was just released; rebinding can race its close
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *receiver) setFail(fail bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = fail
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	time.Sleep(delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
		r.bad = append(r.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.bodies = append(r.bodies, rawDelivery{req.Header.Clone(), body})
	var msg struct {
		Data struct {
			Tenant string `json:"tenant"`
			Seq    int64  `json:"seq"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &msg); err == nil && msg.Data.Seq > 0 {
		r.got = append(r.got, delivered{msg.Data.Tenant, msg.Data.Seq, req.Header.Get(webhook.HeaderID)})
	}
	w.WriteHeader(http.StatusNoContent)
}

// check verifies at-least-once, in-order delivery of seqs 1..head of tenant: every seq
// arrived, a seq arrives for the first time only right after its predecessor did, and
// every duplicate is one already delivered (detectable by seq and webhook-id).
func (r *receiver) check(tenant string, head int64) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Errorf("%d deliveries failed signature verification: %v", len(r.bad), r.bad[0])
	}
	var maxSeq int64
	dups := 0
	for _, d := range r.got {
		if d.Tenant != tenant {
			continue
		}
		if want := fmt.Sprintf("evt_%s_%d", tenant, d.Seq); d.ID != want {
			r.t.Errorf("webhook-id %q, want %q", d.ID, want)
		}
		switch {
		case d.Seq == maxSeq+1:
			maxSeq = d.Seq
		case d.Seq <= maxSeq:
			dups++
		default:
			r.t.Fatalf("seq %d of %s arrived before seq %d: out of order or skipped", d.Seq, tenant, maxSeq+1)
		}
	}
	if maxSeq != head {
		r.t.Fatalf("delivered up to seq %d of %s, want %d", maxSeq, tenant, head)
	}
	r.t.Logf("%s: %d entries delivered, %d duplicates", tenant, head, dups)
}

func (r *receiver) maxSeq(tenant string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m int64
	for _, d := range r.got {
		if d.Tenant == tenant {
			m = max(m, d.Seq)
		}
	}
	return m
}

const testSecret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func lagZero(x *exportEnv, tenant, id string) func() bool {
	return func() bool {
		st := x.sinkStatus(tenant, id)
		return st["lag"] == float64(0)
	}
}

func TestSinkValidationAndSSRF(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, false, export.Options{})
			before := x.head("acme")
			for name, body := range map[string]string{
				"NoType":         `{"url":"https://hooks.example.com/x"}`,
				"UnknownType":    `{"type":"carrier-pigeon","url":"https://hooks.example.com/x"}`,
				"NoURL":          `{"type":"webhook"}`,
				"RelativeURL":    `{"type":"webhook","url":"/x"}`,
				"BadFormat":      `{"type":"webhook","url":"https://93.184.215.14/x","format":"xml"}`,
				"BadSecret":      `{"type":"webhook","url":"https://93.184.215.14/x","secret":"hunter2"}`,
				"FromSeqZero":    `{"type":"webhook","url":"https://93.184.215.14/x","from_seq":0}`,
				"UnknownField":   `{"type":"webhook","url":"https://93.184.215.14/x","sceret":"x"}`,
				"PlainHTTP":      `{"type":"webhook","url":"http://93.184.215.14/x"}`,
				"Loopback":       `{"type":"webhook","url":"https://127.0.0.1:8443/x"}`,
				"LoopbackV6":     `{"type":"webhook","url":"https://[::1]/x"}`,
				"Localhost":      `{"type":"webhook","url":"https://localhost/x"}`,
				"Private":        `{"type":"webhook","url":"https://10.1.2.3/x"}`,
				"Metadata":       `{"type":"webhook","url":"https://169.254.169.254/latest/meta-data"}`,
				"MappedV4":       `{"type":"webhook","url":"https://[::ffff:192.168.1.1]/x"}`,
				"URLWithPasswd":  `{"type":"webhook","url":"https://u:p@93.184.215.14/x"}`,
				"KafkaNoBroker":  `{"type":"kafka","brokers":[],"topic":"audit"}`,
				"KafkaTooMany":   `{"type":"kafka","brokers":["93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092","93.184.215.14:9092"],"topic":"audit"}`,
				"KafkaNoPort":    `{"type":"kafka","brokers":["93.184.215.14"],"topic":"audit"}`,
				"KafkaBadTopic":  `{"type":"kafka","brokers":["93.184.215.14:9092"],"topic":"audit/log"}`,
				"KafkaDotTopic":  `{"type":"kafka","brokers":["93.184.215.14:9092"],"topic":".."}`,
				"KafkaLongTopic": `{"type":"kafka","brokers":["93.184.215.14:9092"],"topic":"` + strings.Repeat("a", 250) + `"}`,
				"KafkaPrivate":   `{"type":"kafka","brokers":["10.1.2.3:9092"],"topic":"audit"}`,
				"KafkaURL":       `{"type":"kafka","url":"https://93.184.215.14/x","brokers":["93.184.215.14:9092"],"topic":"audit"}`,
				"KafkaSecret":    `{"type":"kafka","secret":"x","brokers":["93.184.215.14:9092"],"topic":"audit"}`,
				"TopicOnHook":    `{"type":"webhook","url":"https://93.184.215.14/x","topic":"audit"}`,
			} {
				t.Run(name, func(t *testing.T) {
					apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, body), 400, scimtrail.EINVALID)
				})
			}
			apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, `{"type":"kafka","brokers":["a:9092"]}`), 400, scimtrail.EINVALID)
			if got := x.head("acme"); got != before {
				t.Errorf("refused requests wrote ledger entries: head %d, want %d", got, before)
			}
			list := x.must(x.do("GET", "/api/v1/tenants/acme/sinks", x.operator, nil), 200).json()
			if sinks, _ := list["sinks"].([]any); len(sinks) != 0 {
				t.Errorf("refused requests created sinks: %v", list)
			}
			// A public address passes the guard (nothing is sent until the dispatcher runs).
			x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
				map[string]any{"type": "webhook", "url": "https://93.184.215.14/x"}), 201)
		})
	}
}

func TestSinksAPI(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{})
			x.stop() // nothing is delivered in this test
			admin := x.issue("acme", "admin")
			r := x.must(x.do("POST", "/api/v1/tenants/acme/sinks", admin,
				map[string]any{"type": "webhook", "url": "http://127.0.0.1:9/hook", "format": "ocsf", "from_seq": 3}), 201)
			created := r.json()
			id, _ := created["id"].(string)
			secret, _ := created["secret"].(string)
			if id == "" || !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("created sink %s: want an id and a generated whsec_ secret", r.body)
			}
			if got := created["cursor"]; got != float64(2) {
				t.Errorf("cursor %v, want 2 (from_seq 3)", got)
			}
			seq := r.header.Get("Scimtrail-Audit-Seq")
			entries := x.must(x.do("GET", "/api/v1/tenants/acme/audit?action=sink.", x.operator, nil), 200)
			if !strings.Contains(string(entries.body), `"action":"sink.created"`) || !strings.Contains(string(entries.body), `"seq":`+seq) {
				t.Errorf("no sink.created entry at seq %s: %s", seq, entries.body)
			}
			if strings.Contains(string(entries.body), strings.TrimPrefix(secret, "whsec_")) {
				t.Error("the secret is in the ledger")
			}

			got := x.must(x.do("GET", "/api/v1/tenants/acme/sinks/"+id, admin, nil), 200)
			st := got.json()
			for _, k := range []string{"state", "cursor", "lag", "last_error", "format", "url"} {
				if _, ok := st[k]; !ok {
					t.Errorf("sink status has no %q: %s", k, got.body)
				}
			}
			if st["state"] != "active" || st["lag"] != float64(x.head("acme")-2) {
				t.Errorf("status %s: want active with lag %d", got.body, x.head("acme")-2)
			}
			if strings.Contains(string(got.body), strings.TrimPrefix(secret, "whsec_")) || strings.Contains(string(got.body), "secret") {
				t.Errorf("GET shows the secret: %s", got.body)
			}
			// At rest, the secret is sealed.
			x.store.View(t.Context(), func(tx scimtrail.ReadTx) error {
				s, err := tx.Sink(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
				if len(s.Secret) == 0 || strings.Contains(string(s.Secret), secret) || strings.Contains(string(s.Secret), string(key)) ||
					strings.Contains(string(s.Config), "whsec_") {
					t.Errorf("the secret is stored in clear")
				}
				return nil
			})

			// Other tenants and the operator's all-tenant routes do not see it.
			globexAdmin := x.issue("globex", "admin")
			apiError(t, x.do("GET", "/api/v1/tenants/globex/sinks/"+id, globexAdmin, nil), 404, scimtrail.ENOTFOUND)
			apiError(t, x.do("GET", "/api/v1/tenants/acme/sinks/"+id, globexAdmin, nil), 404, scimtrail.ENOTFOUND)
			apiError(t, x.do("GET", "/api/v1/sinks/"+id, x.operator, nil), 404, scimtrail.ENOTFOUND)
			apiError(t, x.do("POST", "/api/v1/sinks", admin, map[string]any{"type": "webhook", "url": "http://127.0.0.1:9/"}), 403, scimtrail.EFORBIDDEN)
			apiError(t, x.do("GET", "/api/v1/tenants/acme/sinks", x.scim["acme"], nil), 403, scimtrail.EFORBIDDEN)

			// Rotation keeps the old secret signing: both verify.
			rot := x.must(x.do("POST", "/api/v1/tenants/acme/sinks/"+id+"/rotate", admin, map[string]any{"overlap": "1h"}), 200).json()
			newSecret, _ := rot["secret"].(string)
			if !strings.HasPrefix(newSecret, "whsec_") || newSecret == secret {
				t.Fatalf("rotate: new secret %q", newSecret)
			}
			del, err := x.svc.SinkDelivery(t.Context(), id)
			if err != nil || len(del.Secrets) != 2 || del.Secrets[0].Value != newSecret || del.Secrets[1].Value != secret {
				t.Fatalf("after rotation the sink signs with %d secrets (err %v), want new then old", len(del.Secrets), err)
			}

			// An operator sink of every tenant.
			op := x.must(x.do("POST", "/api/v1/sinks", x.operator, map[string]any{"type": "webhook", "url": "http://127.0.0.1:9/", "secret": testSecret}), 201).json()
			if op["secret"] != nil || op["cursor"] != nil {
				t.Errorf("operator sink: a given secret is not echoed and cursor is per tenant: %v", op)
			}
			if c, _ := op["cursors"].(map[string]any); c["acme"] != float64(0) || c["globex"] != float64(0) {
				t.Errorf("operator sink cursors %v, want acme and globex at 0", op["cursors"])
			}

			x.must(x.do("DELETE", "/api/v1/tenants/acme/sinks/"+id, admin, nil), 204)
			apiError(t, x.do("GET", "/api/v1/tenants/acme/sinks/"+id, admin, nil), 404, scimtrail.ENOTFOUND)
			apiError(t, x.do("DELETE", "/api/v1/tenants/acme/sinks/"+id, admin, nil), 404, scimtrail.ENOTFOUND)
			entries = x.must(x.do("GET", "/api/v1/tenants/acme/audit?action=sink.", x.operator, nil), 200)
			for _, a := range []string{"sink.created", "sink.updated", "sink.deleted"} {
				if !strings.Contains(string(entries.body), `"action":"`+a+`"`) {
					t.Errorf("no %s entry: %s", a, entries.body)
				}
			}
		})
	}
}

// TestWebhookDeliveryEndToEnd delivers through a receiver that is stopped and restarted
// mid-stream and a dispatcher that is restarted, and checks every entry arrived in order.
func TestWebhookDeliveryEndToEnd(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{BatchSize: 7, MaxFailures: 1000})
			rcv := newReceiver(t, testSecret)
			id := x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
				map[string]any{"type": "webhook", "url": rcv.url(), "secret": testSecret}), 201).json()["id"].(string)
			x.createUsers("acme", 10)
			waitFor(t, "first deliveries", func() bool { return rcv.maxSeq("acme") >= 5 })

			rcv.stop()
			x.createUsers("acme", 10)
			waitFor(t, "the failure to show", func() bool {
				st := x.sinkStatus("acme", id)
				return st["last_error"] != "" && st["failures"].(float64) > 0 && st["lag"].(float64) > 0
			})
			rcv.restart()
			waitFor(t, "catch-up after the receiver restarted", lagZero(x, "acme", id))

			x.stop()
			x.createUsers("acme", 5)
			if st := x.sinkStatus("acme", id); st["lag"] != float64(5) {
				t.Fatalf("with the dispatcher stopped lag is %v, want 5", st["lag"])
			}
			x.start()
			waitFor(t, "catch-up after the dispatcher restarted", lagZero(x, "acme", id))
			head := x.head("acme")
			st := x.sinkStatus("acme", id)
			if st["cursor"] != float64(head) || st["last_error"] != "" || st["state"] != "active" {
				t.Errorf("status after catch-up %v, want cursor %d, no error, active", st, head)
			}
			rcv.check("acme", head)
			if rcv.maxSeq("globex") != 0 {
				t.Error("a sink of acme delivered globex's entries")
			}

			// The records carry what verification needs, byte for byte.
			audit := x.must(x.do("GET", "/api/v1/tenants/acme/audit?limit=1000", x.operator, nil), 200)
			var log struct {
				Entries []struct {
					Seq      int64           `json:"seq"`
					LeafHash string          `json:"leaf_hash"`
					Entry    json.RawMessage `json:"entry"`
				} `json:"entries"`
			}
			json.Unmarshal(audit.body, &log)
			rcv.mu.Lock()
			first := rcv.bodies[0].body
			rcv.mu.Unlock()
			var msg struct {
				Type string `json:"type"`
				Data struct {
					Tenant     string          `json:"tenant"`
					Seq        int64           `json:"seq"`
					LeafHash   string          `json:"leaf_hash"`
					Checkpoint json.RawMessage `json:"checkpoint"`
					Entry      json.RawMessage `json:"entry"`
				} `json:"data"`
			}
			if err := json.Unmarshal(first, &msg); err != nil {
				t.Fatal(err)
			}
			want := log.Entries[msg.Data.Seq-1]
			if msg.Data.LeafHash != want.LeafHash || string(msg.Data.Entry) != string(want.Entry) || msg.Type != "tenant.created" {
				t.Errorf("delivered record %s does not match the log's entry %d (%s %s)", first, want.Seq, want.LeafHash, want.Entry)
			}
			if !strings.Contains(string(first), `"checkpoint":`) {
				t.Errorf("record has no checkpoint key: %s", first)
			}
			// Metrics: lag 0 for the sink.
			m := x.must(x.do("GET", "/metrics", "", nil), 200)
			if !strings.Contains(string(m.body), `scimtrail_sink_lag_entries{sink="`+id+`"} 0`) ||
				!strings.Contains(string(m.body), `scimtrail_sink_delivered_total{sink="`+id+`"}`) {
				t.Errorf("metrics lack the sink's lag or deliveries")
			}
		})
	}
}

func TestDeadLetterAndRetry(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{MaxFailures: 3})
			rcv := newReceiver(t, testSecret)
			rcv.setFail(true)
			id := x.must(x.do("POST", "/api/v1/sinks", x.operator,
				map[string]any{"type": "webhook", "url": rcv.url(), "secret": testSecret}), 201).json()["id"].(string)
			waitFor(t, "the sink to go dead", func() bool { return x.sinkStatus("", id)["state"] == "dead" })
			st := x.sinkStatus("", id)
			if !strings.Contains(st["last_error"].(string), "503") || st["failures"] != float64(3) {
				t.Errorf("dead sink status %v, want 3 failures and the 503 in last_error", st)
			}
			waitFor(t, "the dead gauge", func() bool {
				m := x.do("GET", "/metrics", "", nil)
				return strings.Contains(string(m.body), `scimtrail_sink_dead{sink="`+id+`"} 1`)
			})
			rcv.setFail(false)
			x.createUsers("globex", 2)
			if got := x.sinkStatus("", id)["state"]; got != "dead" {
				t.Fatalf("a dead sink came back by itself: %v", got)
			}
			r := x.must(x.do("POST", "/api/v1/sinks/"+id+"/retry", x.operator, nil), 200).json()
			if r["state"] != "active" || r["failures"] != float64(0) {
				t.Errorf("after retry %v", r)
			}
			waitFor(t, "delivery after retry", lagZero(x, "", id))
			rcv.check("acme", x.head("acme"))
			rcv.check("globex", x.head("globex"))
			apiError(t, x.do("POST", "/api/v1/sinks/nope/retry", x.operator, nil), 404, scimtrail.ENOTFOUND)
		})
	}
}

func TestPullEvents(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{})
			app := x.issue("acme", "app")
			r := x.must(x.do("GET", "/api/v1/tenants/acme/events?after=0", app, nil), 200)
			var page struct {
				Events []struct {
					Tenant   string          `json:"tenant"`
					Seq      int64           `json:"seq"`
					LeafHash string          `json:"leaf_hash"`
					Entry    json.RawMessage `json:"entry"`
				} `json:"events"`
				NextAfter int64 `json:"next_after"`
			}
			json.Unmarshal(r.body, &page)
			head := x.head("acme")
			if len(page.Events) != int(head) || page.NextAfter != head || page.Events[0].Tenant != "acme" || len(page.Events[0].LeafHash) != 64 {
				t.Fatalf("events %s, want %d of acme", r.body, head)
			}
			// A long poll answers when the next entry is committed.
			type result struct {
				r   resp
				err error
			}
			done := make(chan result, 1)
			go func() {
				req, _ := http.NewRequestWithContext(t.Context(), "GET", fmt.Sprintf("%s/api/v1/tenants/acme/events?after=%d&wait=25s", x.srv.URL, head), nil)
				req.Header.Set("Authorization", "Bearer "+app)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				done <- result{r: resp{status: res.StatusCode, body: body}}
			}()
			x.createUsers("acme", 1)
			got := <-done
			if got.err != nil {
				t.Fatal(got.err)
			}
			json.Unmarshal(got.r.body, &page)
			if got.r.status != 200 || len(page.Events) != 1 || page.Events[0].Seq != head+1 {
				t.Fatalf("long poll answered %d %s, want seq %d", got.r.status, got.r.body, head+1)
			}
			// An empty wait answers at once with nothing new.
			r = x.must(x.do("GET", fmt.Sprintf("/api/v1/tenants/acme/events?after=%d", head+1), app, nil), 200)
			if !strings.Contains(string(r.body), `"events":[]`) {
				t.Errorf("no new events: %s", r.body)
			}
			apiError(t, x.do("GET", "/api/v1/tenants/acme/events?wait=soon", app, nil), 400, scimtrail.EINVALID)
			apiError(t, x.do("GET", "/api/v1/tenants/acme/events?after=-1", app, nil), 400, scimtrail.EINVALID)
			apiError(t, x.do("GET", "/api/v1/tenants/acme/events", x.scim["acme"], nil), 403, scimtrail.EFORBIDDEN)
			apiError(t, x.do("GET", "/api/v1/tenants/globex/events", app, nil), 404, scimtrail.ENOTFOUND)
		})
	}
}

var _ = errors.New
var _ = slices.Contains[[]string]
