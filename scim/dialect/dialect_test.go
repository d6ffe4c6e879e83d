package dialect_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/dialect"
	"github.com/scimtrail/scimtrail/scim/patch"
	"github.com/scimtrail/scimtrail/scim/schema"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, ua, query string
		want            dialect.Dialect
	}{
		{"OktaDocumentedUA", "Okta SCIM Client 1.0.0", "", dialect.Okta},
		{"OktaOtherVersion", "okta scim client 2.1", "startIndex=1&count=2", dialect.Okta},
		{"EntraFlag", "", "aadOptscim062020", dialect.Entra},
		{"EntraFlagOtherCase", "curl/8", "aadOptSCIM062020=true", dialect.Entra},
		{"EntraDowngradeFlag", "", "AzureAdScimPatch2017", dialect.Entra},
		{"EntraUA", "Microsoft Azure AD SCIM provisioning 1.0.0", "", dialect.Entra},
		{"UnknownClient", "scim-conformance/1.0", "filter=userName+eq+%22okta%22", dialect.Auto},
		{"Nothing", "", "", dialect.Auto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := dialect.Detect(tc.ua, q); got != tc.want {
				t.Errorf("Detect(%q, %q) = %q, want %q", tc.ua, tc.query, got, tc.want)
			}
		})
	}
}

func TestResolveKeepsConfiguredDialect(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Strict, dialect.Entra, dialect.Okta} {
		if got := dialect.Resolve(d, "Okta SCIM Client 1.0.0", url.Values{"aadOptscim062020": nil}); got != d {
			t.Errorf("Resolve(%q, …) = %q; a tenant's explicit choice must win", d, got)
		}
	}
	if got := dialect.Resolve("", "Okta SCIM Client 1.0.0", nil); got != dialect.Okta {
		t.Errorf("Resolve of the default with Okta's User-Agent = %q, want okta", got)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]dialect.Dialect{"": dialect.Auto, "AUTO": dialect.Auto, " strict ": dialect.Strict, "Entra": dialect.Entra, "okta": dialect.Okta} {
		if got, err := dialect.Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := dialect.Parse("azure"); err == nil {
		t.Error("Parse(\"azure\") succeeded; an unknown dialect must be refused")
	}
	if _, err := dialect.NormalizePatch("azure", schema.User(), nil); err == nil {
		t.Error("NormalizePatch with an unknown dialect succeeded")
	}
}

func ops(tb testing.TB, s string) []patch.Operation {
	tb.Helper()
	o, err := patch.ParseRequest([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + s + `]}`))
	if err != nil {
		tb.Fatalf("ParseRequest(%s): %v", s, err)
	}
	return o
}

func apply(tb testing.TB, d dialect.Dialect, rt *schema.ResourceType, doc map[string]any, s string) (patch.Result, error) {
	tb.Helper()
	o, err := dialect.NormalizePatch(d, rt, ops(tb, s))
	if err != nil {
		tb.Fatalf("NormalizePatch: %v", err)
	}
	return patch.Apply(rt, doc, o)
}

// TestValidRequestsKeepTheirMeaning: for requests that are valid SCIM, every dialect gives
// exactly what the strict engine gives, success or error alike (RFC 7644 §3.5.2).
func TestValidRequestsKeepTheirMeaning(t *testing.T) {
	rt := schema.User()
	for _, body := range []string{
		`{"op":"replace","path":"active","value":false}`,
		`{"op":"add","value":{"nickName":"Babs","name":{"givenName":"B"}}}`,
		`{"op":"replace","value":{"` + enterprise + `:employeeNumber":"7","displayName":"X"}}`,
		`{"op":"replace","value":{"` + enterprise + `":{"department":"Ops"}}}`,
		`{"op":"add","path":"emails","value":[{"value":"b@x.org","type":"home","primary":true}]}`,
		`{"op":"remove","path":"emails[type eq \"other\"]"}`,
		`{"op":"replace","path":"` + enterprise + `:manager","value":{"value":"u-9"}}`,
		// Valid requests with a defined failure must still fail the same way.
		`{"op":"replace","path":"emails[type eq \"home\"].value","value":"h@x.org"}`, // noTarget
		`{"op":"replace","path":"id","value":"other"}`,                               // mutability
		`{"op":"add","path":"nosuch","value":"x"}`,                                   // invalidPath
	} {
		want, wantErr := patch.Apply(rt, sampleUser(t), ops(t, body))
		for _, d := range []dialect.Dialect{dialect.Strict, dialect.Auto, dialect.Okta} {
			got, err := apply(t, d, rt, sampleUser(t), body)
			if (err == nil) != (wantErr == nil) || err != nil && scimtrail.ErrorMessage(err) != scimtrail.ErrorMessage(wantErr) {
				t.Errorf("%s under %s: error %v, strict gives %v", body, d, err, wantErr)
				continue
			}
			if diff := cmp.Diff(want.Doc, got.Doc); diff != "" {
				t.Errorf("%s under %s changed the result (-strict +dialect):\n%s", body, d, diff)
			}
		}
	}
}

