package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scimtrail/scimtrail"
)

func testTenants(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	t.Run("InsertAndGet", func(t *testing.T) {
		s := open(t)
		want := scimtrail.Tenant{ID: "acme", Name: "Acme Corp", Created: base}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.InsertTenant(ctx, want) })
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.Tenant(ctx, "acme")
			if err != nil {
				t.Fatalf("Tenant: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Tenant (-want +got):\n%s", diff)
			}
			return nil
		})
	})
	t.Run("DuplicateIsConflict", func(t *testing.T) {
		s := open(t)
		mustInsertTenant(t, s, "acme")
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.InsertTenant(t.Context(), scimtrail.Tenant{ID: "acme", Name: "again", Created: base})
		})
		wantCode(t, err, scimtrail.ECONFLICT, "second InsertTenant")
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.Tenant(ctx, "acme")
			if err != nil || got.Name != "acme Inc." {
				t.Errorf("Tenant after conflict = %+v, %v; want the first one kept", got, err)
			}
			return nil
		})
	})
	t.Run("List", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"globex", "acme", "initech"} {
			mustInsertTenant(t, s, id)
		}
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.Tenants(ctx)
			if err != nil {
				t.Fatalf("Tenants: %v", err)
			}
			var names []string
			for _, tn := range got {
				names = append(names, tn.ID)
				if tn.Name != tn.ID+" Inc." || !tn.Created.Equal(base) {
					t.Errorf("tenant %+v: fields not kept", tn)
				}
			}
			if diff := cmp.Diff([]string{"acme", "globex", "initech"}, sortedStrings(names)); diff != "" {
				t.Errorf("Tenants ids (-want +got):\n%s", diff)
			}
			return nil
		})
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := open(t)
		mustInsertTenant(t, s, "acme")
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			_, err := tx.Tenant(ctx, "globex")
			wantCode(t, err, scimtrail.ENOTFOUND, "Tenant(globex)")
			return nil
		})
	})
}

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func testTokens(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	scim := scimtrail.Token{ID: "tok_1", Tenant: "acme", Kind: scimtrail.TokenSCIM, Name: "Entra ID",
		Hash: hashOf("secret-1"), Created: base, Expires: base.Add(90 * 24 * time.Hour)}
	admin := scimtrail.Token{ID: "tok_2", Tenant: "acme", Kind: scimtrail.TokenAdmin, Name: "IT",
		Hash: hashOf("secret-2"), Created: base.Add(time.Second)}
	op := scimtrail.Token{ID: "tok_3", Kind: scimtrail.TokenOperator, Name: "bootstrap",
		Hash: hashOf("secret-3"), Created: base.Add(2 * time.Second)}
	other := scimtrail.Token{ID: "tok_4", Tenant: "globex", Kind: scimtrail.TokenAuditor, Name: "audit",
		Hash: hashOf("secret-4"), Created: base.Add(3 * time.Second)}
	seed := func(t *testing.T) scimtrail.Store {
		s := open(t)
		update(t, s, scimtrail.SystemLog, func(ctx context.Context, tx scimtrail.Tx) error {
			// Inserted newest first, so that "oldest first" is the backend's doing.
			for _, tk := range []scimtrail.Token{other, op, admin, scim} {
				if err := tx.InsertToken(ctx, tk); err != nil {
					return err
				}
			}
			return nil
		})
		return s
	}

	t.Run("ByHashAndByID", func(t *testing.T) {
		s := seed(t)
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.TokenByHash(ctx, hashOf("secret-1"))
			if err != nil {
				t.Fatalf("TokenByHash: %v", err)
			}
			if diff := cmp.Diff(scim, got, cmpOpts...); diff != "" {
				t.Errorf("TokenByHash (-want +got):\n%s", diff)
			}
			got, err = tx.Token(ctx, "tok_3")
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if diff := cmp.Diff(op, got, cmpOpts...); diff != "" {
				t.Errorf("Token (-want +got):\n%s", diff)
			}
			return nil
		})
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := seed(t)
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			_, err := tx.TokenByHash(ctx, hashOf("nope"))
			wantCode(t, err, scimtrail.ENOTFOUND, "TokenByHash(unknown)")
			_, err = tx.Token(ctx, "tok_9")
			wantCode(t, err, scimtrail.ENOTFOUND, "Token(unknown)")
			return nil
		})
	})
	t.Run("ListPerTenantOldestFirst", func(t *testing.T) {
		s := seed(t)
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			for tenant, want := range map[string][]scimtrail.Token{
				"acme":    {scim, admin},
				"":        {op},
				"globex":  {other},
				"initech": nil,
			} {
				got, err := tx.Tokens(ctx, tenant)
				if err != nil {
					t.Fatalf("Tokens(%q): %v", tenant, err)
				}
				if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
					t.Errorf("Tokens(%q) (-want +got):\n%s", tenant, diff)
				}
			}
			return nil
		})
	})
	t.Run("UpdateRoundTrip", func(t *testing.T) {
		s := seed(t)
		changed := scim
		changed.Name = "Entra ID (rotated)"
		changed.Hash = hashOf("secret-1b")
		changed.Rotated = base.Add(time.Hour)
		changed.Revoked = base.Add(2 * time.Hour)
		changed.Expires = time.Time{}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.UpdateToken(ctx, changed) })
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.Token(ctx, scim.ID)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if diff := cmp.Diff(changed, got, cmpOpts...); diff != "" {
				t.Errorf("after UpdateToken (-want +got):\n%s", diff)
			}
			if _, err := tx.TokenByHash(ctx, hashOf("secret-1")); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("old hash still finds the token after rotation: %v", err)
			}
			if got, err := tx.TokenByHash(ctx, hashOf("secret-1b")); err != nil || got.ID != scim.ID {
				t.Errorf("TokenByHash(new hash) = %q, %v; want %q", got.ID, err, scim.ID)
			}
			return nil
		})
	})
	t.Run("UpdateMissingIsNotFound", func(t *testing.T) {
		s := seed(t)
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.UpdateToken(t.Context(), scimtrail.Token{ID: "tok_9", Hash: hashOf("x"), Created: base})
		})
		wantCode(t, err, scimtrail.ENOTFOUND, "UpdateToken(unknown)")
	})
	t.Run("DuplicateIsConflict", func(t *testing.T) {
		s := seed(t)
		dupID := scim
		dupID.Hash = hashOf("fresh")
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error { return tx.InsertToken(t.Context(), dupID) })
		wantCode(t, err, scimtrail.ECONFLICT, "InsertToken(duplicate id)")
		dupHash := scim
		dupHash.ID = "tok_new"
		err = s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error { return tx.InsertToken(t.Context(), dupHash) })
		wantCode(t, err, scimtrail.ECONFLICT, "InsertToken(duplicate hash)")
	})
}

