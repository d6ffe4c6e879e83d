package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

// buildLargeLog writes a log of exactly n entries for tenant acme through the real write
// path, fast: tenant.created and then app events recorded in batches of
// service.MaxEventsPerRequest (one transaction each). Entry seq k ≥ 2 is an app event whose
// target id is "doc-<k>". It signs checkpoints at n/2 and at n with a new key ring stored
// in keyFile.
func buildLargeLog(tb testing.TB, dsn, keyFile string, n int) {
	tb.Helper()
	ctx := context.Background()
	svc, closeStore := signingService(tb, dsn, keyFile)
	defer closeStore()
	sys := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
	if _, _, err := svc.CreateTenant(ctx, sys, "acme", "Acme"); err != nil {
		tb.Fatal(err)
	}
	app := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorApp, ID: "scale-app"}, Channel: scimtrail.ChannelAppAPI}
	occurred := time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC).Format(time.RFC3339)
	seq := 1
	half := n / 2
	for seq < n {
		size := min(service.MaxEventsPerRequest, n-seq)
		if seq < half && seq+size > half {
			size = half - seq // stop at n/2 to sign a checkpoint there
		}
		events := make([]service.AppEvent, size)
		for i := range events {
			events[i] = service.AppEvent{Action: "app.document.shared", OccurredAt: occurred,
				Actor:   service.AppActor{ID: "alice@example.com"},
				Targets: []service.AppTarget{{Type: "document", ID: fmt.Sprintf("doc-%d", seq+i+1)}}}
		}
		if _, err := svc.RecordEvents(ctx, app, "acme", events, true, ""); err != nil {
			tb.Fatalf("record events after seq %d: %v", seq, err)
		}
		seq += size
		if seq == half {
			if cp, err := svc.Checkpoint(ctx, "acme"); err != nil || cp.Size != int64(half) {
				tb.Fatalf("checkpoint: size %d, %v; want %d", cp.Size, err, half)
			}
		}
	}
	if cp, err := svc.Checkpoint(ctx, "acme"); err != nil || cp.Size != int64(n) {
		tb.Fatalf("checkpoint: size %d, %v; want %d", cp.Size, err, n)
	}
}

