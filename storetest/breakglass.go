package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
)

// testBreakGlassRequests checks break-glass requests: insert, lookup, newest-first listing
// with a limit, a decision stored by update, and tenant scoping.
func testBreakGlassRequests(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	first := scimtrail.BreakGlassRequest{Tenant: "acme", ID: "bg1", UserID: "u1", Role: "admin", Justification: "INC-1",
		Duration: 90 * time.Minute, RequestedBy: "tok_a", Requested: base, State: scimtrail.RequestPending}
	second := first
	second.ID, second.Requested, second.Justification = "bg2", base.Add(time.Minute), "INC-2"
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.InsertBreakGlassRequest(ctx, first); err != nil {
			return err
		}
		return tx.InsertBreakGlassRequest(ctx, second)
	})
	decided := first
	decided.State, decided.DecidedBy, decided.Decided, decided.Decision, decided.GrantID = scimtrail.RequestApproved, "tok_b", base.Add(2*time.Minute), "ok", "gr1"
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.UpdateBreakGlassRequest(ctx, decided); err != nil {
			return err
		}
		missing := decided
		missing.ID = "nosuch"
		wantCode(t, tx.UpdateBreakGlassRequest(ctx, missing), scimtrail.ENOTFOUND, "UpdateBreakGlassRequest of a missing request")
		return nil
	})
	// A failed insert may abort the transaction (PostgreSQL does), so it gets its own.
	err := s.Update(context.Background(), "acme", func(tx scimtrail.Tx) error { return tx.InsertBreakGlassRequest(context.Background(), first) })
	wantCode(t, err, scimtrail.ECONFLICT, "InsertBreakGlassRequest twice")
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		got, err := tx.BreakGlassRequest(ctx, "acme", "bg1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(decided, got, cmpOpts...); diff != "" {
			t.Errorf("BreakGlassRequest (-want +got):\n%s", diff)
		}
		all, err := tx.BreakGlassRequests(ctx, "acme", 10)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]scimtrail.BreakGlassRequest{second, decided}, all, cmpOpts...); diff != "" {
			t.Errorf("BreakGlassRequests, newest first (-want +got):\n%s", diff)
		}
		if one, err := tx.BreakGlassRequests(ctx, "acme", 1); err != nil || len(one) != 1 || one[0].ID != "bg2" {
			t.Errorf("BreakGlassRequests limit 1 = %+v, %v; want bg2 only", one, err)
		}
		_, err = tx.BreakGlassRequest(ctx, "globex", "bg1")
		wantCode(t, err, scimtrail.ENOTFOUND, "BreakGlassRequest of another tenant")
		if other, err := tx.BreakGlassRequests(ctx, "globex", 10); err != nil || len(other) != 0 {
			t.Errorf("BreakGlassRequests of globex = %+v, %v; want none", other, err)
		}
		return nil
	})
}
