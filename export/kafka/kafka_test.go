package kafka_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scimtrail/scimtrail/export/kafka"
	"github.com/scimtrail/scimtrail/internal/testcert"
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

// TestProduceTLSAndSASL produces to a cluster that speaks only TLS and SCRAM-SHA-512: the
// right CA and password deliver; a wrong password, an untrusted certificate or plaintext
// deliver nothing.
func TestProduceTLSAndSASL(t *testing.T) {
	cert, caPEM := testcert.SelfSigned(t, "kafka.test")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(caPEM))
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "scimtrail", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := []kafka.Message{{Key: []byte("acme"), Value: []byte("1")}}
	for _, tc := range []struct {
		name string
		tls  *tls.Config
		pass string
		want int
	}{
		{"Right", &tls.Config{RootCAs: roots}, "pw", 1},
		{"WrongPassword", &tls.Config{RootCAs: roots}, "nope", 0},
		{"UntrustedCertificate", &tls.Config{}, "pw", 0},
		{"Plaintext", nil, "pw", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kafka.Config{Brokers: c.ListenAddrs(), Topic: "t", Timeout: 3 * time.Second, TLS: tc.tls,
				SASL: kafka.SASLMechanism("SCRAM-SHA-512", "scimtrail", tc.pass)}
			n, err := kafka.Produce(t.Context(), cfg, msgs)
			if n != tc.want || (tc.want == 0) != (err != nil) {
				t.Fatalf("Produce = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	if kafka.SASLMechanism("GSSAPI", "u", "p") != nil {
		t.Error("an unknown mechanism has a franz-go mechanism")
	}
}
