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
		set := func(tenant string, seq int64) {
			t.Helper()
			update(t, s, tenant, func(ctx context.Context, tx scimtrail.Tx) error {
				return tx.SetSinkCursor(ctx, scimtrail.SinkCursor{Sink: "s2", Tenant: tenant, LastSeq: seq})
			})
		}
		set("acme", 10)
		set("globex", 3)
		set("acme", 4) // backwards: ignored
		set("globex", 8)
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.SinkCursors(ctx, "s2")
			if err != nil {
				return err
			}
			want := []scimtrail.SinkCursor{{Sink: "s2", Tenant: "acme", LastSeq: 10}, {Sink: "s2", Tenant: "globex", LastSeq: 8}}
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
}
