package httpapi_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/export/file"
	"github.com/scimtrail/scimtrail/export/syslog"
	"github.com/scimtrail/scimtrail/internal/testcert"
)

// arrival is one record as a receiver saw it.
type arrival struct {
	Tenant string
	Seq    int64
}

// checkArrivals verifies at-least-once, in-order delivery of seqs 1..head of tenant: a seq
// arrives for the first time only right after its predecessor did, every duplicate is an
// already delivered seq, and the last is head.
func checkArrivals(t *testing.T, got []arrival, tenant string, head int64) {
	t.Helper()
	var top int64
	dups := 0
	for _, a := range got {
		if a.Tenant != tenant {
			continue
		}
		switch {
		case a.Seq == top+1:
			top = a.Seq
		case a.Seq <= top:
			dups++
		default:
			t.Fatalf("seq %d of %s arrived before seq %d: out of order or skipped", a.Seq, tenant, top+1)
		}
	}
	if top != head {
		t.Fatalf("delivered up to seq %d of %s, want %d", top, tenant, head)
	}
	t.Logf("%s: %d entries delivered, %d duplicates", tenant, head, dups)
}

// restartableListener listens on one loopback address and can be killed (listener and
// every open connection closed at once) and started again on the same address.
type restartableListener struct {
	t      *testing.T
	addr   string
	wrap   func(net.Listener) net.Listener
	handle func(net.Conn)

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	onKill func() // closes what wrap started
}

func newRestartableListener(t *testing.T, wrap func(net.Listener) net.Listener, handle func(net.Conn)) *restartableListener {
	l := &restartableListener{t: t, wrap: wrap, handle: handle, conns: map[net.Conn]bool{}}
	l.start("127.0.0.1:0")
	t.Cleanup(l.kill)
	return l
}

func (l *restartableListener) start(addr string) {
	l.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the address was just released; rebinding can race its close
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		l.t.Fatalf("listen on %s: %v", addr, err)
	}
	l.mu.Lock()
	l.addr, l.ln = ln.Addr().String(), ln
	l.mu.Unlock()
	l.t.Cleanup(func() { ln.Close() })
	wrapped := ln
	if l.wrap != nil {
		wrapped = l.wrap(ln)
	}
	go func() {
		for {
			c, err := wrapped.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.conns[c] = true
			l.mu.Unlock()
			go func() {
				defer func() {
					l.mu.Lock()
					delete(l.conns, c)
					l.mu.Unlock()
					c.Close()
				}()
				l.handle(c)
			}()
		}
	}()
}

// kill closes the listener and every connection, as a receiver that dies does.
func (l *restartableListener) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		c.Close()
	}
	if l.onKill != nil {
		l.onKill()
		l.onKill = nil
	}
}

// newHTTPReceiver serves h on a restartableListener; kill closes the server and its
// keep-alive connections too.
func newHTTPReceiver(t *testing.T, h http.Handler) *restartableListener {
	l := &restartableListener{t: t, conns: map[net.Conn]bool{}}
	l.wrap = func(ln net.Listener) net.Listener {
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		l.mu.Lock()
		l.onKill = func() { srv.Close() }
		l.mu.Unlock()
		return closedListener{}
	}
	l.start("127.0.0.1:0")
	t.Cleanup(l.kill)
	return l
}

func (l *restartableListener) restart() { l.start(l.addr) }

// hecReceiver is a Splunk-HEC-shaped endpoint: POST /services/collector/event with
// "Authorization: Splunk <token>", a body of concatenated JSON events, 200
// {"text":"Success","code":0} when it took them all.
type hecReceiver struct {
	token string
	mu    sync.Mutex
	got   []arrival
	auths []string // every Authorization value seen
	bad   []string
}

