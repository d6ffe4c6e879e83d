package service

import "testing"

func TestShown(t *testing.T) {
	for _, tc := range []struct {
		attrs, excluded []string
		want            bool
	}{
		{nil, nil, true},
		{nil, []string{"members"}, false},
		{nil, []string{"Members"}, false},
		{nil, []string{"urn:ietf:params:scim:schemas:core:2.0:Group:members"}, false},
		{nil, []string{"members.value"}, true},
		{nil, []string{"displayName"}, true},
		{[]string{"displayName"}, nil, false},
		{[]string{"displayName", "members"}, nil, true},
		{[]string{"members.value"}, nil, true},
		{[]string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, nil, true},
		{[]string{"urn:ietf:params:scim:schemas:core:2.0:Group:displayName"}, nil, true},
	} {
		if got := shown("members", tc.attrs, tc.excluded); got != tc.want {
			t.Errorf("shown(members, attributes=%q, excludedAttributes=%q) = %v, want %v", tc.attrs, tc.excluded, got, tc.want)
		}
	}
}
