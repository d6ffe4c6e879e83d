package filter_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// userSchema is a cut-down RFC 7643 §4.1 User with the enterprise extension (§4.3), enough
// to exercise every attribute type. Keys are lower-case "urn|attr|sub".
type userSchema map[string]filter.AttrInfo

func (s userSchema) Attribute(p filter.AttrPath) (filter.AttrInfo, bool) {
	urn := strings.ToLower(p.URN)
	if urn == "urn:ietf:params:scim:schemas:core:2.0:user" {
		urn = ""
	}
	info, ok := s[urn+"|"+strings.ToLower(p.Attr)+"|"+strings.ToLower(p.Sub)]
	return info, ok
}

var str = filter.AttrInfo{Type: filter.TypeString}

func testSchema() userSchema {
	ent := strings.ToLower(enterprise)
	return userSchema{
		"|username|":              str,
		"|displayname|":           str,
		"|usertype|":              str,
		"|title|":                 str,
		"|password|":              str,
		"|name|":                  {Type: filter.TypeComplex},
		"|name|familyname":        str,
		"|name|givenname":         str,
		"|active|":                {Type: filter.TypeBoolean},
		"|emails|":                {Type: filter.TypeComplex, MultiValued: true},
		"|emails|value":           str,
		"|emails|type":            str,
		"|emails|primary":         {Type: filter.TypeBoolean},
		"|ims|":                   {Type: filter.TypeComplex, MultiValued: true},
		"|ims|value":              str,
		"|ims|type":               str,
		"|x509certificates|":      {Type: filter.TypeComplex, MultiValued: true},
		"|x509certificates|value": {Type: filter.TypeBinary},
		"|nicknames|":             {Type: filter.TypeString, MultiValued: true},
		"|badgeid|":               {Type: filter.TypeString, CaseExact: true},
		"|logincount|":            {Type: filter.TypeInteger},
		"|score|":                 {Type: filter.TypeDecimal},
		"|birthday|":              {Type: filter.TypeDateTime},
		"|profileurl|":            {Type: filter.TypeReference},
		ent + "|employeenumber|":  str,
		ent + "|costcenter|":      str,
		ent + "|manager|":         {Type: filter.TypeComplex},
		ent + "|manager|value":    str,
	}
}