func (h *hecReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.auths = append(h.auths, r.Header.Get("Authorization"))
	if r.Method != http.MethodPost || r.URL.Path != export.HECPath {
		h.bad = append(h.bad, r.Method+" "+r.URL.Path)
		http.Error(w, `{"text":"The requested URL was not found on this server.","code":404}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Splunk "+h.token {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"text":"Invalid token","code":4}`)
		return
	}
	dec := json.NewDecoder(r.Body)
	var batch []arrival
	for {
		var ev struct {
			Time       float64 `json:"time"`
			Sourcetype string  `json:"sourcetype"`
			Event      struct {
				Tenant   string          `json:"tenant"`
				Seq      int64           `json:"seq"`
				LeafHash string          `json:"leaf_hash"`
				Entry    json.RawMessage `json:"entry"`
			} `json:"event"`
		}
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || ev.Time == 0 || ev.Event.Seq == 0 || len(ev.Event.LeafHash) != 64 || len(ev.Event.Entry) == 0 {
			h.bad = append(h.bad, "malformed event")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"text":"Invalid data format","code":6}`)
			return
		}
		batch = append(batch, arrival{ev.Event.Tenant, ev.Event.Seq})
	}
	h.got = append(h.got, batch...)
	io.WriteString(w, `{"text":"Success","code":0}`)
}

func (h *hecReceiver) snapshot() []arrival {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]arrival(nil), h.got...)
}

func maxSeqOf(got []arrival, tenant string) int64 {
	var m int64
	for _, a := range got {
		if a.Tenant == tenant {
			m = max(m, a.Seq)
		}
	}
	return m
}

// TestSplunkHECDeliveryEndToEnd delivers to a HEC endpoint that is killed and restarted
// mid-stream and through a restarted dispatcher; every entry arrives in order, and the token
// is sealed at rest and never shown, logged or written to the ledger.
func TestSplunkHECDeliveryEndToEnd(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{BatchSize: 7, MaxFailures: 1000})
			const token = "6c3b3f0e-8a4e-4b8e-9f0e-2f6d1c9a7b55"
			hec := &hecReceiver{token: token}
			l := newHTTPReceiver(t, hec)

			r := x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
				map[string]any{"type": "splunk_hec", "url": "http://" + l.addr, "token": token}), 201)
			id := r.json()["id"].(string)
			if strings.Contains(string(r.body), token) {
				t.Fatalf("create echoes the token: %s", r.body)
			}
			x.createUsers("acme", 10)
			waitFor(t, "first deliveries", func() bool { return maxSeqOf(hec.snapshot(), "acme") >= 5 })

			l.kill()
			x.createUsers("acme", 10)
			waitFor(t, "the failure to show", func() bool {
				st := x.sinkStatus("acme", id)
				return st["last_error"] != "" && st["lag"].(float64) > 0
			})
			l.restart()
			waitFor(t, "catch-up after the receiver restarted", lagZero(x, "acme", id))

			x.stop()
			x.createUsers("acme", 5)
			x.start()
			waitFor(t, "catch-up after the dispatcher restarted", lagZero(x, "acme", id))
			checkArrivals(t, hec.snapshot(), "acme", x.head("acme"))
			if maxSeqOf(hec.snapshot(), "globex") != 0 {
				t.Error("a sink of acme delivered globex's entries")
			}
			hec.mu.Lock()
			if len(hec.bad) > 0 {
				t.Errorf("malformed requests: %v", hec.bad)
			}
			for _, a := range hec.auths {
				if a != "Splunk "+token {
					t.Errorf("Authorization %q, want Splunk <token>", a)
				}
			}
			hec.mu.Unlock()

			// The token: not in the API, the ledger, the logs, nor in clear at rest.
			for _, path := range []string{"/api/v1/tenants/acme/sinks/" + id, "/api/v1/tenants/acme/sinks", "/api/v1/tenants/acme/audit?limit=1000"} {
				if body := x.must(x.do("GET", path, x.operator, nil), 200).body; strings.Contains(string(body), token) {
					t.Errorf("GET %s shows the token", path)
				}
			}
			if strings.Contains(x.logs.String(), token) {
				t.Error("the token is in the logs")
			}
			x.store.View(t.Context(), func(tx scimtrail.ReadTx) error {
				s, err := tx.Sink(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Secret) == 0 || strings.Contains(string(s.Secret), token) || strings.Contains(string(s.Config), token) {
					t.Error("the token is stored in clear")
				}
				return nil
			})
			apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks/"+id+"/rotate", x.operator, map[string]any{}), 400, scimtrail.EINVALID)
		})
	}
}

// closedListener is what restartableListener's own accept loop gets when an http.Server
// serves the real listener: it accepts nothing.
type closedListener struct{}

func (closedListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (closedListener) Close() error              { return nil }
func (closedListener) Addr() net.Addr            { return &net.TCPAddr{} }

func TestSplunkHECWrongToken(t *testing.T) {
	x := newExportEnv(t, backends()[0], true, export.Options{MaxFailures: 2})
	hec := &hecReceiver{token: "right-token"}
	l := newHTTPReceiver(t, hec)
	id := x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
		map[string]any{"type": "splunk_hec", "url": "http://" + l.addr + export.HECPath, "token": "wrong-token", "format": "ocsf"}), 201).json()["id"].(string)
	waitFor(t, "the sink to go dead", func() bool { return x.sinkStatus("acme", id)["state"] == "dead" })
	st := x.sinkStatus("acme", id)
	if e, _ := st["last_error"].(string); !strings.Contains(e, "403") || !strings.Contains(e, "Invalid token") || strings.Contains(e, "wrong-token") {
		t.Errorf("last_error %q: want the 403 and HEC's text, without the token", e)
	}
	if len(hec.snapshot()) != 0 {
		t.Error("a request with the wrong token was taken")
	}
	for name, body := range map[string]any{
		"NoToken":      map[string]any{"type": "splunk_hec", "url": "http://" + l.addr},
		"SpaceInToken": map[string]any{"type": "splunk_hec", "url": "http://" + l.addr, "token": "a b"},
		"NoURL":        map[string]any{"type": "splunk_hec", "token": "t"},
		"SetFormat":    map[string]any{"type": "splunk_hec", "url": "http://" + l.addr, "token": "t", "format": "set"},
		"Secret":       map[string]any{"type": "splunk_hec", "url": "http://" + l.addr, "token": "t", "secret": testSecret},
	} {
		t.Run(name, func(t *testing.T) {
			apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, body), 400, scimtrail.EINVALID)
		})
	}
}

// syslogReceiver is a TLS syslog listener: it parses RFC 5425 frames of RFC 5424 messages
// and closes its side when the sender closes, as rsyslog and syslog-ng do.
type syslogReceiver struct {
	*restartableListener
	mu   sync.Mutex
	got  []arrival
	msgs []syslog.Parsed
	bad  []string
}

func newSyslogReceiver(t *testing.T) (*syslogReceiver, string) {
	cert, caPEM := selfSigned(t, "syslog.test")
	r := &syslogReceiver{}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	r.restartableListener = newRestartableListener(t, func(ln net.Listener) net.Listener { return tls.NewListener(ln, cfg) }, r.handle)
	return r, caPEM
}

func (r *syslogReceiver) handle(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		frame, err := syslog.ReadFrame(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				r.mu.Lock()
				r.bad = append(r.bad, err.Error())
				r.mu.Unlock()
			}
			return
		}
		p, err := syslog.Parse(frame)
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, err.Error())
		} else {
			seq, _ := strconv.ParseInt(p.Params["seq"], 10, 64)
			r.got = append(r.got, arrival{p.Params["tenant"], seq})
			r.msgs = append(r.msgs, p)
		}
		r.mu.Unlock()
	}
}

func (r *syslogReceiver) snapshot() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.got...)
}

// selfSigned returns a certificate for name and 127.0.0.1, and its PEM as the CA to trust.
func selfSigned(t *testing.T, name string) (tls.Certificate, string) {
	return testcert.SelfSigned(t, name)
}

// TestSyslogTLSDeliveryEndToEnd delivers RFC 5424 and CEF over TLS to a listener that is
// killed between batches and restarted: every entry arrives in order, resent from the cursor.
func TestSyslogTLSDeliveryEndToEnd(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{BatchSize: 7, MaxFailures: 1000})
			plain, caPEM := newSyslogReceiver(t)
			cef, _ := newSyslogReceiver(t)
			cef.kill() // same CA for both: serve cef with plain's certificate
			cef.wrap = plain.wrap
			cef.restart()
			ids := map[*syslogReceiver]string{}
			for rcv, format := range map[*syslogReceiver]string{plain: "rfc5424", cef: "cef"} {
				ids[rcv] = x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "syslog",
					"address": rcv.addr, "format": format, "tls": map[string]any{"ca_pem": caPEM, "server_name": "syslog.test"}}), 201).json()["id"].(string)
			}
			x.createUsers("acme", 10)
			waitFor(t, "first deliveries", func() bool { return maxSeqOf(plain.snapshot(), "acme") >= 5 })
			// Syslog has no application-level acknowledgement: a receiver that dies while a
			// batch is in flight closes the connection exactly as one that took the batch
			// does, so that batch can be lost (docs/sinks.md). The kill therefore comes
			// between batches; entries written while the receiver is down must all arrive.
			waitFor(t, "an idle sink", lagZero(x, "acme", ids[plain]))
			plain.kill()
			x.createUsers("acme", 10)
			waitFor(t, "the failure to show", func() bool {
				st := x.sinkStatus("acme", ids[plain])
				return st["last_error"] != "" && st["lag"].(float64) > 0
			})
			plain.restart()
			x.stop()
			x.createUsers("acme", 3)
			x.start()
			for _, rcv := range []*syslogReceiver{plain, cef} {
				waitFor(t, "catch-up", lagZero(x, "acme", ids[rcv]))
				checkArrivals(t, rcv.snapshot(), "acme", x.head("acme"))
				rcv.mu.Lock()
				if len(rcv.bad) > 0 {
					t.Errorf("unparseable frames: %v", rcv.bad)
				}
				rcv.mu.Unlock()
			}
			plain.mu.Lock()
			m := plain.msgs[0]
			plain.mu.Unlock()
			var rec struct {
				Seq      int64           `json:"seq"`
				LeafHash string          `json:"leaf_hash"`
				Entry    json.RawMessage `json:"entry"`
			}
			if err := json.Unmarshal(m.Msg, &rec); err != nil || rec.Seq != 1 || rec.LeafHash != m.Params["leaf_hash"] || m.Priority != 13*8+6 || m.AppName != "scimtrail" || m.MsgID != "tenant.created" {
				t.Errorf("first rfc5424 message %+v (%s): want seq 1, its leaf hash in SD, <110>, MSGID tenant.created", m, m.Msg)
			}
			cef.mu.Lock()
			c := cef.msgs[len(cef.msgs)-1]
			cef.mu.Unlock()
			if !strings.HasPrefix(string(c.Msg), "CEF:0|scimtrail|scimtrail|1|user.created|user.created|3|") ||
				!strings.Contains(string(c.Msg), "cs1Label=tenant cs1=acme") || !strings.Contains(string(c.Msg), "cn1="+c.Params["seq"]) {
				t.Errorf("CEF message %q", c.Msg)
			}
		})
	}
}

func TestSyslogValidation(t *testing.T) {
	x := newExportEnv(t, backends()[0], false, export.Options{})
	x.stop()
	for name, body := range map[string]any{
		"NoAddress":  map[string]any{"type": "syslog"},
		"NoPort":     map[string]any{"type": "syslog", "address": "93.184.215.14"},
		"URL":        map[string]any{"type": "syslog", "url": "https://93.184.215.14/", "address": "93.184.215.14:6514"},
		"Loopback":   map[string]any{"type": "syslog", "address": "127.0.0.1:6514"},
		"Private":    map[string]any{"type": "syslog", "address": "10.0.0.1:6514"},
		"BadCA":      map[string]any{"type": "syslog", "address": "93.184.215.14:6514", "tls": map[string]any{"ca_pem": "nope"}},
		"BadFormat":  map[string]any{"type": "syslog", "address": "93.184.215.14:6514", "format": "ocsf"},
		"WebhookTLS": map[string]any{"type": "webhook", "url": "https://93.184.215.14/", "tls": map[string]any{}},
	} {
		t.Run(name, func(t *testing.T) {
			apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, body), 400, scimtrail.EINVALID)
		})
	}
	x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "syslog", "address": "93.184.215.14:6514"}), 201)
}

// TestFileSinkEndToEnd writes JSON Lines and Parquet (Security Lake layout) through a
// dispatcher that is restarted mid-stream, reads everything back (Parquet with parquet-go)
// and checks every entry is there, in order, one OCSF class per Parquet file.
func TestFileSinkEndToEnd(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{BatchSize: 7})
			ids := map[string]string{}
			for _, format := range []string{"jsonl", "parquet"} {
				ids[format] = x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
					map[string]any{"type": "file", "dir": "acme/" + format, "format": format}), 201).json()["id"].(string)
			}
			x.createUsers("acme", 10)
			x.stop()
			x.createUsers("acme", 6)
			x.start()
			for _, id := range ids {
				waitFor(t, "catch-up", lagZero(x, "acme", id))
			}
			head := x.head("acme")

			// JSON Lines: files named by seq range, read in name order.
			var lines []arrival
			jsonl, _ := filepath.Glob(filepath.Join(x.files, "acme/jsonl/tenant=acme/eventDay=*/*.jsonl"))
			slices.Sort(jsonl)
			for _, f := range jsonl {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
					var r export.Record
					if err := json.Unmarshal([]byte(l), &r); err != nil || len(r.LeafHash) != 64 {
						t.Fatalf("%s: bad line %q: %v", f, l, err)
					}
					lines = append(lines, arrival{r.Tenant, r.Seq})
				}
			}
			checkArrivals(t, lines, "acme", head)

			// Parquet: one class per file, partitioned region=/accountId=/eventDay=.
			var rows []arrival
			var pq []string
			filepath.WalkDir(filepath.Join(x.files, "acme/parquet"), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					pq = append(pq, p)
				}
				return err
			})
			if len(pq) == 0 {
				t.Fatal("no parquet files")
			}
			for _, p := range pq {
				rel, _ := filepath.Rel(filepath.Join(x.files, "acme/parquet"), p)
				parts := strings.Split(filepath.ToSlash(rel), "/")
				if len(parts) != 6 || parts[0] != "ext" || !strings.HasPrefix(parts[1], "scimtrail-") || parts[2] != "region=global" ||
					parts[3] != "accountId=acme" || !strings.HasPrefix(parts[4], "eventDay=") || !strings.HasSuffix(parts[5], ".parquet") {
					t.Fatalf("parquet file %s is not in the Security Lake layout", rel)
				}
				got, err := parquet.ReadFile[file.Row](p)
				if err != nil {
					t.Fatalf("read %s: %v", rel, err)
				}
				for _, r := range got {
					if "scimtrail-"+strconv.Itoa(int(r.ClassUID)) != parts[1] {
						t.Errorf("%s holds a row of class %d", rel, r.ClassUID)
					}
					if r.Version != "1.8.0" || r.TypeUID != int64(r.ClassUID)*100+int64(r.ActivityID) || len(r.LeafHash) != 64 || r.Entry == "" {
						t.Errorf("row %+v", r)
					}
					rows = append(rows, arrival{r.Tenant, r.Seq})
				}
			}
			// Rows of one batch are split by class, so order across files is by seq.
			slices.SortStableFunc(rows, func(a, b arrival) int { return int(a.Seq - b.Seq) })
			checkArrivals(t, rows, "acme", head)
		})
	}
}

func TestFileSinkValidation(t *testing.T) {
	x := newExportEnv(t, backends()[0], false, export.Options{})
	x.stop()
	for name, dir := range map[string]string{"Empty": "", "Parent": "../x", "Absolute": "/etc", "Sneaky": "a/../../b", "Dot": "."} {
		t.Run(name, func(t *testing.T) {
			apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "file", "dir": dir}), 400, scimtrail.EINVALID)
		})
	}
	apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "file", "dir": "a", "format": "ocsf"}), 400, scimtrail.EINVALID)
	x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "file", "dir": "a/b"}), 201)
}
