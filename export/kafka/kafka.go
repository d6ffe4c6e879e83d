// Package kafka produces records to an Apache Kafka topic with franz-go: synchronously, with
// acks=all and the idempotent producer, so that a batch counts as delivered only when every
// record of it is acknowledged by all in-sync replicas.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASLMechanism returns the franz-go mechanism of a name (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512), or nil for an unknown one.
func SASLMechanism(name, user, pass string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	return nil
}

// Config is where records go.
type Config struct {
	Brokers []string // seed brokers, host:port
	Topic   string
	// IsPublic decides whether an address may be dialled; nil allows every address. It is
	// checked on the resolved address at connect time, for seed brokers and for the brokers
	// the cluster advertises alike.
	IsPublic func(netip.Addr) bool
	// Timeout bounds the delivery of one batch; 0: 30s.
	Timeout time.Duration
	// TLS, when set, connects to every broker over TLS (an empty ServerName is each
	// broker's host). SASL, when set, authenticates each connection.
	TLS  *tls.Config
	SASL sasl.Mechanism
}

// Message is one record: the key chooses the partition (records of one key keep their
// order), the value is the payload.
type Message struct {
	Key, Value []byte
}

// Produce sends msgs to the topic and waits for every acknowledgement. It returns how many
// messages, from the first, were acknowledged: the default partitioner hashes the key, so
// messages of one key land on one partition in order, and the idempotent producer does not
// let a later one through after an earlier one failed.
func Produce(ctx context.Context, cfg Config, msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if cfg.IsPublic != nil {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !cfg.IsPublic(ap.Addr()) {
				return fmt.Errorf("sink address %s is not public; refused (--allow-private-sinks)", address)
			}
			return nil
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent writes are on by default with acks=all
		kgo.Dialer(dial(dialer, cfg.TLS)),
		kgo.RecordDeliveryTimeout(timeout),
		kgo.ProduceRequestTimeout(timeout),
		kgo.ClientID("scimtrail-export"),
	}
	if cfg.SASL != nil {
		opts = append(opts, kgo.SASL(cfg.SASL))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Key: m.Key, Value: m.Value}
	}
	results := cl.ProduceSync(ctx, recs...)
	// ProduceSync answers in the order given; results are matched to records by identity
	// all the same, so that the count never depends on that.
	failed := map[*kgo.Record]error{}
	for _, r := range results {
		if r.Err != nil {
			failed[r.Record] = r.Err
		}
	}
	for i, r := range recs {
		if err, ok := failed[r]; ok {
			return i, fmt.Errorf("kafka topic %s: record %d of %d not acknowledged: %w", cfg.Topic, i+1, len(recs), err)
		}
	}
	if len(results) != len(recs) {
		return 0, errors.New("kafka: fewer results than records")
	}
	return len(recs), nil
}

// dial connects with dialer (which checks the address) and, with a TLS config, runs the
// handshake over that connection: franz-go takes a dialer or a TLS config, not both. An
// empty ServerName is the broker's host, as franz-go does it.
func dial(dialer *net.Dialer, cfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	if cfg == nil {
		return dialer.DialContext
	}
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			if c.ServerName, _, err = net.SplitHostPort(host); err != nil {
				c.ServerName = host
			}
		}
		tc := tls.Client(conn, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	}
}