// fullUser has every field set, so a round trip that drops one is caught.
func fullUser(tenant, id, userName string) scimtrail.Resource {
	return scimtrail.Resource{
		Tenant:      tenant,
		Type:        scimtrail.UserResource,
		ID:          id,
		ExternalID:  "ext-" + id,
		UserName:    userName,
		UserNameKey: Fold(userName),
		DisplayName: "Alice Liddell",
		Active:      false,
		Emails:      []string{"alice@example.com", "a.liddell@example.org"},
		Schemas: []string{"urn:ietf:params:scim:schemas:core:2.0:User",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		Attributes:   json.RawMessage(`{"userName":"` + userName + `","name":{"givenName":"Alice"},"title":"Engineer",  "x":[1,2]}`),
		Created:      base.Add(1 * time.Microsecond),
		LastModified: base.Add(3*time.Hour + 7*time.Microsecond),
		Version:      7,
	}
}

func testResources(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	getResource := func(t *testing.T, s scimtrail.Store, tenant string, typ scimtrail.ResourceType, id string) (scimtrail.Resource, error) {
		var r scimtrail.Resource
		var rerr error
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			r, rerr = tx.Resource(ctx, tenant, typ, id)
			return nil
		})
		return r, rerr
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		u := fullUser("acme", "u1", "Alice")
		g := group("acme", "g1", "Engineers", base.Add(time.Minute))
		g.ExternalID = "grp-ext"
		insertResources(t, s, "acme", u, g)
		for _, want := range []scimtrail.Resource{u, g} {
			got, err := getResource(t, s, "acme", want.Type, want.ID)
			if err != nil {
				t.Fatalf("Resource(%s): %v", want.ID, err)
			}
			if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("Resource(%s) (-want +got):\n%s", want.ID, diff)
			}
			if string(got.Attributes) != string(want.Attributes) {
				t.Errorf("Attributes = %s, want the bytes stored unchanged: %s", got.Attributes, want.Attributes)
			}
			if got.Created.Location() != time.UTC || got.LastModified.Location() != time.UTC {
				t.Errorf("times are not UTC: %v %v", got.Created, got.LastModified)
			}
		}
	})
	t.Run("UpdateReplacesEveryColumn", func(t *testing.T) {
		s := open(t)
		u := fullUser("acme", "u1", "Alice")
		insertResources(t, s, "acme", u)
		want := scimtrail.Resource{
			Tenant: "acme", Type: scimtrail.UserResource, ID: "u1",
			ExternalID: "ext-2", UserName: "alice.l", UserNameKey: "alice.l", DisplayName: "A. L.",
			Active: true, Emails: []string{"al@example.net"},
			Schemas:    []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			Attributes: json.RawMessage(`{"userName":"alice.l"}`),
			Created:    u.Created, LastModified: base.Add(5 * time.Hour), Version: 8,
		}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.UpdateResource(ctx, want) })
		got, err := getResource(t, s, "acme", scimtrail.UserResource, "u1")
		if err != nil {
			t.Fatalf("Resource: %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("after UpdateResource (-want +got):\n%s", diff)
		}
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			if _, err := tx.UserIDByNameKey(ctx, "acme", "alice"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("old userName key still resolves after update: %v", err)
			}
			if id, err := tx.UserIDByNameKey(ctx, "acme", "alice.l"); err != nil || id != "u1" {
				t.Errorf("UserIDByNameKey(new) = %q, %v", id, err)
			}
			return nil
		})
	})
	// Backends may take a shorter path when no indexed column changes (sqlite does); each
	// step below changes one kind of column and checks the lookups that depend on it.
	t.Run("UpdateOneKindOfColumnAtATime", func(t *testing.T) {
		s := open(t)
		cur := fullUser("acme", "u1", "Alice")
		insertResources(t, s, "acme", cur)
		emailMatches := func(t *testing.T, email string) []string {
			t.Helper()
			var ids []string
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				p, err := tx.QueryResources(ctx, "acme", scimtrail.Query{Type: scimtrail.UserResource,
					Filter:     cmpr("emails", "value", "eq", email),
					Match:      func(r scimtrail.Resource) bool { return hasEmail(r, email) },
					StartIndex: 1, Count: 10})
				for _, r := range p.Resources {
					ids = append(ids, r.ID)
				}
				return err
			})
			return ids
		}
		steps := []struct {
			name   string
			change func(r *scimtrail.Resource)
		}{
			{"Unindexed", func(r *scimtrail.Resource) {
				r.Active = !r.Active
				r.UserName = "ALICE" // same key, other spelling
				r.Attributes = json.RawMessage(`{"userName":"ALICE","title":"CTO"}`)
				r.Schemas = r.Schemas[:1]
			}},
			{"Emails", func(r *scimtrail.Resource) { r.Emails = []string{"alice@example.net"} }},
			{"ExternalID", func(r *scimtrail.Resource) { r.ExternalID = "ext-new" }},
			{"DisplayName", func(r *scimtrail.Resource) { r.DisplayName = "Al" }},
			{"UserNameKey", func(r *scimtrail.Resource) { r.UserName, r.UserNameKey = "alice2", "alice2" }},
		}
		for _, st := range steps {
			next := cur
			next.Schemas = slices.Clone(cur.Schemas)
			next.Emails = slices.Clone(cur.Emails)
			st.change(&next)
			next.Version, next.LastModified = cur.Version+1, cur.LastModified.Add(time.Minute)
			update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.UpdateResource(ctx, next) })
			got, err := getResource(t, s, "acme", scimtrail.UserResource, "u1")
			if err != nil {
				t.Fatalf("%s: Resource: %v", st.name, err)
			}
			if diff := cmp.Diff(next, got, cmpOpts...); diff != "" {
				t.Errorf("%s: after UpdateResource (-want +got):\n%s", st.name, diff)
			}
			for _, e := range cur.Emails {
				if !slices.Contains(next.Emails, e) {
					if ids := emailMatches(t, e); len(ids) != 0 {
						t.Errorf("%s: old email %s still matches %v", st.name, e, ids)
					}
				}
			}
			for _, e := range next.Emails {
				if ids := emailMatches(t, e); !slices.Equal(ids, []string{"u1"}) {
					t.Errorf("%s: email %s matches %v, want [u1]", st.name, e, ids)
				}
			}
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				if id, err := tx.UserIDByNameKey(ctx, "acme", next.UserNameKey); err != nil || id != "u1" {
					t.Errorf("%s: UserIDByNameKey(%q) = %q, %v", st.name, next.UserNameKey, id, err)
				}
				if next.UserNameKey != cur.UserNameKey {
					if _, err := tx.UserIDByNameKey(ctx, "acme", cur.UserNameKey); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
						t.Errorf("%s: old userName key still resolves: %v", st.name, err)
					}
				}
				return nil
			})
			for _, f := range []struct {
				attr, value string
				match       func(scimtrail.Resource) bool
			}{
				{"externalId", next.ExternalID, func(r scimtrail.Resource) bool { return r.ExternalID == next.ExternalID }},
				{"displayName", next.DisplayName, func(r scimtrail.Resource) bool { return r.DisplayName == next.DisplayName }},
			} {
				p := query(t, s, scimtrail.Query{Type: scimtrail.UserResource, Filter: cmpr(f.attr, "", "eq", f.value),
					Match: f.match, StartIndex: 1, Count: 10})
				if p.Total != 1 || len(p.Resources) != 1 || p.Resources[0].ID != "u1" {
					t.Errorf("%s: %s eq %q found %+v", st.name, f.attr, f.value, p)
				}
			}
			cur = next
		}
	})
	t.Run("UpdateAndDeleteMissingIsNotFound", func(t *testing.T) {
		s := open(t)
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.UpdateResource(t.Context(), user("acme", "u9", "nobody", base))
		})
		wantCode(t, err, scimtrail.ENOTFOUND, "UpdateResource(missing)")
		err = s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.DeleteResource(t.Context(), "acme", scimtrail.UserResource, "u9")
		})
		wantCode(t, err, scimtrail.ENOTFOUND, "DeleteResource(missing)")
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", fullUser("acme", "u1", "alice"), user("acme", "u2", "bob", base))
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.DeleteResource(ctx, "acme", scimtrail.UserResource, "u1")
		})
		_, err := getResource(t, s, "acme", scimtrail.UserResource, "u1")
		wantCode(t, err, scimtrail.ENOTFOUND, "Resource after delete")
		if _, err := getResource(t, s, "acme", scimtrail.UserResource, "u2"); err != nil {
			t.Errorf("other user gone after deleting u1: %v", err)
		}
		// The userName is free again, and the deleted user's emails no longer match.
		insertResources(t, s, "acme", user("acme", "u3", "ALICE", base))
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			p, err := tx.QueryResources(ctx, "acme", scimtrail.Query{Type: scimtrail.UserResource,
				Filter:     cmpr("emails", "value", "eq", "alice@example.com"),
				Match:      func(r scimtrail.Resource) bool { return hasEmail(r, "alice@example.com") },
				StartIndex: 1, Count: 10})
			if err != nil || p.Total != 0 {
				t.Errorf("emails of a deleted user still match: %+v, %v", p, err)
			}
			return nil
		})
	})
	t.Run("UserNameTakenInTenantIsConflict", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", user("acme", "u1", "Alice", base))
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.InsertResource(t.Context(), user("acme", "u2", "ALICE", base))
		})
		wantCode(t, err, scimtrail.ECONFLICT, "InsertResource(same userName key)")
		insertResources(t, s, "acme", user("acme", "u3", "carol", base))
		err = s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.UpdateResource(t.Context(), user("acme", "u3", "alice", base))
		})
		wantCode(t, err, scimtrail.ECONFLICT, "UpdateResource(to a taken userName key)")
	})
	t.Run("UserNameFreeAcrossTenants", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", user("acme", "u1", "alice", base))
		insertResources(t, s, "globex", user("globex", "u2", "alice", base))
		// Groups have no userName: many groups in one tenant must not collide on it.
		insertResources(t, s, "acme", group("acme", "g1", "A", base), group("acme", "g2", "B", base))
	})
	t.Run("DuplicateIDIsConflict", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", user("acme", "u1", "alice", base))
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			return tx.InsertResource(t.Context(), user("acme", "u1", "bob", base))
		})
		wantCode(t, err, scimtrail.ECONFLICT, "InsertResource(same id)")
	})
	t.Run("TenantScoping", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", fullUser("acme", "u1", "alice"), group("acme", "g1", "Eng", base))
		_, err := getResource(t, s, "globex", scimtrail.UserResource, "u1")
		wantCode(t, err, scimtrail.ENOTFOUND, "Resource via another tenant")
		_, err = getResource(t, s, "acme", scimtrail.GroupResource, "u1")
		wantCode(t, err, scimtrail.ENOTFOUND, "Resource with the wrong type")
		other := fullUser("globex", "u1", "alice")
		err = s.Update(t.Context(), "globex", func(tx scimtrail.Tx) error { return tx.UpdateResource(t.Context(), other) })
		wantCode(t, err, scimtrail.ENOTFOUND, "UpdateResource via another tenant")
		err = s.Update(t.Context(), "globex", func(tx scimtrail.Tx) error {
			return tx.DeleteResource(t.Context(), "globex", scimtrail.UserResource, "u1")
		})
		wantCode(t, err, scimtrail.ENOTFOUND, "DeleteResource via another tenant")
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			_, err := tx.UserIDByNameKey(ctx, "globex", "alice")
			wantCode(t, err, scimtrail.ENOTFOUND, "UserIDByNameKey via another tenant")
			refs, err := tx.LookupResources(ctx, "globex", []string{"u1", "g1"})
			if err != nil || len(refs) != 0 {
				t.Errorf("LookupResources via another tenant = %v, %v; want none", refs, err)
			}
			return nil
		})
		if _, err := getResource(t, s, "acme", scimtrail.UserResource, "u1"); err != nil {
			t.Errorf("resource gone after another tenant's failed update/delete: %v", err)
		}
	})
	t.Run("UserIDByNameKey", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", user("acme", "u1", "Alice", base), user("acme", "u2", "bob", base))
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			id, err := tx.UserIDByNameKey(ctx, "acme", "alice")
			if err != nil || id != "u1" {
				t.Errorf("UserIDByNameKey(alice) = %q, %v; want u1", id, err)
			}
			_, err = tx.UserIDByNameKey(ctx, "acme", "carol")
			wantCode(t, err, scimtrail.ENOTFOUND, "UserIDByNameKey(carol)")
			return nil
		})
	})
	t.Run("LookupResources", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", user("acme", "u1", "Alice", base), group("acme", "g1", "Engineers", base))
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			got, err := tx.LookupResources(ctx, "acme", []string{"g1", "missing", "u1"})
			if err != nil {
				t.Fatalf("LookupResources: %v", err)
			}
			want := []scimtrail.MemberRef{
				{Value: "g1", Type: scimtrail.GroupResource, Display: "Engineers"},
				{Value: "u1", Type: scimtrail.UserResource, Display: "Alice"},
			}
			if diff := cmp.Diff(want, sortedRefs(got)); diff != "" {
				t.Errorf("LookupResources (-want +got):\n%s", diff)
			}
			got, err = tx.LookupResources(ctx, "acme", nil)
			if err != nil || len(got) != 0 {
				t.Errorf("LookupResources(nil) = %v, %v; want none", got, err)
			}
			return nil
		})
	})
}

