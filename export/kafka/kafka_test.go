package kafka_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scimtrail/scimtrail/export/kafka"
)

func TestProduceRefusesPrivateBrokers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := kafka.Config{Brokers: c.ListenAddrs(), Topic: "t", Timeout: 2 * time.Second,
		IsPublic: func(netip.Addr) bool { return false }}
	n, err := kafka.Produce(t.Context(), cfg, []kafka.Message{{Key: []byte("acme"), Value: []byte("{}")}})
	if n != 0 || err == nil {
		t.Fatalf("Produce to a refused address: %d, %v", n, err)
	}
	cfg.IsPublic = nil
	n, err = kafka.Produce(t.Context(), cfg, []kafka.Message{{Key: []byte("acme"), Value: []byte("1")}, {Key: []byte("acme"), Value: []byte("2")}})
	if n != 2 || err != nil {
		t.Fatalf("Produce: %d, %v", n, err)
	}
}
