package patch_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/patch"
)

// wantError fails unless err is a *scimtrail.Error with code EINVALID and the scimType.
func wantError(tb testing.TB, err error, scimType string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("err = nil, want scimType %q", scimType)
	}
	if got := scimtrail.ErrorCode(err); got != scimtrail.EINVALID {
		tb.Fatalf("code = %q, want %q (err: %v)", got, scimtrail.EINVALID, err)
	}
	if got := scimtrail.ErrorScimType(err); got != scimType {
		tb.Fatalf("scimType = %q, want %q (err: %v)", got, scimType, err)
	}
}

func TestParseRequest(t *testing.T) {
	t.Run("EntraCapitalisedOps", func(t *testing.T) {
		// Shape of Entra ID's user update (learn.microsoft.com, "Tutorial: Develop and plan
		// provisioning for a SCIM endpoint", request 7/8): ops "Replace" and "Add".
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
			{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
			{"op":"Add","path":"name.familyName","value":"updatedFamilyName"},
			{"op":"Remove","path":"nickName"}]}`
		ops, err := patch.ParseRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want := []patch.Operation{
			{Op: "replace", Path: `emails[type eq "work"].value`, Value: "updatedEmail@microsoft.com"},
			{Op: "add", Path: "name.familyName", Value: "updatedFamilyName"},
			{Op: "remove", Path: "nickName"},
		}
		if diff := cmp.Diff(want, ops); diff != "" {
			t.Fatalf("ops (-want +got):\n%s", diff)
		}
	})
	t.Run("NumbersStayExact", func(t *testing.T) {
		ops, err := patch.ParseRequest([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"title","value":12345678901234567890}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ops[0].Value, json.Number("12345678901234567890"); got != want {
			t.Fatalf("value = %#v, want %#v", got, want)
		}
	})
	t.Run("ReplaceWithNull", func(t *testing.T) {
		ops, err := patch.ParseRequest([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":null}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if ops[0].Value != nil {
			t.Fatalf("value = %#v, want nil", ops[0].Value)
		}
	})
	t.Run("MaxOperations", func(t *testing.T) {
		op := `{"op":"add","path":"title","value":"x"}`
		mk := func(n int) []byte {
			return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.TrimSuffix(strings.Repeat(op+",", n), ",") + `]}`)
		}
		if ops, err := patch.ParseRequest(mk(patch.MaxOperations)); err != nil || len(ops) != patch.MaxOperations {
			t.Fatalf("%d ops: len %d, err %v", patch.MaxOperations, len(ops), err)
		}
		_, err := patch.ParseRequest(mk(patch.MaxOperations + 1))
		wantError(t, err, scimtrail.ScimInvalidSyntax)
	})

	const ok = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
	for _, tc := range []struct {
		name, body, scimType string
	}{
		{"MalformedJSON", `{"schemas":[`, scimtrail.ScimInvalidSyntax},
		{"TrailingData", `{` + ok + `,"Operations":[{"op":"remove","path":"title"}]} {}`, scimtrail.ScimInvalidSyntax},
		{"NotAnObject", `[]`, scimtrail.ScimInvalidSyntax},
		{"NoSchemas", `{"Operations":[{"op":"remove","path":"title"}]}`, scimtrail.ScimInvalidSyntax},
		{"WrongSchema", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"remove","path":"title"}]}`, scimtrail.ScimInvalidSyntax},
		{"ExtraSchema", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp","x"],"Operations":[{"op":"remove","path":"title"}]}`, scimtrail.ScimInvalidSyntax},
		{"NoOperations", `{` + ok + `}`, scimtrail.ScimInvalidSyntax},
		{"EmptyOperations", `{` + ok + `,"Operations":[]}`, scimtrail.ScimInvalidSyntax},
		{"OperationsNotArray", `{` + ok + `,"Operations":{}}`, scimtrail.ScimInvalidSyntax},
		{"OperationNotObject", `{` + ok + `,"Operations":["add"]}`, scimtrail.ScimInvalidSyntax},
		{"UnknownOp", `{` + ok + `,"Operations":[{"op":"move","path":"title"}]}`, scimtrail.ScimInvalidSyntax},
		{"MissingOp", `{` + ok + `,"Operations":[{"path":"title","value":"x"}]}`, scimtrail.ScimInvalidSyntax},
		{"AddWithoutValue", `{` + ok + `,"Operations":[{"op":"add","path":"title"}]}`, scimtrail.ScimInvalidValue},
		{"AddNullValue", `{` + ok + `,"Operations":[{"op":"add","path":"title","value":null}]}`, scimtrail.ScimInvalidValue},
		{"ReplaceWithoutValue", `{` + ok + `,"Operations":[{"op":"replace","path":"title"}]}`, scimtrail.ScimInvalidValue},
		// RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP status
		// code 400 and a "scimType" error code of "noTarget"."
		{"RemoveWithoutPath", `{` + ok + `,"Operations":[{"op":"remove"}]}`, scimtrail.ScimNoTarget},
		{"PathNotString", `{` + ok + `,"Operations":[{"op":"remove","path":7}]}`, scimtrail.ScimInvalidPath},
		{"BadPath", `{` + ok + `,"Operations":[{"op":"remove","path":"emails[type eq]"}]}`, scimtrail.ScimInvalidPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := patch.ParseRequest([]byte(tc.body))
			wantError(t, err, tc.scimType)
		})
	}
	t.Run("MessageNamesOperation", func(t *testing.T) {
		_, err := patch.ParseRequest([]byte(`{` + ok + `,"Operations":[{"op":"remove","path":"title"},{"op":"remove"}]}`))
		if msg := scimtrail.ErrorMessage(err); !strings.Contains(msg, "Operations[1]") {
			t.Fatalf("message %q does not name Operations[1]", msg)
		}
	})
}