// TestAuditVerifyCatchesTamperingAtScale runs the tamper cases of
// TestAuditVerifyCatchesTampering against one large log per backend — 2,000 entries under
// -race (make test), 20,000 without, 100,000 under soak (SCIMTRAIL_SOAK=1; SCIMTRAIL_TAMPER_ENTRIES for any other size) — with
// the tampering in the middle and at the end. The log is built once; after each case the
// rows it touched are restored from a copy of the untouched tables, and the untouched log is
// checked to verify again, so every case starts from the same log.
func TestAuditVerifyCatchesTamperingAtScale(t *testing.T) {
	n := 20_000
	if raceDetector {
		// make test runs with -race, which makes building and verifying the log about 20
		// times slower in process; the large sizes run without it.
		n = 2_000
	}
	if os.Getenv("SCIMTRAIL_SOAK") != "" {
		n = 100_000
	}
	if v := os.Getenv("SCIMTRAIL_TAMPER_ENTRIES"); v != "" {
		fmt.Sscan(v, &n)
	}
	mid := int64(n/2 + n/4 + 3) // between the two checkpoints
	last := int64(n)
	target := func(seq int64) []byte { return fmt.Appendf(nil, `"doc-%d"`, seq) }
	cases := []struct {
		name    string
		tamper  func(r *rawDB)
		lo, hi  int64 // the seqs it touches, restored afterwards
		wantSeq int64
		kind    ledger.FailureKind
	}{
		{"FlipByteInBody", func(r *rawDB) {
			b := r.body(mid)
			i := bytes.Index(b, target(mid))
			b[i+2] = 'x'
			r.exec(`UPDATE ledger_entries SET body = ? WHERE tenant = 'acme' AND seq = ?`, b, mid)
		}, mid, mid, mid, ledger.FailModified},
		{"RewriteBodyAndLeafHash", func(r *rawDB) {
			b := bytes.Replace(r.body(mid), target(mid), []byte(`"mallory"`), 1)
			r.setEntry(mid, b, ledger.LeafHash(b))
			// The tree's level-0 tile still holds the old leaf hash: the verifier names the
			// entry itself.
		}, mid, mid, mid, ledger.FailModified},
		{"RewriteBodyLeafHashAndTile", func(r *rawDB) {
			b := bytes.Replace(r.body(mid), target(mid), []byte(`"mallory"`), 1)
			r.setEntry(mid, b, ledger.LeafHash(b))
			idx, off := (mid-1)/ledger.TileWidth, (mid-1)%ledger.TileWidth*ledger.HashSize
			tile := r.bytes(`SELECT data FROM ledger_tiles WHERE tenant = 'acme' AND level = 0 AND idx = ?`, idx)
			copy(tile[off:], ledger.LeafHash(b))
			r.exec(`UPDATE ledger_tiles SET data = ? WHERE tenant = 'acme' AND level = 0 AND idx = ?`, tile, idx)
			// With the tile rewritten too, only a signed root shows it: the verifier names
			// the first entry after the last checkpoint that still matches.
		}, mid, mid, int64(n/2 + 1), ledger.FailModified},
		{"DeleteRow", func(r *rawDB) {
			r.exec(`DELETE FROM ledger_entries WHERE tenant = 'acme' AND seq = ?`, mid)
		}, mid, mid, mid, ledger.FailDeleted},
		{"SwapTwoRows", func(r *rawDB) {
			a, b := r.body(mid), r.body(mid+1)
			r.setEntry(mid, b, ledger.LeafHash(b))
			r.setEntry(mid+1, a, ledger.LeafHash(a))
		}, mid, mid + 1, mid, ledger.FailReordered},
		{"TruncateTail", func(r *rawDB) {
			r.exec(`DELETE FROM ledger_entries WHERE tenant = 'acme' AND seq > ?`, last-3)
		}, last - 2, last, last - 2, ledger.FailTruncated},
		{"ReinsertOldRow", func(r *rawDB) {
			r.exec(`INSERT INTO ledger_entries (tenant, seq, `+timeColumn(r)+`, action, actor_id, target_id, body, leaf_hash)
				SELECT tenant, ?, `+timeColumn(r)+`, action, actor_id, target_id, body, leaf_hash FROM ledger_entries WHERE tenant = 'acme' AND seq = ?`, last+1, mid)
		}, last + 1, last + 1, last + 1, ledger.FailReordered},
		{"ReplaceCheckpointSignature", func(r *rawDB) {
			note := r.bytes(`SELECT note FROM checkpoints WHERE tenant = 'acme' AND size = ?`, last)
			sig := bytes.LastIndex(note, []byte(" ")) + 10
			note[sig] ^= 1
			if note[sig] == '\n' || note[sig] == ' ' {
				note[sig] = 'A'
			}
			r.exec(`UPDATE checkpoints SET note = ? WHERE tenant = 'acme' AND size = ?`, note, last)
		}, 0, 0, last, ledger.FailBadSignature},
	}
	forEachBackend(t, func(t *testing.T, dsn string) {
		keyFile := filepath.Join(t.TempDir(), "signing-key")
		setInstallID(t, dsn)
		start := time.Now()
		buildLargeLog(t, dsn, keyFile, n)
		t.Logf("built a log of %d entries in %v", n, time.Since(start).Round(time.Millisecond))
		r := openRaw(t, dsn)
		r.exec(`CREATE TABLE entries_golden AS SELECT * FROM ledger_entries WHERE tenant = 'acme'`)
		r.exec(`CREATE TABLE checkpoints_golden AS SELECT * FROM checkpoints WHERE tenant = 'acme'`)
		r.exec(`CREATE TABLE tiles_golden AS SELECT * FROM ledger_tiles WHERE tenant = 'acme' AND level = 0`)
		verify := func() cliResult {
			return runCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile)
		}
		wantOK := func(when string) {
			t.Helper()
			res := verify()
			if res.code != 0 || !strings.Contains(res.stdout, fmt.Sprintf("entries: %d", n)) {
				t.Fatalf("%s: verify exit %d (%v):\n%s", when, res.code, res.err, res.stdout)
			}
		}
		wantOK("untouched")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tc.tamper(r)
				res := verify()
				if res.code != 1 {
					t.Errorf("exit %d (%v), want 1\n%s", res.code, res.err, res.stdout)
				} else if want := fmt.Sprintf("first bad seq: %d\nkind: %s\n", tc.wantSeq, tc.kind); !strings.Contains(res.stdout, want) {
					t.Errorf("verify printed:\n%s\nwant it to contain:\n%s", res.stdout, want)
				}
				if tc.lo > 0 {
					r.exec(`DELETE FROM ledger_entries WHERE tenant = 'acme' AND seq BETWEEN ? AND ?`, tc.lo, tc.hi)
					r.exec(`INSERT INTO ledger_entries SELECT * FROM entries_golden WHERE seq BETWEEN ? AND ?`, tc.lo, tc.hi)
					r.exec(`DELETE FROM ledger_tiles WHERE tenant = 'acme' AND level = 0`)
					r.exec(`INSERT INTO ledger_tiles SELECT * FROM tiles_golden`)
				} else {
					r.exec(`DELETE FROM checkpoints WHERE tenant = 'acme'`)
					r.exec(`INSERT INTO checkpoints SELECT * FROM checkpoints_golden`)
				}
				wantOK("restored")
			})
		}
	})
}
