package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// testKeyset pages through the query users with Query.After (cursor pagination, RFC 9865):
// every page continues exactly where the last ended, in both directions, with exact and
// in-memory filters, and Total always counts every match.
func testKeyset(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	seedQuery(t, s)
	// Two users created in the same microsecond: the id breaks the tie.
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		at := base.Add(10 * time.Minute)
		for _, id := range []string{"u8", "u7"} {
			if err := tx.InsertResource(ctx, user("acme", id, "tie-"+id, at)); err != nil {
				return err
			}
		}
		return nil
	})
	all := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"}
	titleEngineer := cmpr("title", "", filter.Eq, "Engineer")
	cases := []struct {
		name  string
		q     scimtrail.Query
		match func(scimtrail.Resource) bool
		want  []string
	}{
		{"Created", scimtrail.Query{}, nil, all},
		{"CreatedDescending", scimtrail.Query{Descending: true}, nil, reversed(all)},
		{"ByID", scimtrail.Query{SortBy: "id"}, nil, all},
		{"ExactFilter", scimtrail.Query{Filter: cmpr("active", "", filter.Eq, true)}, func(r scimtrail.Resource) bool { return r.Active },
			[]string{"u1", "u3", "u4", "u5", "u7", "u8"}},
		{"InMemoryFilter", scimtrail.Query{Filter: titleEngineer}, func(r scimtrail.Resource) bool { return title(r) == "Engineer" },
			[]string{"u1", "u4", "u6"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.Type, q.Match, q.Count = scimtrail.UserResource, tc.match, 2
			var got []string
			for page := 0; page < 10; page++ {
				var p scimtrail.Page
				view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
					var err error
					p, err = tx.QueryResources(ctx, "acme", q)
					return err
				})
				if p.Total != len(tc.want) {
					t.Fatalf("page %d: Total %d, want %d", page, p.Total, len(tc.want))
				}
				if len(p.Resources) == 0 {
					break
				}
				for _, r := range p.Resources {
					got = append(got, r.ID)
				}
				pos := scimtrail.PositionOf(p.Resources[len(p.Resources)-1])
				q.After = &pos
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("pages gave %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("UnsupportedSort", func(t *testing.T) {
		err := s.View(context.Background(), func(tx scimtrail.ReadTx) error {
			_, err := tx.QueryResources(context.Background(), "acme", scimtrail.Query{Type: scimtrail.UserResource, SortBy: "userName", Count: 2, After: &scimtrail.Position{ID: "u1"}})
			return err
		})
		if scimtrail.ErrorCode(err) != scimtrail.EINVALID {
			t.Errorf("keyset page sorted by userName: %v, want EINVALID", err)
		}
	})
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// testDeepPages reads unfiltered startIndex pages at every depth, several times over (a
// backend may remember where pages begin after the first reads, see internal/listpos), and
// again after inserts, deletes, a rolled-back insert and updates: each page must be exactly
// that slice of the creation order at that moment, with ties on the created time broken by
// id, and resources of another tenant or type never counted.
func testDeepPages(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	const n = 350
	var rs []scimtrail.Resource
	for i := range n {
		// Two users per microsecond, ids out of creation order, so ties need the id.
		id := fmt.Sprintf("u%03d", (i*7919)%1000)
		rs = append(rs, user("acme", id, "user-"+id, base.Add(time.Duration(i/2)*time.Microsecond)))
	}
	insertResources(t, s, "acme", rs...)
	insertResources(t, s, "acme", group("acme", "g1", "Group", base))
	insertResources(t, s, "globex", user("globex", "u000", "other", base))
	order := func() []string {
		var all []string
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			p, err := tx.QueryResources(ctx, "acme", scimtrail.Query{Type: scimtrail.UserResource, Count: 10000})
			all = ids(p.Resources)
			return err
		})
		return all
	}
	check := func(round string) {
		t.Helper()
		all := order()
		for pass := range 3 {
			for start := 1; start <= len(all)+2; start += 13 {
				var p scimtrail.Page
				view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
					var err error
					p, err = tx.QueryResources(ctx, "acme", scimtrail.Query{Type: scimtrail.UserResource, StartIndex: start, Count: 25})
					return err
				})
				want := all[min(start-1, len(all)):min(start-1+25, len(all))]
				if p.Total != len(all) || !slices.Equal(ids(p.Resources), want) {
					t.Fatalf("%s, pass %d, startIndex %d: total %d, page %v; want total %d, page %v",
						round, pass, start, p.Total, ids(p.Resources), len(all), want)
				}
			}
		}
	}
	check("seeded")
	// Inserts before, between and after existing positions.
	insertResources(t, s, "acme", user("acme", "a-first", "first", base.Add(-time.Second)),
		user("acme", "m-middle", "middle", base.Add(50*time.Microsecond)), user("acme", "z-last", "last", base.Add(time.Hour)))
	check("after inserts")
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		for _, id := range []string{"a-first", rs[10].ID, rs[200].ID} {
			if err := tx.DeleteResource(ctx, "acme", scimtrail.UserResource, id); err != nil {
				return err
			}
		}
		return nil
	})
	check("after deletes")
	// A delete and an insert in one transaction leave the count as it was.
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.DeleteResource(ctx, "acme", scimtrail.UserResource, rs[5].ID); err != nil {
			return err
		}
		return tx.InsertResource(ctx, user("acme", "n-new", "new", base.Add(100*time.Microsecond)))
	})
	check("after a delete and an insert")
	err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
		if err := tx.InsertResource(t.Context(), user("acme", "0-rolled-back", "rolled", base.Add(-time.Hour))); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("Update with a failing fn succeeded")
	}
	check("after a rolled-back insert")
	renamed := user("acme", rs[100].ID, "renamed", rs[100].Created)
	renamed.Version = 2
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.UpdateResource(ctx, renamed) })
	check("after an update")
}
