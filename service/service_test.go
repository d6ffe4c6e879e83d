package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

var idp = service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: "tok"}, Channel: scimtrail.ChannelSCIM}

func mustService(tb testing.TB) (*service.Service, string) {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), tb.TempDir()+"/t.db", sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{})
	if _, _, err := svc.CreateTenant(tb.Context(), idp, "acme", "Acme"); err != nil {
		tb.Fatal(err)
	}
	return svc, "acme"
}

func mustCreate(tb testing.TB, svc *service.Service, typ scimtrail.ResourceType, body string) service.View {
	tb.Helper()
	v, _, err := svc.CreateResource(tb.Context(), idp, "acme", typ, []byte(body))
	if err != nil {
		tb.Fatalf("create %s: %v", typ, err)
	}
	return v
}

func user(name string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q}`, name)
}

func group(name string, members ...string) string {
	ms := make([]map[string]string, len(members))
	for i, m := range members {
		ms[i] = map[string]string{"value": m}
	}
	b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": ms})
	return string(b)
}

func entries(tb testing.TB, svc *service.Service) []scimtrail.Entry {
	tb.Helper()
	stored, err := svc.AuditEntries(tb.Context(), "acme", 0, 1000, scimtrail.EntryFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []scimtrail.Entry
	for i, s := range stored {
		if s.Seq != int64(i+1) {
			tb.Fatalf("entry %d has seq %d: the log has a gap", i, s.Seq)
		}
		e, err := ledger.Decode(s.Body)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func actions(es []scimtrail.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return out
}

func memberIDs(v service.View) []string {
	var out []string
	for _, m := range v.Members {
		out = append(out, m.Value)
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }

func TestUserNameUniqueAfterFolding(t *testing.T) {
	svc, _ := mustService(t)
	mustCreate(t, svc, scimtrail.UserResource, user("Ren\u00e9@example.com"))
	for _, name := range []string{"rené@EXAMPLE.com", "Rene\u0301@example.com"} {
		_, _, err := svc.CreateResource(t.Context(), idp, "acme", scimtrail.UserResource, []byte(user(name)))
		if got := scimtrail.ErrorScimType(err); got != scimtrail.ScimUniqueness {
			t.Errorf("create %q: scimType %q (%v), want uniqueness", name, got, err)
		}
	}
	if got, want := actions(entries(t, svc)), []string{"tenant.created", "user.created"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %v, want %v: a failed create must not write the log", got, want)
	}
}

// Concurrent creates of one userName in different case: exactly one wins.
func TestConcurrentCreatesOneWins(t *testing.T) {
	svc, _ := mustService(t)
	var wg sync.WaitGroup
	results := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "bob@example.com"
			if i%2 == 1 {
				name = "BOB@example.com"
			}
			_, _, err := svc.CreateResource(context.Background(), idp, "acme", scimtrail.UserResource, []byte(user(name)))
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		if err == nil {
			ok++
		} else if scimtrail.ErrorScimType(err) != scimtrail.ScimUniqueness {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", ok)
	}
}

func TestGroupMembersPatch(t *testing.T) {
	svc, _ := mustService(t)
	a := mustCreate(t, svc, scimtrail.UserResource, user("a")).Resource.ID
	b := mustCreate(t, svc, scimtrail.UserResource, user("b")).Resource.ID
	c := mustCreate(t, svc, scimtrail.UserResource, user("c")).Resource.ID
	g := mustCreate(t, svc, scimtrail.GroupResource, group("eng", a, b))
	gid := g.Resource.ID
	if got, want := memberIDs(g), sorted(a, b); !slices.Equal(got, want) {
		t.Fatalf("members after create = %v, want %v", got, want)
	}
	patchOps := func(ops string) (service.View, error) {
		v, _, err := svc.PatchResource(t.Context(), idp, "acme", scimtrail.GroupResource, gid,
			[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`), "")
		return v, err
	}
	cases := []struct {
		name string
		ops  string
		want []string
	}{
		{"AddIsSetUnion", fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q},{"value":%q}]}]`, a, c), sorted(a, b, c)},
		// Entra removes one member with the member in "value": a naive server drops all.
		{"EntraRemoveByValue", fmt.Sprintf(`[{"op":"Remove","path":"members","value":[{"value":%q}]}]`, b), sorted(a, c)},
		{"RemoveByFilter", fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, a), []string{c}},
		{"ReplaceAll", fmt.Sprintf(`[{"op":"replace","path":"members","value":[{"value":%q},{"value":%q}]}]`, a, b), sorted(a, b)},
		{"RemoveAll", `[{"op":"remove","path":"members"}]`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := patchOps(tc.ops)
			if err != nil {
				t.Fatal(err)
			}
			if got := memberIDs(v); !slices.Equal(got, tc.want) {
				t.Fatalf("members = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("UnknownMemberChangesNothing", func(t *testing.T) {
		before := entries(t, svc)
		_, err := patchOps(fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]},{"op":"add","path":"members","value":[{"value":"nope"}]}]`, a))
		if scimtrail.ErrorCode(err) != scimtrail.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
		v, err := svc.Resource(t.Context(), "acme", scimtrail.GroupResource, gid)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Members) != 0 {
			t.Fatalf("members = %v: a failed PATCH applied part of itself", memberIDs(v))
		}
		if len(entries(t, svc)) != len(before) {
			t.Fatal("a failed PATCH wrote the log")
		}
	})
	got := actions(entries(t, svc))
	added, removed := 0, 0
	for _, a := range got {
		switch a {
		case "group.member_added":
			added++
		case "group.member_removed":
			removed++
		}
	}
	// create: a,b; +c; -b; -a; replace: +a,+b -c; remove all: -a,-b.
	if added != 5 || removed != 5 {
		t.Fatalf("member_added=%d member_removed=%d, want 5 and 5; log: %v", added, removed, got)
	}
}

