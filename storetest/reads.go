package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
)

// testUserWithGroups checks that UserWithGroups and UserWithGroupsByName answer what
// Resource and MemberOf answer together, under View and under Peek, that Peek sees each
// commit as it lands, and that a missing user, a group's id and another tenant's user are
// ENOTFOUND.
func testUserWithGroups(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	insertResources(t, s, "acme",
		user("acme", "u1", "Alice@Example.com", base), user("acme", "u2", "bob", base), user("acme", "u3", "Zoë", base),
		// A displayName that JSON must escape, and a group whose display is empty.
		group("acme", "g1", `Eng "core" \ 🚀`, base), group("acme", "g0", "", base), group("acme", "g2", "Admins", base))
	insertResources(t, s, "globex", user("globex", "u9", "mallory", base))
	u := func(id string) scimtrail.Member { return scimtrail.Member{Value: id, Type: scimtrail.UserResource} }
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		for _, g := range []string{"g2", "g1", "g0"} {
			if _, err := tx.AddMembers(ctx, "acme", g, []scimtrail.Member{u("u1")}); err != nil {
				return err
			}
		}
		_, err := tx.AddMembers(ctx, "acme", "g2", []scimtrail.Member{u("u2"), {Value: "g1", Type: scimtrail.GroupResource}})
		return err
	})

	// check compares both lookups of every user with Resource + MemberOf read by View.
	check := func(t *testing.T, read func(ctx context.Context, fn func(scimtrail.ReadTx) error) error, name string) {
		t.Helper()
		for _, id := range []string{"u1", "u2", "u3"} {
			var want scimtrail.Resource
			var wantGroups []scimtrail.MemberRef
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				var err error
				if want, err = tx.Resource(ctx, "acme", scimtrail.UserResource, id); err != nil {
					return err
				}
				wantGroups, err = tx.MemberOf(ctx, "acme", id)
				return err
			})
			err := read(context.Background(), func(tx scimtrail.ReadTx) error {
				ctx := context.Background()
				got, groups, err := tx.UserWithGroups(ctx, "acme", id)
				if err != nil {
					t.Fatalf("%s: UserWithGroups(%s): %v", name, id, err)
				}
				if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
					t.Errorf("%s: UserWithGroups(%s) resource (-Resource +got):\n%s", name, id, diff)
				}
				if diff := cmp.Diff(wantGroups, groups, cmpOpts...); diff != "" {
					t.Errorf("%s: UserWithGroups(%s) groups (-MemberOf +got):\n%s", name, id, diff)
				}
				byName, byNameGroups, err := tx.UserWithGroupsByName(ctx, "acme", want.UserNameKey)
				if err != nil {
					t.Fatalf("%s: UserWithGroupsByName(%q): %v", name, want.UserNameKey, err)
				}
				if diff := cmp.Diff(want, byName, cmpOpts...); diff != "" {
					t.Errorf("%s: UserWithGroupsByName(%q) (-Resource +got):\n%s", name, want.UserNameKey, diff)
				}
				if diff := cmp.Diff(wantGroups, byNameGroups, cmpOpts...); diff != "" {
					t.Errorf("%s: UserWithGroupsByName(%q) groups (-MemberOf +got):\n%s", name, want.UserNameKey, diff)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	check(t, s.View, "View")
	check(t, s.Peek, "Peek")

	// The shape, so that the comparisons above are not between two empty answers.
	peekGroups := func() []scimtrail.MemberRef {
		var groups []scimtrail.MemberRef
		err := s.Peek(context.Background(), func(tx scimtrail.ReadTx) error {
			var err error
			_, groups, err = tx.UserWithGroups(context.Background(), "acme", "u1")
			return err
		})
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		return groups
	}
	want := []scimtrail.MemberRef{
		{Value: "g0", Type: scimtrail.GroupResource, Display: ""},
		{Value: "g1", Type: scimtrail.GroupResource, Display: `Eng "core" \ 🚀`},
		{Value: "g2", Type: scimtrail.GroupResource, Display: "Admins"},
	}
	if diff := cmp.Diff(want, peekGroups()); diff != "" {
		t.Errorf("groups of u1 (-want +got):\n%s", diff)
	}
	// Peek has no snapshot of its own: the next call sees the commit.
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		_, err := tx.RemoveMembers(ctx, "acme", "g1", []string{"u1"})
		return err
	})
	if diff := cmp.Diff([]scimtrail.MemberRef{want[0], want[2]}, peekGroups()); diff != "" {
		t.Errorf("groups of u1 after its removal from g1 (-want +got):\n%s", diff)
	}

	testTokenAndUser(t, s)

	for _, m := range []struct{ tenant, id, key string }{
		{"acme", "missing", "missing"},
		{"acme", "g2", "admins"},  // a group is not a user
		{"acme", "u9", "mallory"}, // globex's user
		{"nosuch", "u1", Fold("alice@example.com")},
	} {
		err := s.Peek(context.Background(), func(tx scimtrail.ReadTx) error {
			_, _, err := tx.UserWithGroups(context.Background(), m.tenant, m.id)
			wantCode(t, err, scimtrail.ENOTFOUND, "UserWithGroups("+m.tenant+", "+m.id+")")
			_, _, err = tx.UserWithGroupsByName(context.Background(), m.tenant, m.key)
			wantCode(t, err, scimtrail.ENOTFOUND, "UserWithGroupsByName("+m.tenant+", "+m.key+")")
			return nil
		})
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
	}
}

