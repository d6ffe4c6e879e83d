package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/export/webhook"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/postgres/pgtest"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// BenchmarkWebhookDeliveryLatency measures how long a provisioning change takes to reach the
// vendor's app: SCIM creates at a steady rate through the real HTTP API, a webhook sink
// (native format) to a Standard Webhooks receiver on loopback that verifies each signature,
// and the dispatcher and checkpointer as `serve` runs them (1s poll, 1s checkpoints, which
// add checkpoint records to the stream). Latency is receipt time minus the entry's time,
// which the write path stamps before the commit, so commit time is included. Each
// iteration is one run of latencyRunFor; use -benchtime=1x.
//
//	go test ./export/ -run '^$' -bench WebhookDeliveryLatency -benchtime=1x
//	scripts/with-postgres go test ./export/ -run '^$' -bench WebhookDeliveryLatency -benchtime=1x
func BenchmarkWebhookDeliveryLatency(b *testing.B) {
	type backend struct {
		name string
		open func(b *testing.B) scimtrail.Store
	}
	backends := []backend{{"sqlite", func(b *testing.B) scimtrail.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "scimtrail.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}}}
	if pgtest.DSN() != "" {
		backends = append(backends, backend{"postgres", func(b *testing.B) scimtrail.Store {
			db, err := postgres.Open(context.Background(), pgtest.Schema(b, "latency"), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}})
	}
	for _, be := range backends {
		for _, rate := range []int{50, 200} {
			b.Run(fmt.Sprintf("%s/rate=%d", be.name, rate), func(b *testing.B) {
				for range b.N {
					lat := latencyRun(b, be.open(b), rate)
					slices.Sort(lat)
					pct := func(p float64) float64 {
						return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
					}
					b.ReportMetric(pct(0.50), "p50-ms")
					b.ReportMetric(pct(0.99), "p99-ms")
					b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
					b.ReportMetric(float64(len(lat)), "entries")
				}
			})
		}
	}
}

// latencyRunFor is how long each run writes.
const latencyRunFor = 15 * time.Second

// latencyRun writes rate creates a second for latencyRunFor and returns the delivery latency
// of each.
func latencyRun(b *testing.B, store scimtrail.Store, rate int) []time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ringText, err := ledger.NewKeyRing("scimtrail.bench")
	if err != nil {
		b.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(ringText)
	if err != nil {
		b.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, service.SinkKeySize)
	svc := service.New(store, service.Options{Keys: ring, Sinks: service.SinkOptions{Key: key, AllowPrivate: true}})
	api := httptest.NewServer(httpapi.NewHandler(svc, httpapi.Options{Logger: slog.New(slog.DiscardHandler)}))
	defer api.Close()
	origin := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "bench"}, Channel: scimtrail.ChannelSystem}
	if _, _, err := svc.CreateTenant(ctx, origin, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	tok, _, err := svc.IssueToken(ctx, origin, "acme", scimtrail.TokenSCIM, "bench", 0)
	if err != nil {
		b.Fatal(err)
	}

	// The receiver: verify, then note when each entry arrived.
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var mu sync.Mutex
	arrived := map[int64]time.Time{}
	entryTime := map[int64]time.Time{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		if err := webhook.Verify(secret, r.Header, body, now); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m struct {
			Type string `json:"type"`
			Data struct {
				Seq   int64 `json:"seq"`
				Entry struct {
					Time time.Time `json:"time"`
				} `json:"entry"`
			} `json:"data"`
		}
		json.Unmarshal(body, &m)
		if m.Type == "user.created" {
			mu.Lock()
			if _, dup := arrived[m.Data.Seq]; !dup {
				arrived[m.Data.Seq], entryTime[m.Data.Seq] = now, m.Data.Entry.Time
			}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	if _, _, err := svc.CreateSink(ctx, origin, "acme", service.SinkRequest{Type: service.SinkWebhook, URL: rcv.URL, Secret: secret}); err != nil {
		b.Fatal(err)
	}
	d := export.New(svc, export.Options{Logger: slog.New(slog.DiscardHandler), AllowPrivate: true, Checkpoint: svc.LatestCheckpointRecord})
	dispatched := make(chan struct{})
	go func() { d.Run(ctx); close(dispatched) }()
	checkpointed := make(chan struct{})
	go func() { svc.RunCheckpointer(ctx, time.Second, slog.New(slog.DiscardHandler)); close(checkpointed) }()
	defer func() { cancel(); <-dispatched; <-checkpointed }()

	// Steady rate: one create every 1/rate, each on its own goroutine (at most 32 in flight)
	// so that a slow response does not hold the next one back.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var failed sync.Map
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	b.ResetTimer()
	end := time.Now().Add(latencyRunFor)
	sent := 0
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		sem <- struct{}{}
		sent++
		wg.Go(func() {
			defer func() { <-sem }()
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@example.com"}`, i)
			req, _ := http.NewRequest(http.MethodPost, api.URL+"/scim/v2/acme/Users", bytes.NewReader([]byte(body)))
			req.Header.Set("Authorization", "Bearer "+tok.Secret)
			req.Header.Set("Content-Type", "application/scim+json")
			resp, err := client.Do(req)
			if err != nil {
				failed.Store(i, err.Error())
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				failed.Store(i, resp.Status)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	failed.Range(func(k, v any) bool { b.Fatalf("create %v: %v", k, v); return false })
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n == sent {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d creates delivered after 60s", n, sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	lat := make([]time.Duration, 0, len(arrived))
	for seq, at := range arrived {
		lat = append(lat, at.Sub(entryTime[seq]))
	}
	return lat
}
