package httpapi_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scimtrail/scimtrail/export"
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
