package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
)

// testSettings checks tenant settings (defaults, upsert) and custom schemas (insert, list,
// case-insensitive URN uniqueness, delete).
func testSettings(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		got, err := tx.TenantSettings(ctx, "acme")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(scimtrail.TenantSettings{Tenant: "acme"}, got, cmpOpts...); diff != "" {
			t.Errorf("default settings (-want +got):\n%s", diff)
		}
		return nil
	})
	want := scimtrail.TenantSettings{Tenant: "acme", Dialect: "entra", PasswordPolicy: "reject", Updated: base}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.PutTenantSettings(ctx, want) })
	want2 := scimtrail.TenantSettings{Tenant: "acme", Dialect: "strict", PasswordPolicy: "discard", BreakGlassApproval: scimtrail.BreakGlassApprovalSecondAdmin, Updated: base.Add(time.Second)}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.PutTenantSettings(ctx, want2) })
	ext := scimtrail.TenantSchema{Tenant: "acme", URN: "urn:acme:User", ResourceType: scimtrail.UserResource,
		Definition: []byte(`{"id":"urn:acme:User"}`), Created: base}
	ext2 := scimtrail.TenantSchema{Tenant: "acme", URN: "urn:acme:Group", ResourceType: scimtrail.GroupResource,
		Definition: []byte(`{"id":"urn:acme:Group"}`), Created: base.Add(2 * time.Second)}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.InsertTenantSchema(ctx, ext); err != nil {
			return err
		}
		return tx.InsertTenantSchema(ctx, ext2)
	})
	ctx := context.Background()
	err := s.Update(ctx, "acme", func(tx scimtrail.Tx) error {
		dup := ext
		dup.URN = "URN:ACME:user"
		return tx.InsertTenantSchema(ctx, dup)
	})
	wantCode(t, err, scimtrail.ECONFLICT, "InsertTenantSchema of a URN differing only in case")
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		got, err := tx.TenantSettings(ctx, "acme")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want2, got, cmpOpts...); diff != "" {
			t.Errorf("settings after two puts (-want +got):\n%s", diff)
		}
		schemas, err := tx.TenantSchemas(ctx, "acme")
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]scimtrail.TenantSchema{ext, ext2}, schemas, cmpOpts...); diff != "" {
			t.Errorf("TenantSchemas (-want +got):\n%s", diff)
		}
		other, err := tx.TenantSchemas(ctx, "globex")
		if err != nil || len(other) != 0 {
			t.Errorf("globex schemas %v, %v; want none", other, err)
		}
		return nil
	})
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.DeleteTenantSchema(ctx, "acme", "URN:ACME:USER")
	})
	err = s.Update(ctx, "acme", func(tx scimtrail.Tx) error { return tx.DeleteTenantSchema(ctx, "acme", "urn:acme:User") })
	wantCode(t, err, scimtrail.ENOTFOUND, "DeleteTenantSchema of a deleted schema")
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		schemas, err := tx.TenantSchemas(ctx, "acme")
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]scimtrail.TenantSchema{ext2}, schemas, cmpOpts...); diff != "" {
			t.Errorf("TenantSchemas after delete (-want +got):\n%s", diff)
		}
		return nil
	})
}
