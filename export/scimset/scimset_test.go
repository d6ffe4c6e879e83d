package scimset_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail/export/scimset"
)

// The quotes below are from RFC 9967 (published from draft-ietf-scim-events-16, whose
// section numbers and event URIs it keeps), read for this test; each case names the
// section that defines the event it expects.

// decode splits an unsecured JWT into its header and claims.
func decode(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[2] != "" {
		t.Fatalf("token %q: want three parts and an empty signature (alg none)", tok)
	}
	for i, into := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func entry(action, targetType string, changes string, requestID string) []byte {
	return []byte(`{"v":1,"tenant":"acme","seq":42,"time":"2026-11-29T06:40:00.123456Z","action":"` + action +
		`","actor":{"type":"idp_sync","id":"tok1","request_id":"` + requestID + `"},"channel":"scim",` +
		`"target":{"type":"` + targetType + `","id":"2819c223","display":"bjensen"},"changes":` + changes + `}`)
}

func TestEventsFollowRFC9967(t *testing.T) {
	for _, c := range []struct {
		name, section, quote string
		action, targetType   string
		changes              string
		wantURI              string
		wantEvents           map[string]any
	}{
		{
			name: "UserCreated", section: "§2.4.1",
			quote:  `urn:ietf:params:scim:event:prov:create:{notice|full} — "Indicates a new SCIM resource has been created by the SCIM Service Provider"; in "notice" mode "the "attributes" attribute is returned listing the set of attributes created or modified in the request" (§2.4)`,
			action: "user.created", targetType: "User", changes: `[{"path":"userName","new":"bjensen"},{"path":"emails","new":[]}]`,
			wantURI:    "/Users/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:create:notice": map[string]any{"attributes": []any{"userName", "emails"}}},
		},
		{
			name: "GroupCreated", section: "§2.4.1",
			quote:  `urn:ietf:params:scim:event:prov:create:{notice|full}, for any SCIM resource; sub_id "uri" is "the SCIM relative path for the resource" (§2.1)`,
			action: "group.created", targetType: "Group", changes: `[{"path":"displayName","new":"Admins"}]`,
			wantURI:    "/Groups/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:create:notice": map[string]any{"attributes": []any{"displayName"}}},
		},
		{
			name: "UserUpdated", section: "§2.4.2",
			quote:  `urn:ietf:params:scim:event:prov:patch:{notice|full} — "The specified resource has been updated using SCIM PATCH ... When the event URI ends with "notice", the list of modified attributes is provided"`,
			action: "user.updated", targetType: "User", changes: `[{"path":"name.familyName","old":"J","new":"Jensen"}]`,
			wantURI:    "/Users/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:patch:notice": map[string]any{"attributes": []any{"name.familyName"}}},
		},
		{
			name: "MemberAdded", section: "§2.4.2",
			quote:  `Figure 7, Example SCIM Patch Event (Notice): a group's "attributes": ["members"]`,
			action: "group.member_added", targetType: "Group", changes: `[{"path":"members","new":{"value":"u1","type":"User"}}]`,
			wantURI:    "/Groups/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:patch:notice": map[string]any{"attributes": []any{"members"}}},
		},
		{
			name: "MemberRemoved", section: "§2.4.2",
			quote:  `as above: membership is the group's "members" attribute`,
			action: "group.member_removed", targetType: "Group", changes: `[{"path":"members","old":{"value":"u1","type":"User"}}]`,
			wantURI:    "/Groups/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:patch:notice": map[string]any{"attributes": []any{"members"}}},
		},
		{
			name: "UserDeleted", section: "§2.4.4",
			quote:  `urn:ietf:params:scim:event:prov:delete — "A delete event has no payload attributes ... the qualifiers "full" and "notice" SHALL NOT be used"`,
			action: "user.deleted", targetType: "User", changes: `[{"path":"groups","old":["g1"]}]`,
			wantURI:    "/Users/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:delete": map[string]any{}},
		},
		{
			name: "GroupDeleted", section: "§2.4.4",
			quote:  `urn:ietf:params:scim:event:prov:delete, Figure 10: "events":{"urn:ietf:params:scim:event:prov:delete": {}}`,
			action: "group.deleted", targetType: "Group", changes: `[]`,
			wantURI:    "/Groups/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:delete": map[string]any{}},
		},
		{
			name: "UserReactivated", section: "§2.4.5",
			quote:  `urn:ietf:params:scim:event:prov:activate — "The specified resource (e.g., User) has been "activated"", Figure 11: an empty event object`,
			action: "user.reactivated", targetType: "User", changes: `[{"path":"active","old":false,"new":true}]`,
			wantURI:    "/Users/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:activate": map[string]any{}},
		},
		{
			name: "UserDeactivated", section: "§2.4.6",
			quote:  `urn:ietf:params:scim:event:prov:deactivate — "The specified resource (e.g., User) has been deactivated and disabled"`,
			action: "user.deactivated", targetType: "User", changes: `[{"path":"active","old":true,"new":false}]`,
			wantURI:    "/Users/2819c223",
			wantEvents: map[string]any{"urn:ietf:params:scim:event:prov:deactivate": map[string]any{}},
		},
		{
			name: "UserDeactivatedWithOtherChanges", section: "§2.1, §2.4.6",
			quote:  `"A SET with multiple event URIs indicates that the events arise from the same transaction or resource state change for a single resource or subject"`,
			action: "user.deactivated", targetType: "User", changes: `[{"path":"active","old":true,"new":false},{"path":"title","old":"CTO","new":""}]`,
			wantURI: "/Users/2819c223",
			wantEvents: map[string]any{
				"urn:ietf:params:scim:event:prov:deactivate":   map[string]any{},
				"urn:ietf:params:scim:event:prov:patch:notice": map[string]any{"attributes": []any{"active", "title"}},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("RFC 9967 %s: %s", c.section, c.quote)
			tok, ok, err := scimset.Token(entry(c.action, c.targetType, c.changes, "req-7"), "abcd", "scimtrail:acme", "https://app.example.com/hook")
			if err != nil || !ok {
				t.Fatalf("Token(%s) = ok %v, err %v", c.action, ok, err)
			}
			header, claims := decode(t, tok)
			// RFC 8417 §2.3: the "typ" of a SET is "secevent+jwt".
			if header["typ"] != "secevent+jwt" || header["alg"] != "none" {
				t.Errorf("header %v", header)
			}
			if diff := cmp.Diff(c.wantEvents, claims["events"]); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			for uri := range claims["events"].(map[string]any) {
				// §2: every event URI is under "urn:ietf:params:scim:event", lower case.
				if !strings.HasPrefix(uri, "urn:ietf:params:scim:event:prov:") {
					t.Errorf("event URI %q is not under urn:ietf:params:scim:event:prov", uri)
				}
				// §2.4: "Exactly one of the payload attributes "data" or "attributes", MUST
				// be present"; delete/activate/deactivate have none, and none has "data".
				if _, ok := claims["events"].(map[string]any)[uri].(map[string]any)["data"]; ok {
					t.Errorf("%s carries data in notice mode", uri)
				}
			}
			// §2.1: "SCIM Events MUST use the "sub_id" claim ... The JWT "sub" claim MUST NOT
			// be used"; "uri ... MUST be provided"; "format" is "scim"; "id" MAY be added.
			if _, ok := claims["sub"]; ok {
				t.Error("the SET has a sub claim")
			}
			if diff := cmp.Diff(map[string]any{"format": "scim", "uri": c.wantURI, "id": "2819c223"}, claims["sub_id"]); diff != "" {
				t.Errorf("sub_id (-want +got):\n%s", diff)
			}
			// §2.2: "txn" identifies the transaction (here the request); jti the token.
			if claims["txn"] != "req-7" || claims["jti"] != "acme:42" || claims["iss"] != "scimtrail:acme" ||
				claims["aud"] != "https://app.example.com/hook" || claims["iat"] != float64(1795934400) {
				t.Errorf("claims %v", claims)
			}
			if claims["seq"] != float64(42) || claims["leaf_hash"] != "abcd" {
				t.Errorf("verification claims seq %v leaf_hash %v", claims["seq"], claims["leaf_hash"])
			}
		})
	}
}