func TestParsePath(t *testing.T) {
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for _, tc := range []struct {
		in         string
		urn, attr  string
		filter     string // filter.String of the filter, "" for none
		sub        string
		roundTrips bool
	}{
		{in: "title", attr: "title", roundTrips: true},
		{in: "name.givenName", attr: "name", sub: "givenName", roundTrips: true},
		{in: "members", attr: "members", roundTrips: true},
		{in: `members[value eq "2819c223-7f76-453a-919d-413861904646"]`, attr: "members", filter: `value eq "2819c223-7f76-453a-919d-413861904646"`, roundTrips: true},
		{in: `addresses[type eq "work"].streetAddress`, attr: "addresses", filter: `type eq "work"`, sub: "streetAddress", roundTrips: true},
		{in: `emails[type eq "work" and value ew "example.com"]`, attr: "emails", filter: `type eq "work" and value ew "example.com"`, roundTrips: true},
		{in: `emails[value eq "a]b"].display`, attr: "emails", filter: `value eq "a]b"`, sub: "display", roundTrips: true},
		{in: ent + ":manager.value", urn: ent, attr: "manager", sub: "value", roundTrips: true},
		{in: ent + ":employeeNumber", urn: ent, attr: "employeeNumber", roundTrips: true},
		{in: "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName", urn: "urn:ietf:params:scim:schemas:core:2.0:User", attr: "name", sub: "givenName", roundTrips: true},
		{in: "members.$ref", attr: "members", sub: "$ref", roundTrips: true},
		// A whole extension parses as URN and last segment; Apply recognises it.
		{in: ent, urn: "urn:ietf:params:scim:schemas:extension:enterprise:2.0", attr: "User", roundTrips: true},
		{in: "urn:acme:ext:1.0", urn: "urn:acme:ext:1.0", roundTrips: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := patch.ParsePath(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var f string
			if p.Filter != nil {
				f = filter.String(p.Filter)
			}
			got := []string{p.URN, p.Attr, f, p.Sub}
			if diff := cmp.Diff([]string{tc.urn, tc.attr, tc.filter, tc.sub}, got); diff != "" {
				t.Fatalf("URN, Attr, Filter, Sub (-want +got):\n%s", diff)
			}
			if tc.roundTrips && p.String() != tc.in {
				t.Fatalf("String() = %q, want %q", p.String(), tc.in)
			}
		})
	}
	for _, in := range []string{
		"", " ", "1abc", "name.", ".name", "name.given.name", "emails[", "emails[]",
		`emails[type eq "work"`, `emails[type eq "work"]x`, `emails[type eq "work"].`,
		`name.givenName[type eq "x"]`, "emails[type]", "urn:", "urn:a:b c", "ti tle",
		`emails[type eq "work"].value.x`, "urn::x", "na$me",
	} {
		t.Run("Invalid/"+in, func(t *testing.T) {
			_, err := patch.ParsePath(in)
			wantError(t, err, scimtrail.ScimInvalidPath)
		})
	}
}
