package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
)

// testEvents covers the app-event state (store_events.go): settings, versioned schemas,
// idempotency keys and app role grants.
func testEvents(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	t.Run("Settings", func(t *testing.T) {
		s := open(t)
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.EventSettings(ctx, "acme")
			if want := (scimtrail.EventSettings{Tenant: "acme"}); err != nil || !cmp.Equal(got, want) {
				t.Errorf("EventSettings of a tenant that never set them: %+v, %v; want %+v", got, err, want)
			}
			return nil
		})
		for _, v := range []string{scimtrail.UnknownActionsReject, scimtrail.UnknownActionsAccept} {
			want := scimtrail.EventSettings{Tenant: "acme", UnknownActions: v, Updated: base}
			update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.PutEventSettings(ctx, want) })
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				got, err := tx.EventSettings(ctx, "acme")
				if err != nil || !cmp.Equal(got, want) {
					t.Errorf("EventSettings: %+v, %v; want %+v", got, err, want)
				}
				other, _ := tx.EventSettings(ctx, "globex")
				if other.UnknownActions != "" {
					t.Errorf("globex sees acme's settings: %+v", other)
				}
				return nil
			})
		}
	})

	t.Run("Schemas", func(t *testing.T) {
		s := open(t)
		v1 := scimtrail.EventSchema{Tenant: "acme", Action: "app.export", Version: 1,
			Metadata: json.RawMessage(`{"type":"object"}`), Created: base, Seq: 3}
		v2 := scimtrail.EventSchema{Tenant: "acme", Action: "app.export", Version: 2,
			Targets: json.RawMessage(`{"type":"array"}`), Created: base.Add(time.Second), Seq: 4}
		other := scimtrail.EventSchema{Tenant: "acme", Action: "app.abc", Version: 1, Created: base, Seq: 5}
		global := scimtrail.EventSchema{Tenant: "", Action: "app.export", Version: 1,
			Metadata: json.RawMessage(`{"type":"object","required":["x"]}`), Created: base, Seq: 1}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			for _, sc := range []scimtrail.EventSchema{v1, v2, other, global} {
				if err := tx.InsertEventSchema(ctx, sc); err != nil {
					return err
				}
			}
			return nil
		})
		err := s.Update(context.Background(), "acme", func(tx scimtrail.Tx) error {
			return tx.InsertEventSchema(context.Background(), v1)
		})
		wantCode(t, err, scimtrail.ECONFLICT, "InsertEventSchema of a taken version")
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			for _, c := range []struct {
				tenant  string
				version int
				want    scimtrail.EventSchema
			}{{"acme", 0, v2}, {"acme", 1, v1}, {"acme", 2, v2}, {"", 0, global}} {
				got, err := tx.EventSchema(ctx, c.tenant, "app.export", c.version)
				if err != nil || !cmp.Equal(got, c.want, cmpOpts...) {
					t.Errorf("EventSchema(%q, version %d): %+v, %v; want %+v", c.tenant, c.version, got, err, c.want)
				}
			}
			_, err := tx.EventSchema(ctx, "acme", "app.export", 3)
			wantCode(t, err, scimtrail.ENOTFOUND, "EventSchema of a missing version")
			_, err = tx.EventSchema(ctx, "globex", "app.export", 0)
			wantCode(t, err, scimtrail.ENOTFOUND, "EventSchema of another tenant")
			list, err := tx.EventSchemas(ctx, "acme")
			if want := []scimtrail.EventSchema{other, v2}; err != nil || !cmp.Equal(list, want, cmpOpts...) {
				t.Errorf("EventSchemas: %+v, %v; want %+v", list, err, want)
			}
			return nil
		})
	})

	t.Run("Keys", func(t *testing.T) {
		s := open(t)
		h := func(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }
		old := scimtrail.EventKey{Tenant: "acme", KeyHash: h("old"), RequestHash: h("r0"), Seqs: []int64{1}, Created: base}
		k1 := scimtrail.EventKey{Tenant: "acme", KeyHash: h("k1"), RequestHash: h("r1"), Seqs: []int64{2, 3, 5}, Created: base.Add(time.Hour)}
		k2 := scimtrail.EventKey{Tenant: "globex", KeyHash: h("k1"), RequestHash: h("r2"), Seqs: []int64{1}, Created: base.Add(time.Hour)}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.InsertEventKeys(ctx, []scimtrail.EventKey{old, k1, k2})
		})
		err := s.Update(context.Background(), "acme", func(tx scimtrail.Tx) error {
			return tx.InsertEventKeys(context.Background(), []scimtrail.EventKey{k1})
		})
		wantCode(t, err, scimtrail.ECONFLICT, "InsertEventKeys of a stored key")
		lookup := func(tenant string, since time.Time, keys ...[]byte) []scimtrail.EventKey {
			var got []scimtrail.EventKey
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				var err error
				got, err = tx.EventKeys(ctx, tenant, keys, since)
				return err
			})
			return got
		}
		if got, want := lookup("acme", base, h("k1"), h("nope")), []scimtrail.EventKey{k1}; !cmp.Equal(got, want, cmpOpts...) {
			t.Errorf("EventKeys: %+v, want %+v", got, want)
		}
		if got := lookup("acme", base.Add(time.Minute), h("old")); len(got) != 0 {
			t.Errorf("EventKeys returned a key older than since: %+v", got)
		}
		if got, want := lookup("globex", base, h("k1")), []scimtrail.EventKey{k2}; !cmp.Equal(got, want, cmpOpts...) {
			t.Errorf("EventKeys of globex: %+v, want %+v", got, want)
		}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			n, err := tx.DeleteEventKeys(ctx, "acme", base.Add(time.Minute))
			if n != 1 {
				t.Errorf("DeleteEventKeys deleted %d keys, want 1", n)
			}
			return err
		})
		if got := lookup("acme", time.Time{}, h("old"), h("k1")); len(got) != 1 {
			t.Errorf("after DeleteEventKeys: %+v, want only k1", got)
		}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			n, err := tx.DeleteEventKeys(ctx, "", base.Add(2*time.Hour))
			if n != 2 {
				t.Errorf("DeleteEventKeys of every tenant deleted %d keys, want 2", n)
			}
			return err
		})
	})

	t.Run("AppRoleGrants", func(t *testing.T) {
		s := open(t)
		g1 := scimtrail.AppRoleGrant{Tenant: "acme", UserID: "u1", Role: "editor", Granted: base, Seq: 7}
		g2 := scimtrail.AppRoleGrant{Tenant: "acme", UserID: "u1", Role: "admin", Granted: base, Seq: 8}
		g3 := scimtrail.AppRoleGrant{Tenant: "acme", UserID: "u0", Role: "viewer", Granted: base, Seq: 9}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			for _, g := range []scimtrail.AppRoleGrant{g1, g2, g3} {
				if ok, err := tx.GrantAppRole(ctx, g); !ok || err != nil {
					t.Errorf("GrantAppRole(%+v): %v, %v", g, ok, err)
				}
			}
			again := g1
			again.Seq = 10
			if ok, err := tx.GrantAppRole(ctx, again); ok || err != nil {
				t.Errorf("GrantAppRole of a granted role: %v, %v; want false", ok, err)
			}
			return nil
		})
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.AppRoleGrants(ctx, "acme", "u1")
			if want := []scimtrail.AppRoleGrant{g2, g1}; err != nil || !cmp.Equal(got, want, cmpOpts...) {
				t.Errorf("AppRoleGrants(u1): %+v, %v; want %+v", got, err, want)
			}
			all, err := tx.AppRoleGrants(ctx, "acme", "")
			if want := []scimtrail.AppRoleGrant{g3, g2, g1}; err != nil || !cmp.Equal(all, want, cmpOpts...) {
				t.Errorf("AppRoleGrants(all): %+v, %v; want %+v", all, err, want)
			}
			if other, _ := tx.AppRoleGrants(ctx, "globex", ""); len(other) != 0 {
				t.Errorf("globex sees acme's grants: %+v", other)
			}
			return nil
		})
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			if ok, err := tx.RevokeAppRole(ctx, "acme", "u1", "editor"); !ok || err != nil {
				t.Errorf("RevokeAppRole: %v, %v", ok, err)
			}
			if ok, err := tx.RevokeAppRole(ctx, "acme", "u1", "editor"); ok || err != nil {
				t.Errorf("RevokeAppRole of a revoked role: %v, %v; want false", ok, err)
			}
			return nil
		})
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.AppRoleGrants(ctx, "acme", "u1")
			if want := []scimtrail.AppRoleGrant{g2}; err != nil || !cmp.Equal(got, want, cmpOpts...) {
				t.Errorf("AppRoleGrants after revoke: %+v, %v; want %+v", got, err, want)
			}
			return nil
		})
	})
}
