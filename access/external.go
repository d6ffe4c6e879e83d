package access

import (
	"encoding/json"
	"strings"
)

// External reports whether the user whose stored document is doc is an external
// collaborator under a tenant's own email domains, and why: the IdP sent userType "guest"
// or "external"; or domains is not empty and the user's email domain is not one of them
// nor beneath one. The email is the primary one, else the work one, else the first, else
// the userName when it looks like an address. A user with no email is judged by userType
// alone.
func External(doc []byte, domains []string) (bool, string) {
	var d struct {
		UserName string `json:"userName"`
		UserType string `json:"userType"`
		Emails   []struct {
			Value   string `json:"value"`
			Type    string `json:"type"`
			Primary bool   `json:"primary"`
		} `json:"emails"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return false, ""
	}
	if t := strings.ToLower(d.UserType); t == "guest" || t == "external" {
		return true, "userType " + t
	}
	if len(domains) == 0 {
		return false, ""
	}
	email := ""
	for _, pick := range []func(i int) bool{
		func(i int) bool { return d.Emails[i].Primary },
		func(i int) bool { return strings.EqualFold(d.Emails[i].Type, "work") },
		func(i int) bool { return true },
	} {
		for i := range d.Emails {
			if email == "" && d.Emails[i].Value != "" && pick(i) {
				email = d.Emails[i].Value
			}
		}
	}
	if email == "" && strings.Contains(d.UserName, "@") {
		email = d.UserName
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false, ""
	}
	domain := strings.ToLower(email[at+1:])
	for _, own := range domains {
		if domain == own || strings.HasSuffix(domain, "."+own) {
			return false, ""
		}
	}
	return true, "email domain " + domain + " is not one of the tenant's"
}