func TestUserGroupsAndDeactivation(t *testing.T) {
	svc, _ := mustService(t)
	u := mustCreate(t, svc, scimtrail.UserResource, user("alice@example.com"))
	g := mustCreate(t, svc, scimtrail.GroupResource, group("admins", u.Resource.ID))
	v, err := svc.Resource(t.Context(), "acme", scimtrail.UserResource, u.Resource.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Groups) != 1 || v.Groups[0].Value != g.Resource.ID || v.Groups[0].Display != "admins" {
		t.Fatalf("groups = %+v, want the admins group", v.Groups)
	}
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	_, rc, err := svc.PatchResource(t.Context(), idp, "acme", scimtrail.UserResource, u.Resource.ID, []byte(body), service.ETag(1))
	if err != nil {
		t.Fatal(err)
	}
	es := entries(t, svc)
	last := es[len(es)-1]
	if last.Seq != rc.Seq || last.Action != "user.deactivated" {
		t.Fatalf("last entry = %d %s, want %d user.deactivated", last.Seq, last.Action, rc.Seq)
	}
	if len(last.Changes) != 1 || last.Changes[0].Path != "active" || last.Changes[0].Old != true || last.Changes[0].New != false {
		t.Fatalf("changes = %+v", last.Changes)
	}
	// The same PATCH again changes nothing: no entry, no new version.
	v2, rc2, err := svc.PatchResource(t.Context(), idp, "acme", scimtrail.UserResource, u.Resource.ID, []byte(body), "")
	if err != nil {
		t.Fatal(err)
	}
	if v2.Resource.Version != 2 || rc2.Seq != rc.Seq {
		t.Fatalf("no-op PATCH: version %d seq %d, want 2 and %d", v2.Resource.Version, rc2.Seq, rc.Seq)
	}
	// A stale If-Match fails.
	_, _, err = svc.PatchResource(t.Context(), idp, "acme", scimtrail.UserResource, u.Resource.ID, []byte(body), service.ETag(1))
	if scimtrail.ErrorCode(err) != scimtrail.EPRECONDITION {
		t.Fatalf("stale If-Match: %v, want EPRECONDITION", err)
	}
	if _, err := svc.DeleteResource(t.Context(), idp, "acme", scimtrail.UserResource, u.Resource.ID, ""); err != nil {
		t.Fatal(err)
	}
	gv, err := svc.Resource(t.Context(), "acme", scimtrail.GroupResource, g.Resource.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(gv.Members) != 0 {
		t.Fatalf("deleted user still a member: %+v", gv.Members)
	}
}

func TestPutClearsOmittedAttributes(t *testing.T) {
	svc, _ := mustService(t)
	u := mustCreate(t, svc, scimtrail.UserResource, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x","displayName":"X","title":"CTO"}`)
	v, _, err := svc.ReplaceResource(t.Context(), idp, "acme", scimtrail.UserResource, u.Resource.ID, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x","displayName":"Y"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	doc := service.Render(v, "https://h/scim/v2/acme")
	if _, ok := doc["title"]; ok || doc["displayName"] != "Y" {
		t.Fatalf("after PUT: %v", doc)
	}
	es := entries(t, svc)
	last := es[len(es)-1]
	var paths []string
	for _, c := range last.Changes {
		paths = append(paths, c.Path)
	}
	if !slices.Equal(paths, []string{"displayName", "title"}) {
		t.Fatalf("changed paths = %v", paths)
	}
}

func TestTokens(t *testing.T) {
	svc, _ := mustService(t)
	now := time.Now()
	it, _, err := svc.IssueToken(t.Context(), idp, "acme", scimtrail.TokenSCIM, "okta", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(it.Secret) < 50 || it.Secret[:9] != "stk_scim_" {
		t.Fatalf("secret %q lacks the prefix or 256 bits", it.Secret)
	}
	if it.Expires.Before(now.Add(59*time.Minute)) || it.Expires.After(now.Add(61*time.Minute)) {
		t.Fatalf("expires = %v", it.Expires)
	}
	tok, err := svc.Authenticate(t.Context(), it.Secret)
	if err != nil || tok.ID != it.ID {
		t.Fatalf("Authenticate = %v, %v", tok, err)
	}
	rotated, _, err := svc.RotateToken(t.Context(), idp, "acme", it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(t.Context(), it.Secret); scimtrail.ErrorCode(err) != scimtrail.EUNAUTHORIZED {
		t.Fatalf("old secret after rotation: %v", err)
	}
	if _, err := svc.RevokeToken(t.Context(), idp, "acme", it.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(t.Context(), rotated.Secret); scimtrail.ErrorCode(err) != scimtrail.EUNAUTHORIZED {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := svc.RevokeToken(t.Context(), idp, "other", it.ID); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
		t.Fatalf("revoke through another tenant: %v, want ENOTFOUND", err)
	}
	if got, want := actions(entries(t, svc)), []string{"tenant.created", "token.issued", "token.rotated", "token.revoked"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %v, want %v", got, want)
	}
	for _, e := range entries(t, svc) {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), it.Secret) || strings.Contains(string(b), rotated.Secret) {
			t.Fatal("a token secret entered the ledger")
		}
	}
}

func TestBootstrap(t *testing.T) {
	svc, _ := mustService(t)
	secret, created, err := svc.Bootstrap(t.Context(), "")
	if err != nil || !created {
		t.Fatalf("first bootstrap: %v %v", created, err)
	}
	if _, created, _ := svc.Bootstrap(t.Context(), ""); created {
		t.Fatal("second bootstrap created another operator token")
	}
	tok, err := svc.Authenticate(t.Context(), secret)
	if err != nil || tok.Kind != scimtrail.TokenOperator {
		t.Fatalf("operator token: %+v %v", tok, err)
	}
	preset := "automation-preset-token-0123456789abcdef"
	if _, created, err := svc.Bootstrap(t.Context(), preset); err != nil || !created {
		t.Fatalf("preset bootstrap: %v %v", created, err)
	}
	if _, err := svc.Authenticate(t.Context(), preset); err != nil {
		t.Fatalf("preset token: %v", err)
	}
	if _, _, err := svc.Bootstrap(t.Context(), "short"); scimtrail.ErrorCode(err) != scimtrail.EINVALID {
		t.Fatalf("short preset: %v", err)
	}
}
