package sqlite

import (
	"strings"
	"testing"
)

// TestMembershipPlans checks the plans SQLite picks, without ANALYZE statistics, for the
// membership reads of every GET, PATCH and list page: each must search an index by all of
// its conditions, never walk every membership of the tenant (a GET of a user once cost
// 967 µs instead of 200 that way).
func TestMembershipPlans(t *testing.T) {
	db, err := Open(t.Context(), t.TempDir()+"/plan.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name, sql string
		args      []any
		want      string
	}{
		{"MemberOf", memberOfSQL, []any{"t", "u"}, "memberships_member (tenant=? AND member_id=?)"},
		{"Members", membersSQL, []any{"t", "g", 10}, "PRIMARY KEY (tenant=? AND group_id=?)"},
		{"MemberOfCreated", memberOfCreatedSQL, []any{"t", 1, 2}, "memberships_member_created (tenant=? AND member_created_us>? AND member_created_us<?)"},
	} {
		rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.sql, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if got := strings.Join(plan, "; "); !strings.Contains(got, tc.want) {
			t.Errorf("%s: plan %q, want a search of %s", tc.name, got, tc.want)
		}
	}
}
