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
	if len(domains) == 0 && !mayHaveKey(doc, "usertype") {
		return false, "" // userType alone decides, and there is none
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

// mayHaveKey reports whether the JSON document doc may have a member named key (lower case
// ASCII), which encoding/json matches case-insensitively: false only when no quoted
// "key" occurs in doc, ignoring ASCII case, and doc has no escape or non-ASCII byte that
// could spell it otherwise. It spares the write path decoding whole documents (users'
// external status and SCIM roles) for an attribute most of them do not have.
func mayHaveKey(doc []byte, key string) bool {
	n := len(key) + 2
	for i, c := range doc {
		if c == '\\' || c >= 0x80 {
			return true
		}
		if c != '"' || i+n > len(doc) || doc[i+n-1] != '"' {
			continue
		}
		match := true
		for j := 0; j < len(key); j++ {
			if b := doc[i+1+j]; b != key[j] && b+('a'-'A') != key[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