// bjensen is the RFC 7643 §8.2 full User representation, trimmed, with a few added
// attributes of the types the RFC example does not have.
const bjensen = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "externalId": "701984",
  "userName": "bjensen@example.com",
  "name": {"familyName": "Jensen", "givenName": "Barbara"},
  "displayName": "Babs Jensen",
  "title": "Tour Guide",
  "userType": "Employee",
  "Active": true,
  "emails": [
    {"value": "bjensen@example.com", "type": "work", "primary": true},
    {"value": "babs@jensen.org", "type": "home"}
  ],
  "ims": [{"value": "someaimhandle", "type": "aim"}],
  "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
  "nickNames": ["Babs", "Barb"],
  "badgeId": "AbC-1",
  "loginCount": 12345678901234567890,
  "score": 2.5,
  "birthday": "1980-02-29T10:00:00+02:00",
  "profileUrl": "https://login.example.com/bjensen",
  "password": "",
  "meta": {
    "resourceType": "User",
    "created": "2010-01-23T04:56:22Z",
    "lastModified": "2011-05-13T04:42:34Z",
    "version": "W/\"3694e05e9dff590\"",
    "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
  },
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984",
    "costCenter": "4130",
    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
  }
}`

func decode(t testing.TB, s string, useNumber bool) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	if useNumber {
		d.UseNumber()
	}
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		// eq on strings: case-insensitive unless caseExact (RFC 7644 §3.4.2.2, RFC 7643 §2.3.1).
		{`userName eq "bjensen@example.com"`, true},
		{`userName eq "BJENSEN@example.com"`, true},
		{`USERNAME eq "bjensen@example.com"`, true},
		{`userName eq "bjensen"`, false},
		{`badgeId eq "AbC-1"`, true},
		{`badgeId eq "abc-1"`, false},
		{`badgeId co "bC"`, true},
		{`badgeId co "BC"`, false},
		{`id eq "2819C223-7F76-453A-919D-413861904646"`, false}, // id is caseExact (RFC 7643 §3.1)
		{`id eq "2819c223-7f76-453a-919d-413861904646"`, true},
		// ne
		{`userType ne "Employee"`, false},
		{`userType ne "Intern"`, true},
		{`nickName ne "x"`, false}, // unknown attribute: never matches
		// co, sw, ew
		{`name.familyName co "ENS"`, true},
		{`name.familyName co "x"`, false},
		{`userName sw "BJ"`, true},
		{`userName sw "jensen"`, false},
		{`userName ew "EXAMPLE.COM"`, true},
		{`userName ew "bjensen"`, false},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, false},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B"`, true},
		// gt, ge, lt, le on strings: lexicographic.
		{`displayName gt "Babs"`, true},
		{`displayName gt "babs jensen"`, false},
		{`displayName ge "babs jensen"`, true},
		{`displayName lt "C"`, true},
		{`displayName le "Babs Jensen"`, true},
		{`displayName lt "Babs Jensen"`, false},
		// dateTime: chronological, as instants (RFC 7644 §3.4.2.2 "gt").
		{`meta.lastModified gt "2011-05-13T04:42:33Z"`, true},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, false},
		{`meta.lastModified ge "2011-05-13T04:42:34Z"`, true},
		{`meta.lastModified lt "2011-05-13T04:42:34.001Z"`, true},
		{`meta.lastModified le "2011-05-13T04:42:34Z"`, true},
		{`meta.lastModified eq "2011-05-13T06:42:34+02:00"`, true}, // same instant, other offset
		{`birthday eq "1980-02-29T08:00:00Z"`, true},
		{`birthday lt "1980-02-29T09:00:00+01:00"`, false},
		{`meta.created sw "2010-01"`, true},
		// integer and decimal: numeric and exact.
		{`loginCount eq 12345678901234567891`, false},
		{`loginCount lt 1.2345678901234567891e19`, true},
		{`score eq 2.50`, true},
		{`score eq 25e-1`, true},
		{`score gt 2.4999999999999999999`, true},
		{`score lt 3`, true},
		{`score le -3`, false},
		{`score gt -1e400`, true},
		{`score lt 1e400`, true},
		{`score eq "2.5"`, false},
		// boolean: eq and ne only; attribute names in the document match in any case ("Active").
		{`active eq true`, true},
		{`active eq false`, false},
		{`active ne false`, true},
		{`active eq "true"`, false},
		{`active gt false`, false},
		// pr: present and not null, "" or [] (RFC 7644 §3.4.2.2 "pr", RFC 7643 §2.5).
		{`title pr`, true},
		{`password pr`, false},
		{`emails pr`, true},
		{`name pr`, true},
		{`emails.primary pr`, true},
		{`name.middleName pr`, false},
		{`loginCount pr`, true},
		{`active pr`, true},
		{`nickName pr`, false},
		// null is the unassigned state (RFC 7643 §2.5).
		{`title eq null`, false},
		{`password eq null`, true},
		{`password ne null`, false},
		{`title ne null`, true},
		// Multi-valued: any value matches (RFC 7644 §3.4.2.2).
		{`emails.type eq "home"`, true},
		{`emails.type eq "other"`, false},
		{`emails.value ew "jensen.org"`, true},
		{`emails.type ne "work"`, true}, // "home" is not "work"
		{`nickNames eq "barb"`, true},
		{`nickNames sw "Bab"`, true},
		{`nickNames eq "Barbara"`, false},
		{`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, true},
		// A complex multi-valued attribute without sub-attribute compares "value".
		{`emails co "jensen.org"`, true},
		{`emails eq "bjensen@example.com"`, true},
		{`emails eq "work"`, false},
		{`emails gt "a"`, false},
		{`x509Certificates eq "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"`, true},
		{`x509Certificates eq "miidqzccaqygawibagiceaawdqyjkozihvcnaqefbqawtjelmakga1uebhmcvvmx"`, false}, // binary is caseExact
		// Value paths: one element must satisfy the whole inner filter.
		{`emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "home" and value co "@example.com"]`, false},
		{`emails[type eq "home"] and emails[value co "@example.com"]`, true},
		{`emails[TYPE eq "WORK" and primary eq true]`, true},
		{`emails[not (type eq "work")]`, true},
		{`emails[type eq "work"] or ims[type eq "xmpp" and value co "@foo.com"]`, true},
		{`ims[type eq "xmpp" and value co "@foo.com"]`, false},
		{`emails[unknown pr]`, false},
		{`emails[not (unknown pr)]`, true},
		{enterprise + `:manager[value sw "26118915"]`, true},
		{`name[givenName eq "barbara" and familyName sw "J"]`, true}, // a single complex value
		{`name[givenName eq "Babs"]`, false},
		{`userName[value pr]`, false}, // not complex
		// URN-qualified extension attributes live under their URN key.
		{enterprise + `:employeeNumber eq "701984"`, true},
		{strings.ToUpper(enterprise) + `:EMPLOYEENUMBER eq "701984"`, true},
		{enterprise + `:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{enterprise + `:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{enterprise + `:costCenter pr`, true},
		{enterprise + `:userName pr`, false},
		{`employeeNumber eq "701984"`, false}, // not a core attribute
		// meta attributes are in doc["meta"].
		{`meta.resourceType eq "User"`, true},
		{`meta.version eq "W/\"3694e05e9dff590\""`, true},
		// Logic, RFC 7644 §3.4.2.2 examples.
		{`title pr and userType eq "Employee"`, true},
		{`title pr or userType eq "Intern"`, true},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, true},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, false},
		{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`, true},
		// Unknown attributes never match, and "not" of them does.
		{`nickName eq "Babs"`, false},
		{`not (nickName eq "Babs")`, true},
		{`nickName pr or title pr`, true},
		{`not (title pr)`, false},
	}
	// These need the document decoded with UseNumber: as float64, 12345678901234567890
	// is already rounded before the filter sees it.
	exact := []struct {
		filter string
		want   bool
	}{
		{`loginCount eq 12345678901234567890`, true},
		{`loginCount eq 12345678901234567891`, false},
		{`loginCount gt 12345678901234567889`, true},
		{`loginCount ge 12345678901234567890.0`, true},
		{`loginCount lt 12345678901234567890.000000001`, true},
	}
	s := testSchema()
	exactDoc := decode(t, bjensen, true)
	for _, tt := range exact {
		if got := filter.Match(mustParse(t, tt.filter), exactDoc, s); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.filter, got, tt.want)
		}
	}
	for _, useNumber := range []bool{false, true} {
		doc := decode(t, bjensen, useNumber)
		for _, tt := range tests {
			e := mustParse(t, tt.filter)
			if got := filter.Match(e, doc, s); got != tt.want {
				t.Errorf("Match(%s), UseNumber=%v = %v, want %v", tt.filter, useNumber, got, tt.want)
			}
		}
	}
}

