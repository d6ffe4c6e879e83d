package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
)

func cmpr(attr, sub string, op filter.Op, v any) *filter.Compare {
	return &filter.Compare{Path: filter.AttrPath{Attr: attr, Sub: sub}, Op: op, Value: v}
}
func and(l, r filter.Expr) filter.Expr { return &filter.Logical{Op: "and", Left: l, Right: r} }
func or(l, r filter.Expr) filter.Expr  { return &filter.Logical{Op: "or", Left: l, Right: r} }
func not(x filter.Expr) filter.Expr    { return &filter.Not{X: x} }

func hasEmail(r scimtrail.Resource, v string) bool { return slices.Contains(r.Emails, Fold(v)) }

// title reads a non-indexed attribute from the stored JSON, the way an evaluator would.
func title(r scimtrail.Resource) string {
	var a struct{ Title string }
	_ = json.Unmarshal(r.Attributes, &a)
	return a.Title
}

// queryUsers are the users of tenant acme, in creation order. Their attributes are chosen
// so each filter below selects a different subset.
func queryUsers() []scimtrail.Resource {
	mk := func(i int, id, userName, ext, display string, active bool, titl string, emails ...string) scimtrail.Resource {
		at := base.Add(time.Duration(i) * time.Minute)
		r := user("acme", id, userName, at)
		r.ExternalID = ext
		r.DisplayName = display
		r.Active = active
		for _, e := range emails {
			r.Emails = append(r.Emails, Fold(e))
		}
		r.Attributes = json.RawMessage(fmt.Sprintf(`{"userName":%q,"title":%q}`, userName, titl))
		r.LastModified = at.Add(time.Duration(i) * time.Second)
		return r
	}
	return []scimtrail.Resource{
		mk(1, "u1", "alice", "e-1", "Alice Liddell", true, "Engineer", "alice@example.com"),
		mk(2, "u2", "BOB", "e-2", "Bob Builder", false, "Manager", "bob@example.com", "b@work.example"),
		// Decomposed C + combining cedilla: its key is the NFC, lower-case "çelik".
		mk(3, "u3", "C\u0327elik", "e-3", "Deniz Çelik", true, "Designer", "deniz@example.com"),
		mk(4, "u4", "dave", "", "", true, "Engineer"),
		mk(5, "u5", "erin", "e-5", "Erin", true, "Support", "erin@example.net"),
		mk(6, "u6", "Frank", "e-6", "Frank", false, "Engineer", "frank@example.com"),
	}
}

func seedQuery(t *testing.T, s scimtrail.Store) []scimtrail.Resource {
	t.Helper()
	users := queryUsers()
	// Inserted out of creation order, so "creation order" is the backend's doing.
	insertResources(t, s, "acme", users[3], users[0], users[5], users[1], users[4], users[2])
	insertResources(t, s, "acme", group("acme", "g1", "Engineers", base), group("acme", "g2", "alice", base.Add(time.Hour)))
	// Another tenant's look-alikes must never show up.
	other := queryUsers()
	for i := range other {
		other[i].Tenant = "globex"
	}
	insertResources(t, s, "globex", other...)
	return users
}