// TestNonProvisioningEntriesHaveNoSET: tokens, sinks, access changes and the app's own
// events are not SCIM resource changes, so RFC 9967 defines no event for them.
func TestNonProvisioningEntriesHaveNoSET(t *testing.T) {
	for _, action := range []string{"token.issued", "sink.created", "access.granted", "tenant.created", "app.user.role_changed"} {
		if tok, ok, err := scimset.Token(entry(action, "User", `[]`, ""), "ab", "i", "a"); err != nil || ok || tok != "" {
			t.Errorf("Token(%s) = %q, %v, %v; want no token", action, tok, ok, err)
		}
	}
}

// TestTxnWithoutRequest: a background change (no request id) is its own transaction, and
// txn is still present, since §2.2 makes it REQUIRED for co-ordinated provisioning.
func TestTxnWithoutRequest(t *testing.T) {
	tok, _, err := scimset.Token(entry("user.deactivated", "User", `[{"path":"active"}]`, ""), "ab", "i", "a")
	if err != nil {
		t.Fatal(err)
	}
	_, claims := decode(t, tok)
	if claims["txn"] != "acme:42" {
		t.Errorf("txn %v, want the jti acme:42", claims["txn"])
	}
	if uris := slices.Collect(maps.Keys(claims["events"].(map[string]any))); len(uris) != 1 || uris[0] != scimset.EventDeactivate {
		t.Errorf("events %v", uris)
	}
}
