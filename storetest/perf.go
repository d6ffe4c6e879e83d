package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// testBatchReads checks that MembersMany and MemberOfMany answer exactly what Members and
// MemberOf answer one id at a time, keyed by id, tenants kept apart.
func testBatchReads(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	insertResources(t, s, "acme",
		user("acme", "u1", "alice", base), user("acme", "u2", "bob", base), user("acme", "u3", "carol", base),
		group("acme", "g1", "Engineers", base), group("acme", "g2", "Admins", base), group("acme", "g3", "Empty", base))
	insertResources(t, s, "globex", user("globex", "u1", "mallory", base), group("globex", "g1", "Other", base))
	u := func(id string) scimtrail.Member { return scimtrail.Member{Value: id, Type: scimtrail.UserResource} }
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if _, err := tx.AddMembers(ctx, "acme", "g1", []scimtrail.Member{u("u2"), u("u1"), {Value: "g2", Type: scimtrail.GroupResource}}); err != nil {
			return err
		}
		_, err := tx.AddMembers(ctx, "acme", "g2", []scimtrail.Member{u("u1"), u("u3")})
		return err
	})
	update(t, s, "globex", func(ctx context.Context, tx scimtrail.Tx) error {
		_, err := tx.AddMembers(ctx, "globex", "g1", []scimtrail.Member{u("u1")})
		return err
	})
	// Enough ids to need more than one chunk where a backend chunks its IN lists.
	many := []string{"g1", "g2", "g3", "u1", "u2", "u3", "missing"}
	for i := range 1200 {
		many = append(many, "x"+string(rune('a'+i%26))+string(rune('a'+i/26%26)))
	}
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		for _, ids := range [][]string{nil, {"g1"}, many} {
			members, err := tx.MembersMany(ctx, "acme", ids)
			if err != nil {
				t.Fatalf("MembersMany: %v", err)
			}
			groups, err := tx.MemberOfMany(ctx, "acme", ids)
			if err != nil {
				t.Fatalf("MemberOfMany: %v", err)
			}
			wantMembers, wantGroups := map[string][]scimtrail.MemberRef{}, map[string][]scimtrail.MemberRef{}
			for _, id := range ids {
				m, err := tx.Members(ctx, "acme", id)
				if err != nil {
					return err
				}
				if len(m) > 0 {
					wantMembers[id] = m
				}
				g, err := tx.MemberOf(ctx, "acme", id)
				if err != nil {
					return err
				}
				if len(g) > 0 {
					wantGroups[id] = g
				}
			}
			if diff := cmp.Diff(wantMembers, members, cmpOpts...); diff != "" {
				t.Errorf("MembersMany(%d ids) (-Members one by one +got):\n%s", len(ids), diff)
			}
			if diff := cmp.Diff(wantGroups, groups, cmpOpts...); diff != "" {
				t.Errorf("MemberOfMany(%d ids) (-MemberOf one by one +got):\n%s", len(ids), diff)
			}
		}
		return nil
	})
	// Spot-check the shape, so that the comparison above is not between two empty maps.
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		got, err := tx.MembersMany(ctx, "acme", []string{"g1", "g2", "g3"})
		if err != nil {
			return err
		}
		want := map[string][]scimtrail.MemberRef{
			"g1": {{Value: "g2", Type: scimtrail.GroupResource, Display: "Admins"}, {Value: "u1", Type: scimtrail.UserResource, Display: "alice"}, {Value: "u2", Type: scimtrail.UserResource, Display: "bob"}},
			"g2": {{Value: "u1", Type: scimtrail.UserResource, Display: "alice"}, {Value: "u3", Type: scimtrail.UserResource, Display: "carol"}},
		}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("MembersMany (-want +got):\n%s", diff)
		}
		of, err := tx.MemberOfMany(ctx, "acme", []string{"u1", "u3", "g2"})
		if err != nil {
			return err
		}
		wantOf := map[string][]scimtrail.MemberRef{
			"u1": {{Value: "g1", Type: scimtrail.GroupResource, Display: "Engineers"}, {Value: "g2", Type: scimtrail.GroupResource, Display: "Admins"}},
			"u3": {{Value: "g2", Type: scimtrail.GroupResource, Display: "Admins"}},
			"g2": {{Value: "g1", Type: scimtrail.GroupResource, Display: "Engineers"}},
		}
		if diff := cmp.Diff(wantOf, of, cmpOpts...); diff != "" {
			t.Errorf("MemberOfMany (-want +got):\n%s", diff)
		}
		return nil
	})
}

