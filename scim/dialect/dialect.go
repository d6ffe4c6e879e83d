// Package dialect rewrites the request shapes that real identity providers send into the
// strict SCIM 2.0 the rest of scimtrail speaks (RFC 7643, RFC 7644), in one place, before
// schema.Normalize and patch.Apply see them.
//
// Every rewrite here turns a request the strict engine would reject with 400 into the
// request its sender meant, and nothing else: a request that is valid SCIM is passed
// through unchanged, so the dialect can be on by default without altering what a
// conformant client gets. Rewrites never drop a value the client sent except values the
// RFC says a server ignores (readOnly attributes, RFC 7644 §3.3) and nulls (unassigned,
// RFC 7643 §2.5). Where a rewrite cannot be done without guessing, the request is left as
// it is and the strict engine reports the problem.
//
// The package is pure: it takes values and returns new values and never modifies its
// input.
package dialect

import (
	"fmt"
	"net/url"
	"strings"
)

// Dialect names the set of IdP quirks a tenant's SCIM endpoint accepts. It is a tenant
// setting (a ledger entry when it changes); the zero value is Auto.
type Dialect string

// The dialects a tenant can choose.
const (
	// Auto recognises the IdP shapes that are unambiguous, whoever sends them, and applies
	// the fixes of every IdP that only ever turn a rejected request into the meant one. It
	// leaves out fixes that would change the outcome of a valid request (Entra's replace
	// through a value filter that matches nothing is a noTarget error in strict SCIM); use
	// Resolve to narrow Auto to the sender's own dialect when the sender is recognised.
	Auto Dialect = "auto"
	// Strict applies no rewrite: the request reaches the engine exactly as sent.
	Strict Dialect = "strict"
	// Entra is Microsoft Entra ID (formerly Azure AD) provisioning, with or without the
	// aadOptscim062020 flag.
	Entra Dialect = "entra"
	// Okta is Okta's SCIM 2.0 client, for OIN and App Integration Wizard apps.
	Okta Dialect = "okta"
)

// Parse reads a dialect name as a tenant's configuration spells it: "", "auto", "strict",
// "entra" or "okta", case-insensitively. "" is Auto, the default.
func Parse(s string) (Dialect, error) {
	switch d := Dialect(strings.ToLower(strings.TrimSpace(s))); d {
	case "":
		return Auto, nil
	case Auto, Strict, Entra, Okta:
		return d, nil
	}
	return "", fmt.Errorf("dialect %q is not one of \"auto\", \"strict\", \"entra\", \"okta\"", s)
}

// Detect names the IdP that sent a request, from its User-Agent header and query string,
// or returns Auto when it cannot tell.
//
// The signals, and where they are documented:
//   - Okta sends "User-Agent: Okta SCIM Client 1.0.0" on every request (Okta, "SCIM 2.0
//     Protocol Reference" and "Build a SCIM provisioning integration"); the match is on
//     "okta" so that a version change does not turn detection off.
//   - Entra ID's compatibility flags are query parameters an administrator appends to the
//     tenant URL: "aadOptscim062020" (SCIM-compliant PATCH) and "AzureAdScimPatch2017"
//     (the old behaviour) (Microsoft, "Known issues and resolutions with SCIM 2.0 protocol
//     compliance of the Microsoft Entra user provisioning service"). Parameter names are
//     matched ignoring case because the documentation itself spells the first both
//     "aadOptscim062020" and "aadOptSCIM062020".
//   - Microsoft does not document Entra's User-Agent. Integrators' code recognises it by
//     "Azure AD" ("Microsoft Azure AD SCIM provisioning 1.0.0" in one public test), so
//     "azure ad", "azure active directory", "azuread" and "entra" are matched.
func Detect(userAgent string, query url.Values) Dialect {
	for k := range query {
		if strings.EqualFold(k, "aadOptscim062020") || strings.EqualFold(k, "AzureAdScimPatch2017") {
			return Entra
		}
	}
	ua := strings.ToLower(userAgent)
	switch {
	case strings.Contains(ua, "okta"):
		return Okta
	case strings.Contains(ua, "azure ad"), strings.Contains(ua, "azure active directory"),
		strings.Contains(ua, "azuread"), strings.Contains(ua, "entra"):
		return Entra
	}
	return Auto
}

// Resolve returns the dialect to apply to one request of a tenant configured with
// configured: the configured one, except that Auto becomes the sender's own dialect when
// Detect recognises it.
func Resolve(configured Dialect, userAgent string, query url.Values) Dialect {
	if configured == Auto || configured == "" {
		return Detect(userAgent, query)
	}
	return configured
}

// fixes is what a dialect rewrites.
type fixes struct {
	// boolStrings: "True"/"False" (any case) where the schema says boolean. Entra without
	// aadOptscim062020 sends {"op":"Replace","path":"active","value":"False"}.
	boolStrings bool
	// valueObjects: a single-valued complex attribute with a "value" sub-attribute
	// (enterprise manager) given as a bare id, or as a one-element array of the object
	// (Entra's "Add" of "manager" with [{"$ref": …, "value": id}]).
	valueObjects bool
	// qualify: an unqualified attribute name that only an extension defines ("manager",
	// "department") is that extension's attribute.
	qualify bool
	// splitPathless: a path-less add/replace whose value has keys that are paths
	// ("name.givenName", "urn:…:User:manager") becomes one operation per such key.
	splitPathless bool
	// dropReadOnlyEcho: readOnly attributes (id, meta, groups) echoed in a path-less
	// add/replace value are ignored, as RFC 7644 §3.3 has a server ignore them in POST
	// and PUT bodies. Okta sends {"op":"replace","value":{"id":…,"displayName":…}}.
	dropReadOnlyEcho bool
	// resourceBody: unknown schema URNs in "schemas" that no attribute uses, and unknown
	// attributes whose value is null, are dropped from POST/PUT bodies. Entra's group
	// create lists "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group".
	resourceBody bool
	// replaceAddsFiltered: a replace of attr[filter].sub with a value, when no value
	// matches the filter, adds the value the filter describes, as add does. Entra sends
	// Replace of emails[type eq "work"].value for a user who has no work email yet.
	replaceAddsFiltered bool
}

func (d Dialect) fixes() fixes {
	switch d {
	case Strict:
		return fixes{}
	case Entra:
		return fixes{boolStrings: true, valueObjects: true, qualify: true, splitPathless: true,
			dropReadOnlyEcho: true, resourceBody: true, replaceAddsFiltered: true}
	case Okta:
		return fixes{boolStrings: true, valueObjects: true, splitPathless: true, dropReadOnlyEcho: true, resourceBody: true}
	case Auto, "":
		return fixes{boolStrings: true, valueObjects: true, qualify: true, splitPathless: true,
			dropReadOnlyEcho: true, resourceBody: true}
	}
	// An unknown dialect (a configuration typo that slipped past Parse) rewrites nothing.
	return fixes{}
}
