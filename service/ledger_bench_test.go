package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/postgres/pgtest"
	"github.com/scimtrail/scimtrail/sqlite"
)

// BenchmarkAppendSQLite measures durable raw appends through the real write path on SQLite:
// appendEntries (encode, hash, compact range, tiles) and one commit per batch.
func BenchmarkAppendSQLite(b *testing.B) {
	for _, batch := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: "tok_bench", IP: "10.0.0.1"}, Channel: scimtrail.ChannelSCIM}
			at := time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC)
			entries := make([]scimtrail.Entry, batch)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range entries {
					entries[j] = scimtrail.Entry{Action: "user.created",
						Target:  &scimtrail.Target{Type: "User", ID: fmt.Sprintf("u-%d-%d", i, j), Display: "alice@example.com"},
						Changes: []scimtrail.Change{{Path: "active", New: true}}}
				}
				err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
					_, err := appendEntries(ctx, tx, "acme", o, at, entries...)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkAppendSQLiteGrouped measures durable appends as the server makes them: many
// concurrent commands of one entry each, which SQLite's writer groups into one transaction
// (each command in its own SAVEPOINT) and one commit.
func BenchmarkAppendSQLiteGrouped(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: "tok_bench", IP: "10.0.0.1"}, Channel: scimtrail.ChannelSCIM}
	at := time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC)
	var n atomic.Int64
	b.SetParallelism(128) // 256 concurrent commands on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := scimtrail.Entry{Action: "user.created",
				Target:  &scimtrail.Target{Type: "User", ID: fmt.Sprintf("u-%d", n.Add(1)), Display: "alice@example.com"},
				Changes: []scimtrail.Change{{Path: "active", New: true}}}
			err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
				_, err := appendEntries(ctx, tx, "acme", o, at, e)
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkVerifyDBSource measures verifying a log read back from the database, as
// `audit verify --db` does: "Entries" through the general Entries read (every column decoded
// into StoredEntry, pages of 4096), "LogSource" through the verifier's own read path
// (ScanEntryHashes, raw bytes copied into a reused page, the next page read by a second
// goroutine while this one is hashed, each leaf also checked against its level-0 tile).
// PostgreSQL runs too when SCIMTRAIL_TEST_POSTGRES is set (scripts/with-postgres).
// SCIMTRAIL_BENCH_ENTRIES changes the log's size (default 200,000).
func BenchmarkVerifyDBSource(b *testing.B) {
	n := 200_000
	if v := os.Getenv("SCIMTRAIL_BENCH_ENTRIES"); v != "" {
		fmt.Sscan(v, &n)
	}
	type backend struct {
		name string
		open func(b *testing.B) scimtrail.Store
	}
	backends := []backend{{"SQLite", func(b *testing.B) scimtrail.Store {
		// As `audit verify --db` opens it: reads map the file.
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{MapReads: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}}}
	if pgtest.DSN() != "" {
		backends = append(backends, backend{"PostgreSQL", func(b *testing.B) scimtrail.Store {
			dsn := pgtest.Schema(b, "bench")
			db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}})
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			db := be.open(b)
			o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: "tok_bench"}, Channel: scimtrail.ChannelSCIM}
			entries := make([]scimtrail.Entry, 1000)
			for i := 0; i < n/len(entries); i++ {
				for j := range entries {
					entries[j] = scimtrail.Entry{Action: "user.created", Target: &scimtrail.Target{Type: "User", ID: fmt.Sprintf("u-%d-%d", i, j), Display: "alice@example.com"},
						Changes: []scimtrail.Change{{Path: "active", New: true}}}
				}
				if err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
					_, err := appendEntries(ctx, tx, "acme", o, time.Unix(0, 0), entries...)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(n / len(entries) * len(entries))
			verify := func(b *testing.B, src ledger.EntrySource) {
				rep := ledger.Verify(src, nil, nil, ledger.Origin("bench", "acme"), nil)
				if !rep.OK || rep.Entries != want {
					b.Fatalf("verify: %+v", rep)
				}
			}
			b.Run("Entries", func(b *testing.B) {
				cpu := processCPU(b)
				for b.Loop() {
					verify(b, &pagedSource{ctx: ctx, db: db})
				}
				b.ReportMetric(float64(int64(b.N)*want)/b.Elapsed().Seconds(), "entries/s")
				reportCPU(b, cpu, int64(b.N)*want, "cpu-ns/entry")
			})
			b.Run("LogSource", func(b *testing.B) {
				cpu := processCPU(b)
				for b.Loop() {
					src := NewLogSource(ctx, db, "acme", 0, 0)
					verify(b, src)
					src.Close()
				}
				b.ReportMetric(float64(int64(b.N)*want)/b.Elapsed().Seconds(), "entries/s")
				reportCPU(b, cpu, int64(b.N)*want, "cpu-ns/entry")
			})
		})
	}
}

type pagedSource struct {
	ctx   context.Context
	db    scimtrail.Store
	page  []scimtrail.StoredEntry
	after int64
}

func (p *pagedSource) Next() (ledger.Record, error) {
	if len(p.page) == 0 {
		err := p.db.View(p.ctx, func(tx scimtrail.ReadTx) error {
			var err error
			p.page, err = tx.Entries(p.ctx, "acme", p.after, 4096, scimtrail.EntryFilter{})
			return err
		})
		if err != nil {
			return ledger.Record{}, err
		}
		if len(p.page) == 0 {
			return ledger.Record{}, io.EOF
		}
	}
	e := p.page[0]
	p.page, p.after = p.page[1:], e.Seq
	return ledger.Record{Seq: e.Seq, Body: e.Body, LeafHash: e.LeafHash}, nil
}
