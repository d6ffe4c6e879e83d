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

// testUniqueValues checks the index of unique custom values: lookup by (type, URN,
// attribute) case-insensitively and value exactly, replacement per resource, ECONFLICT for a
// value another resource holds, no crossing between tenants or types, and that deleting a
// resource frees its values.
func testUniqueValues(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	ctx := context.Background()
	mustInsertTenant(t, s, "acme")
	mustInsertTenant(t, s, "globex")
	badge := func(key string) scimtrail.UniqueValue {
		return scimtrail.UniqueValue{URN: "urn:acme:User", Attr: "badge", Key: key}
	}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		for _, u := range []scimtrail.Resource{user("acme", "u1", "ann", base), user("acme", "u2", "bob", base)} {
			if err := tx.InsertResource(ctx, u); err != nil {
				return err
			}
		}
		if err := tx.SetUniqueValues(ctx, "acme", scimtrail.UserResource, "u1", []scimtrail.UniqueValue{badge("s:7"), badge("s:8")}); err != nil {
			return err
		}
		// Replacing: u1 now holds only 9.
		return tx.SetUniqueValues(ctx, "acme", scimtrail.UserResource, "u1", []scimtrail.UniqueValue{badge("s:9")})
	})
	update(t, s, "globex", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.SetUniqueValues(ctx, "globex", scimtrail.UserResource, "g1", []scimtrail.UniqueValue{badge("s:7")})
	})
	owner := func(tenant string, typ scimtrail.ResourceType, v scimtrail.UniqueValue) string {
		var id string
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			var err error
			id, err = tx.UniqueValueOwner(ctx, tenant, typ, v)
			return err
		})
		return id
	}
	upper := scimtrail.UniqueValue{URN: "URN:ACME:USER", Attr: "BADGE", Key: "s:9"}
	for _, c := range []struct {
		tenant string
		typ    scimtrail.ResourceType
		v      scimtrail.UniqueValue
		want   string
	}{
		{"acme", scimtrail.UserResource, badge("s:9"), "u1"},
		{"acme", scimtrail.UserResource, upper, "u1"},
		{"acme", scimtrail.UserResource, badge("s:7"), ""}, // replaced away
		{"acme", scimtrail.UserResource, badge("S:9"), ""}, // keys compare exactly
		{"acme", scimtrail.GroupResource, badge("s:9"), ""},
		{"globex", scimtrail.UserResource, badge("s:7"), "g1"},
		{"globex", scimtrail.UserResource, badge("s:9"), ""},
	} {
		if got := owner(c.tenant, c.typ, c.v); got != c.want {
			t.Errorf("UniqueValueOwner(%s, %s, %+v) = %q, want %q", c.tenant, c.typ, c.v, got, c.want)
		}
	}
	err := s.Update(ctx, "acme", func(tx scimtrail.Tx) error {
		return tx.SetUniqueValues(ctx, "acme", scimtrail.UserResource, "u2", []scimtrail.UniqueValue{badge("s:9")})
	})
	wantCode(t, err, scimtrail.ECONFLICT, "SetUniqueValues of a value another resource holds")
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.DeleteResource(ctx, "acme", scimtrail.UserResource, "u1")
	})
	if got := owner("acme", scimtrail.UserResource, badge("s:9")); got != "" {
		t.Errorf("a deleted resource still holds its value: owner %q", got)
	}
}
