package schema_test

import (
	"testing"

	"github.com/scimtrail/scimtrail/scim/schema"
)

// userBody is a User as the load tool and IdPs send it.
const userBody = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u000001.abc@example.com","externalId":"ext-1","active":true,"name":{"givenName":"Given1","familyName":"Family1"},"emails":[{"value":"u000001.abc@example.com","type":"work","primary":true}]}`

// BenchmarkNormalizeUser is the validation every POST and PUT of a User runs.
func BenchmarkNormalizeUser(b *testing.B) {
	rt := schema.User()
	in := decode(b, userBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.Normalize(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProjectUser is the projection every rendered User goes through (each response
// of a write, each resource of a list page).
func BenchmarkProjectUser(b *testing.B) {
	rt := schema.User()
	doc, err := rt.Normalize(decode(b, userBody))
	if err != nil {
		b.Fatal(err)
	}
	doc["id"] = "0f8c"
	doc["meta"] = map[string]any{"resourceType": "User", "created": "2026-11-29T12:00:00Z", "lastModified": "2026-11-29T12:00:00Z", "location": "http://x/Users/0f8c", "version": `W/"1"`}
	b.ReportAllocs()
	for b.Loop() {
		rt.Project(doc, nil, nil)
	}
}
