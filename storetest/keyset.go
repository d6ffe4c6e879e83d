package storetest

import (
	"context"
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