// testResourceCounts checks that an unfiltered page's Total (the trigger-kept count of
// migration 00013) follows inserts, deletes and rolled-back writes, per tenant and type,
// and agrees with counting through a filter.
func testResourceCounts(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	// filtered is counted twice: from a full first page of one (a count is needed) and
	// from a short first page of up to 100 (the page is every match).
	totals := func(tenant string) (users, groups, filtered int) {
		t.Helper()
		var short int
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			for _, q := range []struct {
				q   scimtrail.Query
				out *int
			}{
				{scimtrail.Query{Type: scimtrail.UserResource, Count: 1}, &users},
				{scimtrail.Query{Type: scimtrail.GroupResource, Count: 1}, &groups},
				{scimtrail.Query{Type: scimtrail.UserResource, Count: 1, Filter: cmpr("userName", "", filter.Pr, nil)}, &filtered},
				{scimtrail.Query{Type: scimtrail.UserResource, Count: 100, Filter: cmpr("userName", "", filter.Pr, nil)}, &short},
			} {
				p, err := tx.QueryResources(ctx, tenant, q.q)
				if err != nil {
					return err
				}
				*q.out = p.Total
			}
			return nil
		})
		if short != filtered {
			t.Fatalf("%s: users by filter: %d from a full page, %d from a short one", tenant, filtered, short)
		}
		return
	}
	check := func(tenant string, wantUsers, wantGroups int) {
		t.Helper()
		u, g, f := totals(tenant)
		if u != wantUsers || g != wantGroups || f != wantUsers {
			t.Fatalf("%s: totals users %d, groups %d, users by filter %d; want %d, %d, %d", tenant, u, g, f, wantUsers, wantGroups, wantUsers)
		}
	}
	check("acme", 0, 0)
	insertResources(t, s, "acme", user("acme", "u1", "alice", base), user("acme", "u2", "bob", base), user("acme", "u3", "carol", base), group("acme", "g1", "Engineers", base))
	insertResources(t, s, "globex", user("globex", "u1", "mallory", base))
	check("acme", 3, 1)
	check("globex", 1, 0)
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.DeleteResource(ctx, "acme", scimtrail.UserResource, "u2")
	})
	check("acme", 2, 1)
	// A write that fails leaves no trace in the count.
	err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
		if err := tx.InsertResource(t.Context(), user("acme", "u9", "dave", base)); err != nil {
			return err
		}
		if err := tx.DeleteResource(t.Context(), "acme", scimtrail.GroupResource, "g1"); err != nil {
			return err
		}
		return errors.New("abort")
	})
	if err == nil {
		t.Fatal("the aborted Update succeeded")
	}
	check("acme", 2, 1)
	check("globex", 1, 0)
}

// testMemberOfCreated checks MemberOfCreated against MemberOfMany: for ids created within
// the span it answers the same, whatever else (other users, groups as members, another
// tenant's rows) was created in the span; and it reads the creation times AddMembers stored.
func testMemberOfCreated(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	var rs []scimtrail.Resource
	for i := range 8 {
		rs = append(rs, user("acme", fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i), at(i)))
	}
	rs = append(rs, group("acme", "g1", "Engineers", at(3)), group("acme", "g2", "Admins", at(0)), group("acme", "g3", "All", at(9)))
	insertResources(t, s, "acme", rs...)
	insertResources(t, s, "globex", user("globex", "u3", "other", at(3)), group("globex", "g1", "Other", at(3)))
	u := func(id string) scimtrail.Member { return scimtrail.Member{Value: id, Type: scimtrail.UserResource} }
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		for _, m := range []struct {
			group   string
			members []scimtrail.Member
		}{
			{"g1", []scimtrail.Member{u("u1"), u("u2"), u("u3"), u("u5")}},
			{"g2", []scimtrail.Member{u("u3"), u("u4"), {Value: "g1", Type: scimtrail.GroupResource}}},
			{"g3", []scimtrail.Member{u("u0"), u("u3"), u("u7")}},
		} {
			if _, err := tx.AddMembers(ctx, "acme", m.group, m.members); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, "globex", func(ctx context.Context, tx scimtrail.Tx) error {
		_, err := tx.AddMembers(ctx, "globex", "g1", []scimtrail.Member{u("u3")})
		return err
	})
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		for _, span := range [][2]int{{0, 7}, {2, 4}, {3, 3}, {5, 6}, {1, 1}} {
			var ids []string
			for i := span[0]; i <= span[1]; i++ {
				ids = append(ids, fmt.Sprintf("u%d", i))
			}
			want, err := tx.MemberOfMany(ctx, "acme", ids)
			if err != nil {
				return err
			}
			got, err := tx.MemberOfCreated(ctx, "acme", ids, at(span[0]), at(span[1]))
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("MemberOfCreated(u%d…u%d) (-MemberOfMany +got):\n%s", span[0], span[1], diff)
			}
		}
		got, err := tx.MemberOfCreated(ctx, "acme", []string{"u3"}, at(3), at(3))
		if err != nil {
			return err
		}
		want := map[string][]scimtrail.MemberRef{"u3": {
			{Value: "g1", Type: scimtrail.GroupResource, Display: "Engineers"},
			{Value: "g2", Type: scimtrail.GroupResource, Display: "Admins"},
			{Value: "g3", Type: scimtrail.GroupResource, Display: "All"},
		}}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("MemberOfCreated(u3) (-want +got):\n%s", diff)
		}
		// Outside the span nothing is found, even for a member id asked for.
		if got, err := tx.MemberOfCreated(ctx, "acme", []string{"u3"}, at(4), at(8)); err != nil || len(got) != 0 {
			t.Errorf("MemberOfCreated(u3) over a span without u3 = %v, %v; want nothing", got, err)
		}
		return nil
	})
}

