package loadgen

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsondocCases are responses as the server writes them, and the ways a broken server could
// get them wrong, for the one-pass reader and encoding/json to agree on.
var jsondocCases = []string{
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"0f8c","externalId":"ext-1","userName":"u000001.abc@example.com","name":{"familyName":"Family1","givenName":"Given1"},"active":true,"emails":[{"value":"u@example.com","type":"work","primary":true}],"groups":[{"value":"g1","$ref":"http://x/Groups/g1","display":"g"}],"meta":{"resourceType":"User","created":"2026-11-29T12:00:00Z","version":"W/\"3\"","location":"http://x/Users/0f8c"}}`,
	` { "id" : "a" , "userName" : "b\u00e9\"c" , "active" : false , "name" : null } `,
	`{"ID":"upper","USERNAME":"case","Active":null,"NAME":{"GIVENNAME":"g"}}`,
	`{"id":"dup","id":"last"}`,
	`{"userName":"x","extra":[1,-2.5e+3,0,true,false,null,{"a":[[]]},"s\\\/\b\f\n\r\t"]}`,
	`{"totalResults":2,"itemsPerPage":2,"startIndex":1,"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"Resources":[{"id":"1","userName":"a"},null,{"id":"2","userName":"b","active":true}]}`,
	`{"totalResults":0,"Resources":[],"nextCursor":"abc"}`,
	`{"id":"g","displayName":"Group","members":[{"value":"u1","display":"x"},{"value":"u2"},null]}`,
	`{"members":null,"Resources":null}`,
	`null`,
	`{}`,
	// Not valid JSON, or not the types the checks read: both must refuse.
	``,
	`{`,
	`{"id":"a",}`,
	`{"id":"a"}x`,
	`{"id":"a" "userName":"b"}`,
	`{"id":'a'}`,
	`{"id":"a\x"}`,
	`{"id":"a\u12"}`,
	"{\"id\":\"a\tb\"}",
	`{"id":5}`,
	`{"active":"true"}`,
	`{"active":tru}`,
	`{"name":"x"}`,
	`{"totalResults":1.5}`,
	`{"totalResults":01}`,
	`{"totalResults":-}`,
	`{"totalResults":99999999999999999999}`,
	`{"members":{}}`,
	`{"Resources":[{"id":1}]}`,
	`{"x":[1,]}`,
	`{"x":nul}`,
	`[1]`,
	`"s"`,
	strings.Repeat("[", 2000) + strings.Repeat("]", 2000),
}

// agree decodes b with both readers into fresh values of one document type and reports a
// difference: in acceptance, or in the fields read.
func agree(t *testing.T, b []byte) {
	t.Helper()
	docs := []struct {
		mine, std decoder
	}{
		{&userDoc{}, &userDoc{}},
		{&groupDoc{}, &groupDoc{}},
		{&listDoc{}, &listDoc{}},
	}
	for _, dd := range docs {
		errMine := dd.mine.decode(b)
		errStd := json.Unmarshal(b, dd.std)
		if (errMine == nil) != (errStd == nil) {
			// encoding/json folds a few non-ASCII letters into ASCII names (the Kelvin
			// sign, the long s); SCIM names are ASCII, so only ASCII folding is needed.
			if errMine != nil && !isASCII(b) {
				continue
			}
			t.Fatalf("%T of %q: one-pass error %v, encoding/json error %v", dd.mine, b, errMine, errStd)
		}
		if errMine == nil && isASCII(b) && !reflect.DeepEqual(normalize(dd.mine), normalize(dd.std)) {
			t.Fatalf("%T of %q:\none-pass      %+v\nencoding/json %+v", dd.mine, b, dd.mine, dd.std)
		}
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// normalize makes an empty slice and a nil one compare equal: no check tells them apart.
func normalize(v decoder) decoder {
	switch v := v.(type) {
	case *groupDoc:
		if len(v.Members) == 0 {
			v.Members = nil
		}
	case *listDoc:
		if len(v.Resources) == 0 {
			v.Resources = nil
		}
	}
	return v
}

func TestJSONDocAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range jsondocCases {
		agree(t, []byte(c))
	}
	var p cursorPage
	if err := p.decode([]byte(jsondocCases[6])); err != nil || p.NextCursor != "abc" || p.TotalResults != 0 {
		t.Fatalf("cursor page: %+v, %v", p, err)
	}
}

func FuzzJSONDoc(f *testing.F) {
	for _, c := range jsondocCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { agree(t, b) })
}