func testMembers(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	seed := func(t *testing.T) scimtrail.Store {
		s := open(t)
		insertResources(t, s, "acme",
			user("acme", "u1", "alice", base), user("acme", "u2", "bob", base), user("acme", "u3", "carol", base),
			group("acme", "g1", "Engineers", base), group("acme", "g2", "Admins", base), group("acme", "g3", "All", base))
		insertResources(t, s, "globex", user("globex", "u1", "mallory", base), group("globex", "g1", "Other", base))
		return s
	}
	add := func(t *testing.T, s scimtrail.Store, tenant, g string, ms ...scimtrail.Member) []scimtrail.Member {
		var added []scimtrail.Member
		update(t, s, tenant, func(ctx context.Context, tx scimtrail.Tx) error {
			var err error
			added, err = tx.AddMembers(ctx, tenant, g, ms)
			return err
		})
		return added
	}
	u := func(id string) scimtrail.Member { return scimtrail.Member{Value: id, Type: scimtrail.UserResource} }
	g := func(id string) scimtrail.Member { return scimtrail.Member{Value: id, Type: scimtrail.GroupResource} }
	members := func(t *testing.T, s scimtrail.Store, tenant, group string) []scimtrail.MemberRef {
		var got []scimtrail.MemberRef
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			var err error
			got, err = tx.Members(ctx, tenant, group)
			return err
		})
		return got
	}
	memberOf := func(t *testing.T, s scimtrail.Store, tenant, member string) []scimtrail.MemberRef {
		var got []scimtrail.MemberRef
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			var err error
			got, err = tx.MemberOf(ctx, tenant, member)
			return err
		})
		return got
	}
	sortMembers := func(ms []scimtrail.Member) []scimtrail.Member {
		out := slices.Clone(ms)
		slices.SortFunc(out, func(a, b scimtrail.Member) int { return strings.Compare(a.Value, b.Value) })
		return out
	}

	t.Run("MembersUpTo", func(t *testing.T) {
		s := seed(t)
		add(t, s, "acme", "g1", u("u3"), u("u1"), g("g2"))
		all := members(t, s, "acme", "g1")
		for _, limit := range []int{0, 2, 3, 10} {
			var got []scimtrail.MemberRef
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				var err error
				got, err = tx.MembersUpTo(ctx, "acme", "g1", limit)
				return err
			})
			want := all[:min(limit, len(all))]
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("MembersUpTo(limit %d) (-want +got):\n%s", limit, diff)
			}
		}
	})

	t.Run("AddReturnsOnlyNew", func(t *testing.T) {
		s := seed(t)
		got := add(t, s, "acme", "g1", u("u2"), u("u1"))
		if diff := cmp.Diff([]scimtrail.Member{u("u1"), u("u2")}, sortMembers(got), cmpOpts...); diff != "" {
			t.Errorf("first AddMembers (-want +got):\n%s", diff)
		}
		got = add(t, s, "acme", "g1", u("u1"), u("u3"), g("g2"), u("u3"))
		if diff := cmp.Diff([]scimtrail.Member{g("g2"), u("u3")}, sortMembers(got), cmpOpts...); diff != "" {
			t.Errorf("second AddMembers (-want +got):\n%s", diff)
		}
		got = add(t, s, "acme", "g1", u("u1"))
		if len(got) != 0 {
			t.Errorf("AddMembers of an existing member returned %v, want none", got)
		}
	})
	t.Run("MembersOrderedWithDisplay", func(t *testing.T) {
		s := seed(t)
		add(t, s, "acme", "g3", u("u3"), g("g1"), u("u1"))
		want := []scimtrail.MemberRef{
			{Value: "g1", Type: scimtrail.GroupResource, Display: "Engineers"},
			{Value: "u1", Type: scimtrail.UserResource, Display: "alice"},
			{Value: "u3", Type: scimtrail.UserResource, Display: "carol"},
		}
		if diff := cmp.Diff(want, members(t, s, "acme", "g3"), cmpOpts...); diff != "" {
			t.Errorf("Members (-want +got):\n%s", diff)
		}
		// The display follows the member resource, not the time the row was added.
		renamed := user("acme", "u1", "alice.liddell", base)
		renamed.Version = 2
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.UpdateResource(ctx, renamed) })
		if got := members(t, s, "acme", "g3"); len(got) != 3 || got[1].Display != "alice.liddell" {
			t.Errorf("Members after rename = %v, want u1 displayed as alice.liddell", got)
		}
		if got := members(t, s, "acme", "g2"); len(got) != 0 {
			t.Errorf("Members of an empty group = %v", got)
		}
	})
	// Displays are read with the rows, so renames of either side must reach them in the
	// renaming transaction, and a rolled-back rename must not.
	t.Run("DisplaysFollowRenames", func(t *testing.T) {
		s := seed(t)
		add(t, s, "acme", "g1", u("u1"), g("g2"))
		add(t, s, "acme", "g3", g("g1"))
		add(t, s, "globex", "g1", u("u1"))
		rename := func(r scimtrail.Resource, version int64) {
			r.Version = version
			update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.UpdateResource(ctx, r) })
		}
		rename(user("acme", "u1", "Alice", base), 2) // case only: the userName key stays
		rename(group("acme", "g1", "Engineering", base), 2)
		rename(group("acme", "g2", "Administrators", base), 2)
		want := []scimtrail.MemberRef{
			{Value: "g2", Type: scimtrail.GroupResource, Display: "Administrators"},
			{Value: "u1", Type: scimtrail.UserResource, Display: "Alice"},
		}
		if diff := cmp.Diff(want, members(t, s, "acme", "g1"), cmpOpts...); diff != "" {
			t.Errorf("Members(g1) after renames (-want +got):\n%s", diff)
		}
		wantOf := []scimtrail.MemberRef{{Value: "g1", Type: scimtrail.GroupResource, Display: "Engineering"}}
		if diff := cmp.Diff(wantOf, memberOf(t, s, "acme", "u1"), cmpOpts...); diff != "" {
			t.Errorf("MemberOf(u1) after the group's rename (-want +got):\n%s", diff)
		}
		wantOf = []scimtrail.MemberRef{{Value: "g3", Type: scimtrail.GroupResource, Display: "All"}}
		if diff := cmp.Diff(wantOf, memberOf(t, s, "acme", "g1"), cmpOpts...); diff != "" {
			t.Errorf("MemberOf(g1) (-want +got):\n%s", diff)
		}
		if got := members(t, s, "acme", "g3"); len(got) != 1 || got[0].Display != "Engineering" {
			t.Errorf("Members(g3) = %v, want g1 displayed as Engineering", got)
		}
		if got := members(t, s, "globex", "g1"); len(got) != 1 || got[0].Display != "mallory" {
			t.Errorf("acme's rename reached globex: %v", got)
		}
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			r := user("acme", "u1", "rolled.back", base)
			r.Version = 3
			if err := tx.UpdateResource(t.Context(), r); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("Update with a failing fn succeeded")
		}
		if got := members(t, s, "acme", "g1"); len(got) != 2 || got[1].Display != "Alice" {
			t.Errorf("Members(g1) after a rolled-back rename = %v, want u1 still Alice", got)
		}
	})
	t.Run("MemberOf", func(t *testing.T) {
		s := seed(t)
		add(t, s, "acme", "g2", u("u1"))
		add(t, s, "acme", "g1", u("u1"), u("u2"))
		add(t, s, "acme", "g3", g("g1"))
		want := []scimtrail.MemberRef{
			{Value: "g1", Type: scimtrail.GroupResource, Display: "Engineers"},
			{Value: "g2", Type: scimtrail.GroupResource, Display: "Admins"},
		}
		if diff := cmp.Diff(want, memberOf(t, s, "acme", "u1"), cmpOpts...); diff != "" {
			t.Errorf("MemberOf(u1) (-want +got):\n%s", diff)
		}
		want = []scimtrail.MemberRef{{Value: "g3", Type: scimtrail.GroupResource, Display: "All"}}
		if diff := cmp.Diff(want, memberOf(t, s, "acme", "g1"), cmpOpts...); diff != "" {
			t.Errorf("MemberOf(g1) (-want +got):\n%s", diff)
		}
		if got := memberOf(t, s, "acme", "u3"); len(got) != 0 {
			t.Errorf("MemberOf(u3) = %v, want none", got)
		}
	})
	t.Run("RemoveReturnsRemoved", func(t *testing.T) {
		s := seed(t)
		add(t, s, "acme", "g1", u("u1"), u("u2"), g("g2"))
		var removed []string
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			var err error
			removed, err = tx.RemoveMembers(ctx, "acme", "g1", []string{"u2", "u3", "g2", "nobody"})
			return err
		})
		if diff := cmp.Diff([]string{"g2", "u2"}, sortedStrings(removed)); diff != "" {
			t.Errorf("RemoveMembers (-want +got):\n%s", diff)
		}
		want := []scimtrail.MemberRef{{Value: "u1", Type: scimtrail.UserResource, Display: "alice"}}
		if diff := cmp.Diff(want, members(t, s, "acme", "g1"), cmpOpts...); diff != "" {
			t.Errorf("Members after remove (-want +got):\n%s", diff)
		}
	})
	t.Run("TenantScoped", func(t *testing.T) {
		s := seed(t)
		add(t, s, "acme", "g1", u("u1"))
		add(t, s, "globex", "g1", u("u1"))
		if got := members(t, s, "acme", "g1"); len(got) != 1 || got[0].Display != "alice" {
			t.Errorf("Members(acme, g1) = %v, want only acme's alice", got)
		}
		if got := memberOf(t, s, "globex", "u1"); len(got) != 1 || got[0].Display != "Other" {
			t.Errorf("MemberOf(globex, u1) = %v, want only globex's group", got)
		}
		var removed []string
		update(t, s, "globex", func(ctx context.Context, tx scimtrail.Tx) error {
			var err error
			removed, err = tx.RemoveMembers(ctx, "globex", "g1", []string{"u1"})
			return err
		})
		if len(removed) != 1 || len(members(t, s, "acme", "g1")) != 1 {
			t.Errorf("removing globex's membership touched acme's: removed %v", removed)
		}
	})
	t.Run("DeleteResourceRemovesMembershipsOnBothSides", func(t *testing.T) {
		s := seed(t)
		add(t, s, "acme", "g1", u("u1"), u("u2"))
		add(t, s, "acme", "g2", u("u1"), g("g1"))
		add(t, s, "acme", "g3", g("g1"))
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			if err := tx.DeleteResource(ctx, "acme", scimtrail.UserResource, "u1"); err != nil {
				return err
			}
			return tx.DeleteResource(ctx, "acme", scimtrail.GroupResource, "g1")
		})
		if got := memberOf(t, s, "acme", "u1"); len(got) != 0 {
			t.Errorf("deleted user still member of %v", got)
		}
		if got := memberOf(t, s, "acme", "u2"); len(got) != 0 {
			t.Errorf("member of a deleted group still lists it: %v", got)
		}
		if got := members(t, s, "acme", "g1"); len(got) != 0 {
			t.Errorf("deleted group still has members %v", got)
		}
		if got := members(t, s, "acme", "g2"); len(got) != 0 {
			t.Errorf("g2 still lists deleted members: %v", got)
		}
		if got := members(t, s, "acme", "g3"); len(got) != 0 {
			t.Errorf("g3 still lists deleted group: %v", got)
		}
		// Re-adding a deleted id's rows is possible and new again: nothing stale was left.
		insertResources(t, s, "acme", group("acme", "g1", "Engineers again", base))
		if got := add(t, s, "acme", "g1", u("u2")); len(got) != 1 {
			t.Errorf("AddMembers to re-created group = %v, want u2 as new", got)
		}
	})
}

func sortedStrings(ss []string) []string { return slices.Sorted(slices.Values(ss)) }