// TestMatchAbsent checks the choices documented on Match for attributes the schema knows
// but the resource lacks.
func TestMatchAbsent(t *testing.T) {
	doc := decode(t, `{"userName":"a","emails":[],"name":{"givenName":null}}`, false)
	tests := []struct {
		filter string
		want   bool
	}{
		{`title eq "x"`, false},
		{`title ne "x"`, true},
		{`title co "x"`, false},
		{`title gt "a"`, false},
		{`title pr`, false},
		{`title eq null`, true},
		{`emails pr`, false},
		{`emails.value ne "x"`, true},
		{`emails eq null`, true},
		{`emails[type pr]`, false},
		{`not (emails[type pr])`, true},
		{`name pr`, false},
		{`name.givenName eq null`, true},
		{`active ne true`, true},
		{`loginCount lt 5`, false},
	}
	s := testSchema()
	for _, tt := range tests {
		if got := filter.Match(mustParse(t, tt.filter), doc, s); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

// TestMatchFoldsLikeStores checks that caseExact=false compares Fold forms (NFC, then lower
// case; RFC 7643 §2.2 caseExact), the key the stores index and compile SQL against, so a
// filter evaluated in memory answers as the same filter compiled to SQL: a decomposed
// "E\u0301" equals a composed "é", and "ſ" (long s) is not "s" in either path.
func TestMatchFoldsLikeStores(t *testing.T) {
	doc := decode(t, `{"userName":"Barbe\u0301","name":{"givenName":"Barbé"},"badgeId":"Barbé"}`, false)
	tests := []struct {
		filter string
		want   bool
	}{
		{`userName eq "BARBÉ"`, true},
		{`userName eq "barbe\u0301"`, true},
		{`name.givenName eq "BARBE\u0301"`, true},
		{`name.givenName sw "BARB"`, true},
		{`name.givenName ew "É"`, true},
		{`userName eq "barbſ"`, false},
		{`badgeId eq "Barbe\u0301"`, false}, // caseExact: compared as written
	}
	s := testSchema()
	for _, tt := range tests {
		if got := filter.Match(mustParse(t, tt.filter), doc, s); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.filter, got, tt.want)
		}
	}
	if got, want := filter.Fold("ÅNGSTRÖM"), filter.Fold("a\u030angstro\u0308m"); got != want {
		t.Errorf("Fold differs for composed and decomposed forms: %q vs %q", got, want)
	}
}