// testKeysOnly checks a KeysOnly page against the same page read in full: the same
// resources in the same order with the same Tenant, Type, ID, Version and Created (when the
// backend honours it), and ResourcesByID giving back exactly the full rows, skipping ids
// that do not exist or are of another type.
func testKeysOnly(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	all := seedQuery(t, s)
	for _, q := range []scimtrail.Query{
		{Type: scimtrail.UserResource, Count: 3},
		{Type: scimtrail.UserResource, StartIndex: 3, Count: 10},
		{Type: scimtrail.UserResource, Count: 2, Filter: cmpr("active", "", filter.Eq, true)},
		{Type: scimtrail.UserResource, Count: 10, SortBy: "userName", Descending: true},
		{Type: scimtrail.GroupResource, Count: 10},
	} {
		var full, keys scimtrail.Page
		var byID []scimtrail.Resource
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			var err error
			if full, err = tx.QueryResources(ctx, "acme", q); err != nil {
				return err
			}
			k := q
			k.KeysOnly = true
			if keys, err = tx.QueryResources(ctx, "acme", k); err != nil {
				return err
			}
			byID, err = tx.ResourcesByID(ctx, "acme", q.Type, append(ids(full.Resources), "missing", "u1"))
			return err
		})
		if full.KeysOnly || keys.Total != full.Total || len(keys.Resources) != len(full.Resources) || len(full.Resources) == 0 {
			t.Fatalf("%+v: full page %d of %d (keys only %v), keys page %d of %d", q, len(full.Resources), full.Total, full.KeysOnly, len(keys.Resources), keys.Total)
		}
		for i, r := range full.Resources {
			k := keys.Resources[i]
			if !keys.KeysOnly {
				k = scimtrail.Resource{Tenant: k.Tenant, Type: k.Type, ID: k.ID, Version: k.Version, Created: k.Created}
			}
			want := scimtrail.Resource{Tenant: r.Tenant, Type: r.Type, ID: r.ID, Version: r.Version, Created: r.Created}
			if diff := cmp.Diff(want, k, cmpOpts...); diff != "" {
				t.Errorf("%+v: keys of resource %d (-full +keys):\n%s", q, i, diff)
			}
		}
		slices.SortFunc(byID, func(a, b scimtrail.Resource) int { return strings.Compare(a.ID, b.ID) })
		want := slices.Clone(full.Resources)
		if q.Type == scimtrail.UserResource && !slices.Contains(ids(want), "u1") {
			for _, r := range all {
				if r.ID == "u1" {
					want = append(want, r)
				}
			}
		}
		slices.SortFunc(want, func(a, b scimtrail.Resource) int { return strings.Compare(a.ID, b.ID) })
		if diff := cmp.Diff(want, byID, cmpOpts...); diff != "" {
			t.Errorf("%+v: ResourcesByID (-want +got):\n%s", q, diff)
		}
	}
}
