package service

import (
	"encoding/json"
	"testing"

	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// TestUniqueKey checks that values a filter "eq" finds equal (RFC 7644 §3.4.2.2) have equal
// uniqueness keys and others do not: strings fold unless caseExact (RFC 7643 §2.2), numbers
// compare by value, dateTimes as instants, and types never collide.
func TestUniqueKey(t *testing.T) {
	str := schema.Attribute{Type: filter.TypeString}
	exact := schema.Attribute{Type: filter.TypeString, CaseExact: true}
	num := schema.Attribute{Type: filter.TypeDecimal}
	when := schema.Attribute{Type: filter.TypeDateTime}
	boolean := schema.Attribute{Type: filter.TypeBoolean}
	tests := []struct {
		a    schema.Attribute
		x, y any
		same bool
	}{
		{str, "Badge-1", "badge-1", true},
		{str, "E\u0301", "é", true},
		{exact, "Badge-1", "badge-1", false},
		{exact, "Badge-1", "Badge-1", true},
		{num, json.Number("2.50"), json.Number("25e-1"), true},
		{num, json.Number("12345678901234567891"), json.Number("12345678901234567892"), false},
		{num, json.Number("7"), 7.0, true},
		{when, "2026-01-02T03:04:05Z", "2026-01-02T05:04:05+02:00", true},
		{when, "2026-01-02T03:04:05Z", "2026-01-02T03:04:06Z", false},
		{boolean, true, true, true},
		{boolean, true, false, false},
	}
	for _, tt := range tests {
		kx, okx := uniqueKey(tt.a, tt.x)
		ky, oky := uniqueKey(tt.a, tt.y)
		if !okx || !oky {
			t.Errorf("%s: %v or %v has no key", tt.a.Type, tt.x, tt.y)
			continue
		}
		if (kx == ky) != tt.same {
			t.Errorf("%s: keys of %v and %v are %q and %q; same = %v, want %v", tt.a.Type, tt.x, tt.y, kx, ky, kx == ky, tt.same)
		}
	}
	if k1, _ := uniqueKey(str, "true"); k1 == func() string { k, _ := uniqueKey(boolean, true); return k }() {
		t.Error("the string \"true\" and the boolean true share a key")
	}
	if _, ok := uniqueKey(num, "7"); ok {
		t.Error("a string has a key as a number")
	}
}
