package access_test

import (
	"testing"

	"github.com/scimtrail/scimtrail/access"
)

func TestExternal(t *testing.T) {
	own := []string{"acme.example", "acme-corp.example"}
	for _, c := range []struct {
		name    string
		doc     string
		domains []string
		want    bool
		reason  string
	}{
		{"GuestUserType", `{"userName":"gina@acme.example","userType":"Guest"}`, own, true, "userType guest"},
		{"ExternalUserTypeNoDomains", `{"userName":"x","userType":"EXTERNAL"}`, nil, true, "userType external"},
		{"EmployeeNoDomains", `{"userName":"eve@other.example","userType":"Employee"}`, nil, false, ""},
		{"PrimaryEmailOwn", `{"userName":"x","emails":[{"value":"a@other.example","type":"home"},{"value":"a@acme.example","primary":true}]}`, own, false, ""},
		{"PrimaryEmailOutside", `{"userName":"x","emails":[{"value":"a@acme.example","type":"work"},{"value":"a@partner.example","primary":true}]}`, own, true, "email domain partner.example is not one of the tenant's"},
		{"WorkEmailWhenNoPrimary", `{"emails":[{"value":"a@home.example","type":"home"},{"value":"a@ACME-CORP.example","type":"work"}]}`, own, false, ""},
		{"SubdomainIsOwn", `{"emails":[{"value":"a@eu.acme.example"}]}`, own, false, ""},
		{"LookalikeIsNotOwn", `{"emails":[{"value":"a@evilacme.example"}]}`, own, true, "email domain evilacme.example is not one of the tenant's"},
		{"UserNameWhenNoEmail", `{"userName":"bob@partner.example"}`, own, true, "email domain partner.example is not one of the tenant's"},
		{"NoEmailAtAll", `{"userName":"bob"}`, own, false, ""},
		{"NotJSON", `{`, own, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, reason := access.External([]byte(c.doc), c.domains)
			if got != c.want || reason != c.reason {
				t.Errorf("External(%s, %v) = %v, %q; want %v, %q", c.doc, c.domains, got, reason, c.want, c.reason)
			}
		})
	}
}