// TestMatchWithoutSchema checks the nil-Schema mode: types come from the JSON values.
func TestMatchWithoutSchema(t *testing.T) {
	doc := decode(t, bjensen, false)
	tests := []struct {
		filter string
		want   bool
	}{
		{`USERNAME eq "BJENSEN@EXAMPLE.COM"`, true},
		{`nickName pr`, false},
		{`emails co "jensen.org"`, true},
		{`emails[type eq "work"]`, true},
		{`score gt 2`, true},
		{`active eq true`, true},
		{enterprise + `:employeeNumber eq "701984"`, true},
	}
	for _, tt := range tests {
		if got := filter.Match(mustParse(t, tt.filter), doc, nil); got != tt.want {
			t.Errorf("Match(%s, nil schema) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		filter  string
		errPart string // "" for valid
	}{
		{`userName eq "bjensen"`, ""},
		{`active eq true`, ""},
		{`active pr`, ""},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, ""},
		{`meta.lastModified gt "2011-05-13T04:42:34.5+02:00"`, ""},
		{`meta.created sw "2011"`, ""},
		{`loginCount ge 10`, ""},
		{`loginCount ge 1e3`, ""},
		{`score lt 2.5`, ""},
		{`emails co "example.com"`, ""},
		{`emails[type eq "work" and primary eq true]`, ""},
		{`nickName gt true`, ""}, // unknown: not an error, it matches nothing
		{`title eq null`, ""},
		{enterprise + `:manager.value eq "x"`, ""},
		// RFC 7644 §3.4.2.2 "gt": "Boolean and Binary attributes SHALL cause a failed
		// response (HTTP status code 400) with "scimType" of "invalidFilter"".
		{`active gt true`, "only with eq, ne or pr"},
		{`emails.primary le false`, "only with eq, ne or pr"},
		{`x509Certificates.value gt "a"`, "binary"},
		{`active co "t"`, "only with eq, ne or pr"},
		{`active sw "t"`, "only with eq, ne or pr"},
		{`emails[primary ew "e"]`, "only with eq, ne or pr"},
		{`emails gt "a"`, "emails.value"},
		{`name lt "x"`, "needs one of its sub-attributes"},
		{`active eq "true"`, "compare it with true or false"},
		{`userName eq true`, "quoted string"},
		{`userName eq 42`, "quoted string"},
		{`loginCount eq "5"`, "without quotes"},
		{`loginCount eq 1.5`, "not a whole number"},
		{`loginCount co 1`, "needs text"},
		{`meta.lastModified gt "yesterday"`, "RFC 3339"},
		{`meta.lastModified gt "2011-05-13"`, "RFC 3339"},
		{`meta.lastModified gt 1305261754`, "RFC 3339"},
		{`title gt null`, "only eq and ne"},
		{`title co null`, "only eq and ne"},
		{`userName[value eq "x"]`, "not a complex one"},
		{`not (title pr) and active lt true`, "boolean"},
	}
	s := testSchema()
	for _, tt := range tests {
		err := filter.Validate(mustParse(t, tt.filter), s)
		if tt.errPart == "" {
			if err != nil {
				t.Errorf("Validate(%s) = %v, want nil", tt.filter, err)
			}
			continue
		}
		var fe *filter.Error
		if !errors.As(err, &fe) || fe.Pos != -1 || !strings.Contains(fe.Msg, tt.errPart) {
			t.Errorf("Validate(%s) = %v, want an *Error with Pos -1 mentioning %q", tt.filter, err, tt.errPart)
		}
	}
}

func TestAttributes(t *testing.T) {
	e := mustParse(t, `userName eq "a" and (emails[type eq "work" and Value co "x"] or not (USERNAME pr)) or `+
		enterprise+`:manager.value pr or emails.type eq "home"`)
	want := []filter.AttrPath{
		{Attr: "userName"},
		{Attr: "emails", Sub: "type"},
		{Attr: "emails", Sub: "Value"},
		{URN: enterprise, Attr: "manager", Sub: "value"},
	}
	if diff := cmp.Diff(want, filter.Attributes(e)); diff != "" {
		t.Fatalf("Attributes (-want +got):\n%s", diff)
	}
}