func testQuery(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	users := seedQuery(t, s)
	byID := map[string]scimtrail.Resource{}
	for _, u := range users {
		byID[u.ID] = u
	}
	mod := func(min int) string {
		return base.Add(time.Duration(min)*time.Minute + 30*time.Second).Format(time.RFC3339Nano)
	}
	after := func(min int) time.Time { return base.Add(time.Duration(min)*time.Minute + 30*time.Second) }

	cases := []struct {
		name   string
		filter filter.Expr
		match  func(scimtrail.Resource) bool
		want   []string
	}{
		{"All", nil, nil, []string{"u1", "u2", "u3", "u4", "u5", "u6"}},
		{"IDEq", cmpr("id", "", filter.Eq, "u3"), func(r scimtrail.Resource) bool { return r.ID == "u3" }, []string{"u3"}},
		{"IDCaseExact", cmpr("id", "", filter.Eq, "U3"), func(r scimtrail.Resource) bool { return r.ID == "U3" }, nil},
		{"ExternalIDEq", cmpr("externalId", "", filter.Eq, "e-2"), func(r scimtrail.Resource) bool { return r.ExternalID == "e-2" }, []string{"u2"}},
		{"ExternalIDPr", cmpr("externalId", "", filter.Pr, nil), func(r scimtrail.Resource) bool { return r.ExternalID != "" }, []string{"u1", "u2", "u3", "u5", "u6"}},
		{"UserNameEqFolded", cmpr("userName", "", filter.Eq, "ALICE"), func(r scimtrail.Resource) bool { return r.UserNameKey == "alice" }, []string{"u1"}},
		{"UserNameEqUpperAsWritten", cmpr("userName", "", filter.Eq, "bob"), func(r scimtrail.Resource) bool { return r.UserNameKey == "bob" }, []string{"u2"}},
		{"UserNameEqNFC", cmpr("userName", "", filter.Eq, "\u00c7ELIK"), func(r scimtrail.Resource) bool { return r.UserNameKey == "çelik" }, []string{"u3"}},
		{"UserNameAttrCaseInsensitive", cmpr("USERNAME", "", filter.Eq, "dave"), func(r scimtrail.Resource) bool { return r.UserNameKey == "dave" }, []string{"u4"}},
		{"UserNameURN", &filter.Compare{Path: filter.AttrPath{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Attr: "userName"}, Op: filter.Eq, Value: "Erin"},
			func(r scimtrail.Resource) bool { return r.UserNameKey == "erin" }, []string{"u5"}},
		{"UserNameSw", cmpr("userName", "", filter.Sw, "B"), func(r scimtrail.Resource) bool { return strings.HasPrefix(r.UserNameKey, "b") }, []string{"u2"}},
		{"UserNameCo", cmpr("userName", "", filter.Co, "LI"), func(r scimtrail.Resource) bool { return strings.Contains(r.UserNameKey, "li") }, []string{"u1", "u3"}},
		{"UserNameEw", cmpr("userName", "", filter.Ew, "K"), func(r scimtrail.Resource) bool { return strings.HasSuffix(r.UserNameKey, "k") }, []string{"u3", "u6"}},
		{"UserNameGt", cmpr("userName", "", filter.Gt, "Dave"), func(r scimtrail.Resource) bool { return r.UserNameKey > "dave" }, []string{"u3", "u5", "u6"}},
		{"EmailsValueEqFolded", cmpr("emails", "value", filter.Eq, "B@Work.Example"), func(r scimtrail.Resource) bool { return hasEmail(r, "b@work.example") }, []string{"u2"}},
		{"EmailsValueCo", cmpr("emails", "value", filter.Co, "@example.com"), func(r scimtrail.Resource) bool {
			return slices.ContainsFunc(r.Emails, func(e string) bool { return strings.Contains(e, "@example.com") })
		}, []string{"u1", "u2", "u3", "u6"}},
		{"EmailsValuePath", &filter.ValuePath{Path: filter.AttrPath{Attr: "emails"}, Filter: cmpr("value", "", filter.Eq, "erin@example.net")},
			func(r scimtrail.Resource) bool { return hasEmail(r, "erin@example.net") }, []string{"u5"}},
		{"DisplayNameEq", cmpr("displayName", "", filter.Eq, "bob builder"), func(r scimtrail.Resource) bool { return Fold(r.DisplayName) == "bob builder" }, []string{"u2"}},
		{"ActiveFalse", cmpr("active", "", filter.Eq, false), func(r scimtrail.Resource) bool { return !r.Active }, []string{"u2", "u6"}},
		{"ActiveTrue", cmpr("active", "", filter.Eq, true), func(r scimtrail.Resource) bool { return r.Active }, []string{"u1", "u3", "u4", "u5"}},
		{"LastModifiedGt", cmpr("meta", "lastModified", filter.Gt, mod(3)), func(r scimtrail.Resource) bool { return r.LastModified.After(after(3)) }, []string{"u4", "u5", "u6"}},
		{"LastModifiedLt", cmpr("meta", "lastModified", filter.Lt, mod(3)), func(r scimtrail.Resource) bool { return r.LastModified.Before(after(3)) }, []string{"u1", "u2", "u3"}},
		{"LastModifiedGtLtExact", and(cmpr("meta", "lastModified", filter.Gt, byID["u2"].LastModified.Format(time.RFC3339Nano)), cmpr("meta", "lastModified", filter.Lt, byID["u4"].LastModified.Format(time.RFC3339Nano))),
			func(r scimtrail.Resource) bool {
				return r.LastModified.After(byID["u2"].LastModified) && r.LastModified.Before(byID["u4"].LastModified)
			}, []string{"u3"}},
		{"And", and(cmpr("externalId", "", filter.Pr, nil), cmpr("active", "", filter.Eq, true)),
			func(r scimtrail.Resource) bool { return r.ExternalID != "" && r.Active }, []string{"u1", "u3", "u5"}},
		{"Or", or(cmpr("userName", "", filter.Eq, "alice"), cmpr("userName", "", filter.Eq, "bob")),
			func(r scimtrail.Resource) bool { return r.UserNameKey == "alice" || r.UserNameKey == "bob" }, []string{"u1", "u2"}},
		{"Not", not(cmpr("active", "", filter.Eq, true)), func(r scimtrail.Resource) bool { return !r.Active }, []string{"u2", "u6"}},
		{"NotPr", not(cmpr("externalId", "", filter.Pr, nil)), func(r scimtrail.Resource) bool { return r.ExternalID == "" }, []string{"u4"}},
		{"NotOr", not(or(cmpr("userName", "", filter.Eq, "alice"), cmpr("active", "", filter.Eq, false))),
			func(r scimtrail.Resource) bool { return !(r.UserNameKey == "alice" || !r.Active) }, []string{"u3", "u4", "u5"}},
		{"NonIndexed", cmpr("title", "", filter.Eq, "Engineer"), func(r scimtrail.Resource) bool { return title(r) == "Engineer" }, []string{"u1", "u4", "u6"}},
		{"NonIndexedAndIndexed", and(cmpr("title", "", filter.Eq, "Engineer"), cmpr("active", "", filter.Eq, true)),
			func(r scimtrail.Resource) bool { return title(r) == "Engineer" && r.Active }, []string{"u1", "u4"}},
		{"NonIndexedOrIndexed", or(cmpr("title", "", filter.Eq, "Manager"), cmpr("userName", "", filter.Eq, "erin")),
			func(r scimtrail.Resource) bool { return title(r) == "Manager" || r.UserNameKey == "erin" }, []string{"u2", "u5"}},
		{"NotNonIndexed", not(cmpr("title", "", filter.Eq, "Engineer")), func(r scimtrail.Resource) bool { return title(r) != "Engineer" }, []string{"u2", "u3", "u5"}},
		{"NotOfMixed", not(and(cmpr("title", "", filter.Eq, "Engineer"), cmpr("active", "", filter.Eq, true))),
			func(r scimtrail.Resource) bool { return !(title(r) == "Engineer" && r.Active) }, []string{"u2", "u3", "u5", "u6"}},
		{"NoMatch", cmpr("userName", "", filter.Eq, "nobody"), func(r scimtrail.Resource) bool { return r.UserNameKey == "nobody" }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := scimtrail.Query{Type: scimtrail.UserResource, Filter: tc.filter, Match: tc.match, StartIndex: 1, Count: 100}
			p := query(t, s, q)
			if got := ids(p.Resources); !cmp.Equal(got, tc.want, cmpOpts...) || p.Total != len(tc.want) {
				t.Fatalf("ids = %v, total %d; want %v, total %d", got, p.Total, tc.want, len(tc.want))
			}
			for _, r := range p.Resources {
				if diff := cmp.Diff(byID[r.ID], r, cmpOpts...); diff != "" {
					t.Errorf("resource %s not returned as stored (-want +got):\n%s", r.ID, diff)
				}
			}
			// Paging: the second and third match, and Total is still every match.
			q.StartIndex, q.Count = 2, 2
			p = query(t, s, q)
			var wantPage []string
			if len(tc.want) > 1 {
				wantPage = tc.want[1:min(3, len(tc.want))]
			}
			if got := ids(p.Resources); !cmp.Equal(got, wantPage, cmpOpts...) || p.Total != len(tc.want) {
				t.Errorf("page 2..3 = %v, total %d; want %v, total %d", got, p.Total, wantPage, len(tc.want))
			}
			// Count 0 answers only how many.
			q.StartIndex, q.Count = 1, 0
			p = query(t, s, q)
			if len(p.Resources) != 0 || p.Total != len(tc.want) {
				t.Errorf("Count 0 = %d resources, total %d; want none, total %d", len(p.Resources), p.Total, len(tc.want))
			}
		})
	}

	t.Run("StartIndexBeyondEnd", func(t *testing.T) {
		p := query(t, s, scimtrail.Query{Type: scimtrail.UserResource, StartIndex: 7, Count: 10})
		if len(p.Resources) != 0 || p.Total != 6 {
			t.Errorf("StartIndex past the end = %v, total %d; want none, total 6", ids(p.Resources), p.Total)
		}
	})
	t.Run("GroupsOnly", func(t *testing.T) {
		p := query(t, s, scimtrail.Query{Type: scimtrail.GroupResource, StartIndex: 1, Count: 10})
		if got, want := ids(p.Resources), []string{"g1", "g2"}; !cmp.Equal(got, want) || p.Total != 2 {
			t.Errorf("groups = %v, total %d; want %v", got, p.Total, want)
		}
		p = query(t, s, scimtrail.Query{Type: scimtrail.GroupResource, StartIndex: 1, Count: 10,
			Filter: cmpr("displayName", "", filter.Eq, "ENGINEERS"),
			Match:  func(r scimtrail.Resource) bool { return Fold(r.DisplayName) == "engineers" }})
		if got, want := ids(p.Resources), []string{"g1"}; !cmp.Equal(got, want) || p.Total != 1 {
			t.Errorf("groups with displayName eq ENGINEERS = %v, total %d; want %v", got, p.Total, want)
		}
	})
	t.Run("SortByUserName", func(t *testing.T) {
		// Keys sort by code point, so "çelik" (U+00E7) comes after "frank". PostgreSQL must
		// compare with COLLATE "C" to agree.
		asc := []string{"u1", "u2", "u4", "u5", "u6", "u3"} // alice bob dave erin frank çelik
		for _, desc := range []bool{false, true} {
			want := slices.Clone(asc)
			if desc {
				slices.Reverse(want)
			}
			p := query(t, s, scimtrail.Query{Type: scimtrail.UserResource, SortBy: "userName", Descending: desc, StartIndex: 1, Count: 10})
			if got := ids(p.Resources); !cmp.Equal(got, want) {
				t.Errorf("sortBy userName descending=%v: %v, want %v", desc, got, want)
			}
			// Sorted and paged, through the in-memory path too.
			p = query(t, s, scimtrail.Query{Type: scimtrail.UserResource, SortBy: "userName", Descending: desc, StartIndex: 2, Count: 2,
				Filter: not(cmpr("title", "", filter.Eq, "Support")),
				Match:  func(r scimtrail.Resource) bool { return title(r) != "Support" }})
			want = slices.DeleteFunc(want, func(id string) bool { return id == "u5" })
			if got := ids(p.Resources); !cmp.Equal(got, want[1:3]) || p.Total != 5 {
				t.Errorf("sortBy userName descending=%v, filtered page 2..3: %v total %d, want %v total 5", desc, got, p.Total, want[1:3])
			}
		}
	})
	t.Run("SortByUserNameIgnoresCase", func(t *testing.T) {
		// "BOB" sorts after "alice", not before it as a sort on the userName as written would.
		p := query(t, s, scimtrail.Query{Type: scimtrail.UserResource, SortBy: "userName", StartIndex: 1, Count: 2})
		if got, want := ids(p.Resources), []string{"u1", "u2"}; !cmp.Equal(got, want) {
			t.Errorf("first two by userName = %v, want %v", got, want)
		}
	})
}

func query(t *testing.T, s scimtrail.Store, q scimtrail.Query) scimtrail.Page {
	t.Helper()
	var p scimtrail.Page
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		var err error
		p, err = tx.QueryResources(ctx, "acme", q)
		return err
	})
	return p
}