// TestEntraReplaceThroughFilterAdds: Entra replaces emails[type eq "work"].value for users
// that have no work email; only the Entra dialect turns that noTarget into the add Entra
// means, because for any other sender noTarget is the RFC's answer (RFC 7644 §3.5.2.3).
func TestEntraReplaceThroughFilterAdds(t *testing.T) {
	body := `{"op":"Replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555"}`
	if _, err := apply(t, dialect.Auto, schema.User(), sampleUser(t), body); scimtrail.ErrorScimType(err) != scimtrail.ScimNoTarget {
		t.Fatalf("under auto: %v, want noTarget", err)
	}
	res, err := apply(t, dialect.Entra, schema.User(), sampleUser(t), body)
	if err != nil {
		t.Fatal(err)
	}
	got := res.Doc["phoneNumbers"]
	want := []any{map[string]any{"type": "mobile", "value": "+1 555"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("phoneNumbers (-want +got):\n%s", diff)
	}
}

func TestBooleanStrings(t *testing.T) {
	rt := schema.User()
	for _, v := range []string{"True", "true", "TRUE"} {
		res, err := apply(t, dialect.Auto, rt, sampleUser(t), `{"op":"Replace","path":"emails[type eq \"other\"].primary","value":"`+v+`"}`)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got := res.Doc["emails"].([]any)[1].(map[string]any)["primary"]; got != true {
			t.Errorf("%q: primary = %v, want true", v, got)
		}
	}
	// Anything but the two spellings is left for the engine to refuse: no guessing.
	if _, err := apply(t, dialect.Auto, rt, sampleUser(t), `{"op":"replace","path":"active","value":"no"}`); scimtrail.ErrorScimType(err) != scimtrail.ScimInvalidValue {
		t.Errorf("\"no\" for a boolean: %v, want invalidValue", err)
	}
	// In POST bodies too: Entra's roles carry "primary": "True".
	in := decode(t, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","active":"False",
		"roles":[{"primary":"True","type":"WindowsAzureActiveDirectoryRole","value":"Admin"}]}`)).(map[string]any)
	doc, err := rt.Normalize(dialect.NormalizeResource(dialect.Entra, rt, in))
	if err != nil {
		t.Fatal(err)
	}
	if doc["active"] != false || doc["roles"].([]any)[0].(map[string]any)["primary"] != true {
		t.Errorf("got %v", doc)
	}
	if in["active"] != "False" {
		t.Errorf("NormalizeResource modified its input: active = %v", in["active"])
	}
	if _, err := rt.Normalize(dialect.NormalizeResource(dialect.Strict, rt, in)); err == nil {
		t.Error("strict accepted \"False\" for a boolean")
	}
}

func TestManagerShapes(t *testing.T) {
	rt := schema.User()
	manager := func(doc map[string]any) any {
		ext, _ := doc[enterprise].(map[string]any)
		return ext["manager"]
	}
	stored := sampleUser(t)
	stored[enterprise].(map[string]any)["manager"] = map[string]any{"value": "u-old"}
	for name, body := range map[string]string{
		"BareID":        `{"op":"replace","path":"` + enterprise + `:manager","value":"u-2"}`,
		"Unqualified":   `{"op":"replace","path":"manager","value":{"value":"u-2"}}`,
		"ArrayOfOne":    `{"op":"Add","path":"manager","value":[{"$ref":null,"value":"u-2"}]}`,
		"PathlessBare":  `{"op":"replace","value":{"` + enterprise + `:manager":"u-2"}}`,
		"PathlessPlain": `{"op":"replace","value":{"manager":"u-2"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := apply(t, dialect.Auto, rt, stored, body)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := manager(res.Doc), map[string]any{"value": "u-2"}; !cmp.Equal(got, any(want)) {
				t.Errorf("manager = %v, want %v", got, want)
			}
		})
	}
	// Entra clears the manager with an empty id.
	res, err := apply(t, dialect.Entra, rt, stored, `{"op":"Replace","path":"`+enterprise+`:manager","value":""}`)
	if err != nil {
		t.Fatal(err)
	}
	if m := manager(res.Doc); m != nil {
		t.Errorf("manager = %v after an empty id, want unassigned", m)
	}
	if res.Doc[enterprise].(map[string]any)["department"] != "Sales" {
		t.Errorf("clearing the manager lost the department: %v", res.Doc[enterprise])
	}
}

// TestOktaEchoedID: Okta echoes the resource's id (readOnly) in a path-less replace; the
// echo is ignored and the rest applied, while a path naming id is still refused.
func TestOktaEchoedID(t *testing.T) {
	rt := schema.Group()
	res, err := apply(t, dialect.Okta, rt, sampleGroup(t), `{"op":"replace","value":{"id":"g-1","meta":{"resourceType":"Group"},"displayName":"New"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Doc["displayName"] != "New" || res.Doc["id"] != nil || res.Doc["meta"] != nil {
		t.Errorf("got %v", res.Doc)
	}
	if _, err := apply(t, dialect.Okta, rt, sampleGroup(t), `{"op":"replace","path":"id","value":"g-2"}`); scimtrail.ErrorScimType(err) != scimtrail.ScimMutability {
		t.Errorf("replace of path id: %v, want mutability", err)
	}
}

// TestUnknownSchemaWithDataIsNotDropped: a schema URN the resource type does not define is
// dropped only when no attribute uses it; data under it reaches Normalize, which refuses
// it, rather than vanishing.
func TestUnknownSchemaWithDataIsNotDropped(t *testing.T) {
	rt := schema.User()
	const custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	in := decode(t, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+custom+`"],
		"userName":"bjensen","`+custom+`":{"tag":"701984"}}`)).(map[string]any)
	_, err := rt.Normalize(dialect.NormalizeResource(dialect.Auto, rt, in))
	var e *scimtrail.Error
	if !errors.As(err, &e) {
		t.Fatalf("Normalize accepted a body whose extension it cannot store: %v", err)
	}
}

func TestNormalizePatchDoesNotModifyInput(t *testing.T) {
	in := ops(t, `{"op":"replace","value":{"active":"False","name.givenName":"K","id":"x"}},{"op":"Replace","path":"manager","value":"u"}`)
	before, _ := json.Marshal(in)
	if _, err := dialect.NormalizePatch(dialect.Entra, schema.User(), in); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(in); string(after) != string(before) {
		t.Errorf("input changed:\n%s\n%s", before, after)
	}
}
