package postgres_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/norm"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

var base = time.Date(2026, 11, 29, 6, 40, 0, 123456000, time.UTC)

// doc renders a resource the way the service hands it to the evaluator.
func doc(r scimtrail.Resource) map[string]any {
	d := map[string]any{}
	if len(r.Attributes) > 0 {
		if err := json.Unmarshal(r.Attributes, &d); err != nil {
			panic(err)
		}
	}
	d["id"] = r.ID
	if r.ExternalID != "" {
		d["externalId"] = r.ExternalID
	}
	if r.DisplayName != "" {
		d["displayName"] = r.DisplayName
	}
	if r.Type == scimtrail.UserResource {
		d["userName"] = r.UserName
		d["active"] = r.Active
		var emails []any
		for _, e := range r.Emails {
			emails = append(emails, map[string]any{"value": e})
		}
		if emails != nil {
			d["emails"] = emails
		}
	}
	d["meta"] = map[string]any{"created": r.Created.Format(time.RFC3339Nano), "lastModified": r.LastModified.Format(time.RFC3339Nano)}
	return d
}

func seedResources(t *testing.T, db scimtrail.Store) []scimtrail.Resource {
	t.Helper()
	mk := func(i int, id, userName, ext, display string, active bool, title string, emails ...string) scimtrail.Resource {
		at := base.Add(time.Duration(i) * time.Minute)
		return scimtrail.Resource{Tenant: "acme", Type: scimtrail.UserResource, ID: id, ExternalID: ext,
			UserName: userName, UserNameKey: fold(userName), DisplayName: display, Active: active, Emails: emails,
			Schemas:    []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			Attributes: json.RawMessage(fmt.Sprintf(`{"title":%q}`, title)),
			Created:    at, LastModified: at.Add(time.Duration(i) * time.Second), Version: int64(i)}
	}
	rs := []scimtrail.Resource{
		mk(1, "u1", "alice", "e-1", "Alice Liddell", true, "Engineer", "alice@example.com"),
		mk(2, "u2", "BOB", "e-2", "Bob Builder", false, "Manager", "bob@example.com", "b@work.example"),
		mk(3, "u3", "Çelik", "e-3", "Deniz Çelik", true, "Designer", "deniz@example.com"),
		mk(4, "u4", "dave", "", "", true, "Engineer"),
		mk(5, "u5", "erin", "E-5", "Erin", true, "Support", "erin@example.net"),
		mk(6, "u6", "Frank", "e-6", "Frank", false, "Engineer", "frank@example.com"),
		{Tenant: "acme", Type: scimtrail.GroupResource, ID: "g1", DisplayName: "Engineers", Active: true, Created: base, LastModified: base, Version: 1},
		{Tenant: "acme", Type: scimtrail.GroupResource, ID: "g2", DisplayName: "alice", Active: true, Created: base.Add(time.Hour), LastModified: base, Version: 1},
	}
	err := db.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
		// Reverse insertion order: creation order is the backend's to keep.
		for _, r := range slices.Backward(rs) {
			if err := tx.InsertResource(t.Context(), r); err != nil {
				return err
			}
		}
		other := rs[0]
		other.Tenant = "globex"
		return tx.InsertResource(t.Context(), other)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// fold is the key callers store in UserNameKey and Emails (storetest.Fold).
func fold(s string) string { return strings.ToLower(norm.NFC.String(s)) }

// TestQueryAgreesWithEvaluator runs each filter through the SQL narrowing and through
// filter.Match over every resource, and requires the same page and total. Filters marked
// indexed must be answered by SQL alone: Match is never called for them, which is what keeps
// "userName eq" off a full scan.
func TestQueryAgreesWithEvaluator(t *testing.T) {
	db := MustOpenDB(t)
	all := seedResources(t, db)
	ts := func(r int, d time.Duration) string { return all[r].LastModified.Add(d).Format(time.RFC3339Nano) }
	cases := []struct {
		typ     scimtrail.ResourceType
		filter  string
		indexed bool
	}{
		{scimtrail.UserResource, `id eq "u3"`, true},
		{scimtrail.UserResource, `id eq "U3"`, true},
		{scimtrail.UserResource, `id gt "u4"`, true},
		{scimtrail.UserResource, `id ne "u1"`, true},
		{scimtrail.UserResource, `externalId eq "e-5"`, true},
		{scimtrail.UserResource, `externalId ne "e-2"`, true},
		{scimtrail.UserResource, `externalId eq null`, true},
		{scimtrail.UserResource, `not (externalId pr)`, true},
		{scimtrail.UserResource, `userName eq "ALICE"`, true},
		{scimtrail.UserResource, `userName eq "çelik"`, true},
		{scimtrail.UserResource, `USERNAME ne "bob"`, true},
		{scimtrail.UserResource, `userName sw "B"`, true},
		{scimtrail.UserResource, `userName ew "K"`, true},
		{scimtrail.UserResource, `userName co "LI"`, true},
		{scimtrail.UserResource, `userName gt "dave"`, true},
		{scimtrail.UserResource, `userName le "dave"`, true},
		{scimtrail.UserResource, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "erin"`, true},
		{scimtrail.UserResource, `displayName eq "bob builder"`, true},
		{scimtrail.UserResource, `displayName pr`, true},
		{scimtrail.UserResource, `displayName ne "erin"`, true},
		{scimtrail.UserResource, `emails.value eq "B@Work.Example"`, true},
		{scimtrail.UserResource, `emails.value ne "alice@example.com"`, true},
		{scimtrail.UserResource, `emails co "example.com"`, true},
		{scimtrail.UserResource, `emails[value ew ".NET"]`, true},
		{scimtrail.UserResource, `emails[not (value sw "b")]`, true},
		{scimtrail.UserResource, `not (emails.value pr)`, true},
		{scimtrail.UserResource, `emails.value eq null`, true},
		{scimtrail.UserResource, `meta.lastModified gt "` + ts(2, 0) + `"`, true},
		{scimtrail.UserResource, `meta.lastModified ge "` + ts(2, 0) + `"`, true},
		{scimtrail.UserResource, `meta.lastModified ge "` + ts(2, 500) + `"`, false}, // sub-microsecond
		{scimtrail.UserResource, `meta.created lt "2026-11-29T07:43:00+01:00"`, true},
		{scimtrail.UserResource, `(userName eq "alice" or emails.value co "work") and not (displayName sw "x")`, true},
		{scimtrail.UserResource, `active eq false`, false},
		{scimtrail.UserResource, `not (active eq true)`, false},
		{scimtrail.UserResource, `title eq "Engineer"`, false},
		{scimtrail.UserResource, `title eq "Engineer" and active eq true`, false},
		{scimtrail.UserResource, `title eq "Manager" or userName eq "erin"`, false},
		{scimtrail.UserResource, `not (title eq "Engineer" and externalId pr)`, false},
		{scimtrail.UserResource, `emails[type eq "work"]`, false},
		{scimtrail.UserResource, `emails gt "a"`, false},
		{scimtrail.UserResource, `userName eq true`, false},
		{scimtrail.GroupResource, `displayName eq "ENGINEERS"`, true},
		{scimtrail.GroupResource, `displayName co "e"`, true},
		{scimtrail.GroupResource, `userName eq "alice"`, false},
		{scimtrail.GroupResource, `not (userName eq "alice")`, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ)+"/"+tc.filter, func(t *testing.T) {
			f, err := filter.Parse(tc.filter)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			rt := schema.User()
			if tc.typ == scimtrail.GroupResource {
				rt = schema.Group()
			}
			calls := 0
			match := func(r scimtrail.Resource) bool {
				calls++
				return filter.Match(f, doc(r), rt)
			}
			var want []string
			for _, r := range all {
				if r.Type == tc.typ && filter.Match(f, doc(r), rt) {
					want = append(want, r.ID)
				}
			}
			for _, page := range [][2]int{{1, 100}, {2, 2}, {1, 0}} {
				q := scimtrail.Query{Type: tc.typ, Filter: f, Match: match, StartIndex: page[0], Count: page[1]}
				p := mustQuery(t, db, q)
				wantPage := want[min(page[0]-1, len(want)):min(page[0]-1+page[1], len(want))]
				if got := ids(p.Resources); !slices.Equal(got, wantPage) || p.Total != len(want) {
					t.Errorf("startIndex %d count %d: %v total %d; want %v total %d", page[0], page[1], got, p.Total, wantPage, len(want))
				}
			}
			if tc.indexed && calls != 0 {
				t.Errorf("Match called %d times for a filter SQL answers alone", calls)
			}
		})
	}
}

func TestQuerySort(t *testing.T) {
	db := MustOpenDB(t)
	all := seedResources(t, db)
	byID := map[string]scimtrail.Resource{}
	for _, r := range all {
		byID[r.ID] = r
	}
	cases := []struct {
		sortBy string
		asc    []string
	}{
		{"", []string{"u1", "u2", "u3", "u4", "u5", "u6"}},
		// Absent values sort last ascending (RFC 7644 §3.4.2.3), byte order otherwise.
		{"externalId", []string{"u5", "u1", "u2", "u3", "u6", "u4"}},
		{"displayName", []string{"u1", "u2", "u3", "u5", "u6", "u4"}},
		{"userName", []string{"u1", "u2", "u4", "u5", "u6", "u3"}},
		// By the least email, as the sqlite backend does.
		{"emails.value", []string{"u1", "u2", "u3", "u5", "u6", "u4"}},
		{"meta.lastModified", []string{"u1", "u2", "u3", "u4", "u5", "u6"}},
	}
	for _, tc := range cases {
		t.Run(tc.sortBy, func(t *testing.T) {
			p := mustQuery(t, db, scimtrail.Query{Type: scimtrail.UserResource, SortBy: tc.sortBy, StartIndex: 1, Count: 10})
			if diff := cmp.Diff(tc.asc, ids(p.Resources)); diff != "" {
				t.Errorf("ascending (-want +got):\n%s", diff)
			}
			if tc.sortBy == "" {
				return
			}
			desc := slices.Clone(tc.asc)
			slices.Reverse(desc)
			p = mustQuery(t, db, scimtrail.Query{Type: scimtrail.UserResource, SortBy: tc.sortBy, Descending: true, StartIndex: 2, Count: 3})
			if diff := cmp.Diff(desc[1:4], ids(p.Resources)); diff != "" {
				t.Errorf("descending, page 2..4 (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("UnknownSortBy", func(t *testing.T) {
		err := db.View(t.Context(), func(tx scimtrail.ReadTx) error {
			_, err := tx.QueryResources(t.Context(), "acme", scimtrail.Query{Type: scimtrail.GroupResource, SortBy: "userName", StartIndex: 1, Count: 1})
			return err
		})
		if scimtrail.ErrorCode(err) != scimtrail.EINVALID || scimtrail.ErrorScimType(err) != scimtrail.ScimInvalidValue {
			t.Fatalf("sorting groups by userName: %v, want EINVALID invalidValue", err)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		p := mustQuery(t, db, scimtrail.Query{Type: scimtrail.UserResource, StartIndex: 1, Count: 10})
		for _, r := range p.Resources {
			if diff := cmp.Diff(byID[r.ID], r); diff != "" {
				t.Errorf("%s not returned as stored (-want +got):\n%s", r.ID, diff)
			}
		}
	})
}

func mustQuery(t *testing.T, db scimtrail.Store, q scimtrail.Query) scimtrail.Page {
	t.Helper()
	var p scimtrail.Page
	err := db.View(t.Context(), func(tx scimtrail.ReadTx) error {
		var err error
		p, err = tx.QueryResources(t.Context(), "acme", q)
		return err
	})
	if err != nil {
		t.Fatalf("QueryResources(%+v): %v", q, err)
	}
	return p
}

func ids(rs []scimtrail.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
