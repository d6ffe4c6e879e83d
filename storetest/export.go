package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
)

// testExport covers sinks and their cursors: round trips, ENOTFOUND/ECONFLICT, state
// changes that leave config alone, and cursors that never move backwards.
func testExport(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	mustInsertTenant(t, s, "acme")
	sink := scimtrail.Sink{
		ID: "s1", Tenant: "acme", Type: "webhook",
		Config:  json.RawMessage(`{"format":"native","url":"https://hooks.example.com/x"}`),
		Secret:  []byte{1, 2, 3, 0, 255},
		FromSeq: 1, State: scimtrail.SinkActive, Created: base, Updated: base,
	}
	global := scimtrail.Sink{ID: "s2", Type: "webhook", Config: json.RawMessage(`{}`), FromSeq: 5,
		State: scimtrail.SinkActive, Created: base.Add(time.Second), Updated: base.Add(time.Second)}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.InsertSink(ctx, sink); err != nil {
			return err
		}
		return tx.InsertSink(ctx, global)
	})

	t.Run("RoundTrip", func(t *testing.T) {
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.Sink(ctx, "s1")
			if err != nil {
				return err
			}
			if diff := cmp.Diff(sink, got, cmpOpts...); diff != "" {
				t.Errorf("Sink mismatch (-want +got):\n%s", diff)
			}
			list, err := tx.Sinks(ctx, "acme")
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].ID != "s1" {
				t.Errorf("Sinks(acme) = %v, want [s1]", list)
			}
			list, err = tx.Sinks(ctx, "")
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].ID != "s2" || list[0].Secret != nil {
				t.Errorf("Sinks(\"\") = %v, want [s2] without a secret", list)
			}
			all, err := tx.AllSinks(ctx)
			if err != nil {
				return err
			}
			if len(all) != 2 || all[0].ID != "s1" || all[1].ID != "s2" {
				t.Errorf("AllSinks = %v, want [s1 s2]", all)
			}
			return nil
		})
	})

	t.Run("Errors", func(t *testing.T) {
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error { return tx.InsertSink(t.Context(), sink) })
		wantCode(t, err, scimtrail.ECONFLICT, "InsertSink twice")
		err = s.View(t.Context(), func(tx scimtrail.ReadTx) error { _, err := tx.Sink(t.Context(), "nope"); return err })
		wantCode(t, err, scimtrail.ENOTFOUND, "Sink(nope)")
		err = s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.SetSinkState(t.Context(), scimtrail.Sink{ID: "nope", State: scimtrail.SinkDead})
		})
		wantCode(t, err, scimtrail.ENOTFOUND, "SetSinkState(nope)")
		err = s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.UpdateSink(t.Context(), scimtrail.Sink{ID: "nope", Config: json.RawMessage(`{}`)})
		})
		wantCode(t, err, scimtrail.ENOTFOUND, "UpdateSink(nope)")
		err = s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error { return tx.DeleteSink(t.Context(), "nope") })
		wantCode(t, err, scimtrail.ENOTFOUND, "DeleteSink(nope)")
	})

	t.Run("StateAndConfig", func(t *testing.T) {
		later := base.Add(time.Minute)
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.SetSinkState(ctx, scimtrail.Sink{ID: "s1", State: scimtrail.SinkDead, Failures: 7,
				LastError: "receiver answered 503", Updated: later})
		})
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.UpdateSink(ctx, scimtrail.Sink{ID: "s1", Config: json.RawMessage(`{"url":"https://b.example.com"}`),
				Secret: []byte{9}, Updated: later})
		})
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.Sink(ctx, "s1")
			if err != nil {
				return err
			}
			want := sink
			want.State, want.Failures, want.LastError, want.Updated = scimtrail.SinkDead, 7, "receiver answered 503", later
			want.Config, want.Secret = json.RawMessage(`{"url":"https://b.example.com"}`), []byte{9}
			if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("Sink after updates (-want +got):\n%s", diff)
			}
			return nil
		})
	})

	t.Run("Cursors", func(t *testing.T) {
		set := func(tenant string, seq, cp int64) {
			t.Helper()
			update(t, s, tenant, func(ctx context.Context, tx scimtrail.Tx) error {
				return tx.SetSinkCursor(ctx, scimtrail.SinkCursor{Sink: "s2", Tenant: tenant, LastSeq: seq, Checkpoint: cp})
			})
		}
		set("acme", 10, 7)
		set("globex", 3, 0)
		set("acme", 4, 9)  // entries backwards: ignored, the checkpoint position still moves
		set("acme", 12, 2) // checkpoint backwards: ignored, the entry position still moves
		set("globex", 8, 8)
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.SinkCursors(ctx, "s2")
			if err != nil {
				return err
			}
			want := []scimtrail.SinkCursor{{Sink: "s2", Tenant: "acme", LastSeq: 12, Checkpoint: 9}, {Sink: "s2", Tenant: "globex", LastSeq: 8, Checkpoint: 8}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SinkCursors (-want +got):\n%s", diff)
			}
			return nil
		})
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.DeleteSink(ctx, "s2") })
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.SinkCursors(ctx, "s2")
			if err != nil {
				return err
			}
			if len(got) != 0 {
				t.Errorf("cursors of a deleted sink: %v", got)
			}
			if _, err := tx.Sink(ctx, "s2"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("Sink(s2) after delete: %v, want ENOTFOUND", err)
			}
			return nil
		})
	})

	t.Run("CheckpointsBetween", func(t *testing.T) {
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			for _, size := range []int64{2, 5, 9, 14} {
				if _, err := tx.InsertCheckpoint(ctx, scimtrail.StoredCheckpoint{Tenant: "acme", Size: size,
					Root: []byte{byte(size)}, Note: []byte{'n', byte(size)}, Signed: base.Add(time.Duration(size) * time.Second)}); err != nil {
					return err
				}
			}
			return nil
		})
		for _, c := range []struct {
			after, upTo int64
			limit       int
			want        []int64
		}{
			{0, 100, 10, []int64{2, 5, 9, 14}},
			{2, 9, 10, []int64{5, 9}}, // after is exclusive, upTo inclusive
			{0, 100, 2, []int64{2, 5}},
			{14, 100, 10, nil},
			{3, 4, 10, nil},
		} {
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				cps, err := tx.CheckpointsBetween(ctx, "acme", c.after, c.upTo, c.limit)
				if err != nil {
					return err
				}
				var got []int64
				for _, cp := range cps {
					got = append(got, cp.Size)
					if cp.Tenant != "acme" || cp.Root[0] != byte(cp.Size) || string(cp.Note) != string([]byte{'n', byte(cp.Size)}) ||
						!cp.Signed.Equal(base.Add(time.Duration(cp.Size)*time.Second)) {
						t.Errorf("checkpoint %d read back as %+v", cp.Size, cp)
					}
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("CheckpointsBetween(%d, %d, %d) (-want +got):\n%s", c.after, c.upTo, c.limit, diff)
				}
				others, err := tx.CheckpointsBetween(ctx, "globex", 0, 100, 10)
				if err != nil || len(others) != 0 {
					t.Errorf("CheckpointsBetween(globex) = %v, %v; want none", others, err)
				}
				return nil
			})
		}
	})

	t.Run("Leases", func(t *testing.T) {
		now := time.Now()
		acquire := func(holder string, ttl time.Duration) bool {
			t.Helper()
			var ok bool
			update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
				var err error
				ok, err = tx.AcquireSinkLease(ctx, "s1", holder, now, ttl)
				return err
			})
			return ok
		}
		holder := func() string {
			t.Helper()
			var h string
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				var err error
				h, _, err = tx.SinkLease(ctx, "s1")
				if scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND {
					return nil
				}
				return err
			})
			return h
		}
		if h := holder(); h != "" {
			t.Fatalf("lease held by %q before anyone took it", h)
		}
		if !acquire("a", time.Hour) || holder() != "a" {
			t.Fatalf("a could not take a free lease (holder %q)", holder())
		}
		if acquire("b", time.Hour) || holder() != "a" {
			t.Fatalf("b took a's live lease (holder %q)", holder())
		}
		if !acquire("a", time.Hour) {
			t.Fatal("a could not renew its own lease")
		}
		// A lease that has already run out (a negative ttl) is taken over.
		if !acquire("a", -time.Minute) || !acquire("b", time.Hour) || holder() != "b" {
			t.Fatalf("b could not take a's expired lease (holder %q)", holder())
		}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.ReleaseSinkLease(ctx, "s1", "a") })
		if holder() != "b" {
			t.Fatalf("a released b's lease (holder %q)", holder())
		}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.ReleaseSinkLease(ctx, "s1", "b") })
		if h := holder(); h != "" || !acquire("a", time.Hour) {
			t.Fatalf("after b released it, holder %q and a could not take it", h)
		}
	})
}
