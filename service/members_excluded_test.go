package service_test

import (
	"fmt"
	"testing"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// TestWriteWithoutMembersReadsNone: a group PUT or PATCH under WithoutMembers answers
// without members (nothing read for them) but changes the same state, with the same
// version, as without it.
func TestWriteWithoutMembersReadsNone(t *testing.T) {
	svc, _ := mustService(t)
	a, b := mustCreate(t, svc, scimtrail.UserResource, user("a")), mustCreate(t, svc, scimtrail.UserResource, user("b"))
	g := mustCreate(t, svc, scimtrail.GroupResource, group("G", a.Resource.ID))
	add := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, b.Resource.ID)
	v, _, err := svc.PatchResource(service.WithoutMembers(t.Context()), idp, "acme", scimtrail.GroupResource, g.Resource.ID, []byte(add), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Members) != 0 || v.Resource.Version != 2 {
		t.Errorf("PATCH without members: members %v, version %d; want none, 2", v.Members, v.Resource.Version)
	}
	got, err := svc.Resource(t.Context(), "acme", scimtrail.GroupResource, g.Resource.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Members) != 2 || got.Resource.Version != 2 {
		t.Errorf("after the PATCH: members %v, version %d; want a and b, 2", got.Members, got.Resource.Version)
	}
	v, _, err = svc.ReplaceResource(service.WithoutMembers(t.Context()), idp, "acme", scimtrail.GroupResource, g.Resource.ID, []byte(group("G", b.Resource.ID)), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Members) != 0 || v.Resource.Version != 3 {
		t.Errorf("PUT without members: members %v, version %d; want none, 3", v.Members, v.Resource.Version)
	}
	// The same write without the mark answers with the members.
	v, _, err = svc.ReplaceResource(t.Context(), idp, "acme", scimtrail.GroupResource, g.Resource.ID, []byte(group("G2", b.Resource.ID)), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Members) != 1 || v.Members[0].Value != b.Resource.ID {
		t.Errorf("PUT: members %v, want b", v.Members)
	}
	for _, tc := range []struct {
		attrs, excluded []string
		want            bool
	}{
		{nil, []string{"members"}, true}, {nil, []string{"urn:ietf:params:scim:schemas:core:2.0:Group:members"}, true},
		{[]string{"displayName"}, nil, true}, {nil, nil, false}, {[]string{"members.value"}, nil, false},
		{nil, []string{"members.display"}, false}, {[]string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, nil, false},
	} {
		if got := service.MembersExcluded(tc.attrs, tc.excluded); got != tc.want {
			t.Errorf("MembersExcluded(%v, %v) = %v, want %v", tc.attrs, tc.excluded, got, tc.want)
		}
	}
}
