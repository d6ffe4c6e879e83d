package httpapi_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	exportkafka "github.com/scimtrail/scimtrail/export/kafka"
)

// kafkaConsumer reads a topic from the start in the background and records what arrived.
type kafkaConsumer struct {
	mu   sync.Mutex
	got  []arrival
	bad  []string
	stop func()
}

func newKafkaConsumer(t *testing.T, brokers []string, topic string) *kafkaConsumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c := &kafkaConsumer{}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				var rec export.Record
				c.mu.Lock()
				defer c.mu.Unlock()
				if err := json.Unmarshal(r.Value, &rec); err != nil || string(r.Key) != rec.Tenant || len(rec.Entry) == 0 || rec.LeafHash == "" {
					c.bad = append(c.bad, string(r.Key)+" "+string(r.Value))
					return
				}
				c.got = append(c.got, arrival{Tenant: rec.Tenant, Seq: rec.Seq})
			})
		}
	}()
	c.stop = func() { cancel(); <-done; cl.Close() }
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *kafkaConsumer) snapshot() []arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]arrival(nil), c.got...)
}

// TestKafkaDeliveryEndToEnd produces a tenant's ledger to a kfake cluster through a
// dispatcher stopped and restarted mid-stream; a consumer sees every seq, in order, keyed by
// tenant (duplicates allowed, nothing skipped).
func TestKafkaDeliveryEndToEnd(t *testing.T) {
	const topic = "scimtrail.audit"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()

	x := newExportEnv(t, backends()[0], true, export.Options{BatchSize: 3, MaxFailures: 1000})
	r := x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
		map[string]any{"type": "kafka", "brokers": brokers, "topic": topic}), 201).json()
	id := r["id"].(string)
	if r["topic"] != topic || r["format"] != "native" {
		t.Errorf("created sink: %v", r)
	}
	c := newKafkaConsumer(t, brokers, topic)

	x.createUsers("acme", 30)
	x.createUsers("globex", 3)
	waitFor(t, "first deliveries", func() bool { return maxSeqOf(c.snapshot(), "acme") >= 5 })
	x.stop() // mid-stream: the dispatcher is cut off between (or inside) batches
	x.createUsers("acme", 5)
	x.start()
	waitFor(t, "catch-up after the dispatcher restarted", lagZero(x, "acme", id))
	head := x.head("acme")
	waitFor(t, "the consumer to read the head", func() bool { return maxSeqOf(c.snapshot(), "acme") >= head })
	checkArrivals(t, c.snapshot(), "acme", head)
	if maxSeqOf(c.snapshot(), "globex") != 0 {
		t.Error("a sink of acme delivered globex's entries")
	}
	c.mu.Lock()
	if len(c.bad) > 0 {
		t.Errorf("malformed records: %q", c.bad)
	}
	c.mu.Unlock()
}

// TestKafkaTLSAndSASLEndToEnd delivers to a kfake cluster that speaks only TLS and takes
// only SCRAM-SHA-256: with the right CA and password every entry arrives, and the password
// is in neither the API nor the ledger. (A wrong password: export/kafka's own test.)
func TestKafkaTLSAndSASLEndToEnd(t *testing.T) {
	const topic = "scimtrail.audit"
	cert, caPEM := selfSigned(t, "kafka.test")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "scimtrail", "correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{BatchSize: 5, MaxFailures: 1000})
			for name, body := range map[string]map[string]any{
				"SASLWithoutTLS": {"sasl": map[string]any{"mechanism": "SCRAM-SHA-256", "username": "u", "password": "p"}},
				"BadMechanism":   {"tls": map[string]any{}, "sasl": map[string]any{"mechanism": "GSSAPI", "username": "u", "password": "p"}},
				"NoPassword":     {"tls": map[string]any{}, "sasl": map[string]any{"mechanism": "PLAIN", "username": "u"}},
				"BadCA":          {"tls": map[string]any{"ca_pem": "not a certificate"}},
			} {
				body["type"], body["brokers"], body["topic"] = "kafka", brokers, topic
				t.Run(name, func(t *testing.T) {
					apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, body), 400, scimtrail.EINVALID)
				})
			}
			apiError(t, x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "webhook", "url": "http://127.0.0.1:9/",
				"sasl": map[string]any{"mechanism": "PLAIN", "username": "u", "password": "p"}}), 400, scimtrail.EINVALID)

			sink := func(password string) string {
				r := x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "kafka", "brokers": brokers, "topic": topic,
					"tls":  map[string]any{"ca_pem": caPEM},
					"sasl": map[string]any{"mechanism": "SCRAM-SHA-256", "username": "scimtrail", "password": password}}), 201)
				if strings.Contains(string(r.body), password) {
					t.Errorf("the created sink shows the password: %s", r.body)
				}
				return r.json()["id"].(string)
			}
			good := sink("correct horse battery")
			x.createUsers("acme", 7)
			waitFor(t, "delivery over TLS with SCRAM", lagZero(x, "acme", good))
			st := x.must(x.do("GET", "/api/v1/tenants/acme/sinks/"+good, x.operator, nil), 200)
			if strings.Contains(string(st.body), "horse") || !strings.Contains(string(st.body), `"mechanism":"SCRAM-SHA-256"`) {
				t.Errorf("sink status %s: want the mechanism, never the password", st.body)
			}
			audit := x.must(x.do("GET", "/api/v1/tenants/acme/audit?limit=1000", x.operator, nil), 200)
			if strings.Contains(string(audit.body), "horse") || !strings.Contains(string(audit.body), `"new":"scimtrail","path":"sasl.username"`) {
				t.Errorf("the ledger shows the password, or not the SASL user")
			}

			// A consumer with the same credentials reads every entry, in order.
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true}),
				kgo.SASL(exportkafka.SASLMechanism("SCRAM-SHA-256", "scimtrail", "correct horse battery")))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var got []arrival
			head := x.head("acme")
			deadline := time.Now().Add(30 * time.Second)
			for maxSeqOf(got, "acme") < head && time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					var rec export.Record
					if json.Unmarshal(r.Value, &rec) == nil && rec.Tenant == "acme" && rec.Seq > 0 {
						got = append(got, arrival{Tenant: rec.Tenant, Seq: rec.Seq})
					}
				})
				cancel()
			}
			checkArrivals(t, got, "acme", head)
		})
	}
}