// testTokenAndUser checks TokenAndUser against TokenByHash and UserWithGroups on the
// users of testUserWithGroups: with and without the user, for a revoked token, and
// ENOTFOUND for an unknown hash whether or not the user exists.
func testTokenAndUser(t *testing.T, s scimtrail.Store) {
	tok := scimtrail.Token{ID: "tok_r", Tenant: "acme", Kind: scimtrail.TokenSCIM, Name: "reader",
		Hash: hashOf("reader-secret"), Created: base, Expires: base.Add(time.Hour)}
	update(t, s, scimtrail.SystemLog, func(ctx context.Context, tx scimtrail.Tx) error { return tx.InsertToken(ctx, tok) })
	check := func(what string) {
		t.Helper()
		for _, c := range []struct{ tenant, id string }{{"acme", "u1"}, {"acme", "u2"}, {"acme", "missing"}, {"acme", "g2"}, {"globex", "u9"}, {"nosuch", "u1"}} {
			err := s.Peek(context.Background(), func(tx scimtrail.ReadTx) error {
				ctx := context.Background()
				wantTok, err := tx.TokenByHash(ctx, tok.Hash)
				if err != nil {
					return err
				}
				wantUser, wantGroups, err := tx.UserWithGroups(ctx, c.tenant, c.id)
				wantFound := err == nil
				if !wantFound && scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
					return err
				}
				gotTok, user, groups, found, err := tx.TokenAndUser(ctx, tok.Hash, c.tenant, c.id)
				if err != nil {
					t.Fatalf("%s: TokenAndUser(%s, %s): %v", what, c.tenant, c.id, err)
				}
				if diff := cmp.Diff(wantTok, gotTok, cmpOpts...); diff != "" {
					t.Errorf("%s: TokenAndUser(%s, %s) token (-TokenByHash +got):\n%s", what, c.tenant, c.id, diff)
				}
				if found != wantFound {
					t.Fatalf("%s: TokenAndUser(%s, %s): user found %v, want %v", what, c.tenant, c.id, found, wantFound)
				}
				if diff := cmp.Diff(wantUser, user, cmpOpts...); found && diff != "" {
					t.Errorf("%s: TokenAndUser(%s, %s) user (-UserWithGroups +got):\n%s", what, c.tenant, c.id, diff)
				}
				if diff := cmp.Diff(wantGroups, groups, cmpOpts...); found && diff != "" {
					t.Errorf("%s: TokenAndUser(%s, %s) groups (-UserWithGroups +got):\n%s", what, c.tenant, c.id, diff)
				}
				if !found && (user.ID != "" || groups != nil) {
					t.Errorf("%s: TokenAndUser(%s, %s): no user, but got %+v with groups %v", what, c.tenant, c.id, user, groups)
				}
				_, _, _, _, err = tx.TokenAndUser(ctx, hashOf("not a secret"), c.tenant, c.id)
				wantCode(t, err, scimtrail.ENOTFOUND, "TokenAndUser with an unknown hash")
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	check("usable token")
	// A revoked token is still found: the service decides what revocation means.
	revoked := tok
	revoked.Revoked = base.Add(time.Minute)
	update(t, s, scimtrail.SystemLog, func(ctx context.Context, tx scimtrail.Tx) error { return tx.UpdateToken(ctx, revoked) })
	check("revoked token")
	err := s.Peek(context.Background(), func(tx scimtrail.ReadTx) error {
		got, _, _, _, err := tx.TokenAndUser(context.Background(), tok.Hash, "acme", "u1")
		if err == nil && !got.Revoked.Equal(revoked.Revoked) {
			t.Errorf("TokenAndUser after revocation: revoked %v, want %v", got.Revoked, revoked.Revoked)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
