package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

var jsonObjectSeeds = []string{
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u000001.abc@example.com","externalId":"ext-1","active":true,"name":{"givenName":"Given1","familyName":"Family1"},"emails":[{"value":"u@example.com","type":"work","primary":true}]}`,
	` {"a":[],"b":{},"c":null,"d":-0.5e+10,"e":0,"f":"Ünïcödé ✓","a":"last wins"} `,
	`{"esc":"q\"b\\s\/n\n\u00e9\ud83d\ude00\ud800x","k\u0041":1}`,
	`{"deep":[[[{"x":[1,2,{"y":null}]}]]]}`,
	// Not for the fast path, or not JSON at all: parseObject must refuse, or agree.
	`[]`, `null`, `"s"`, `{"a":1}x`, `{"a":1}{}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":tru}`,
	`{"a":"\x"}`, "{\"a\":\"\xff\"}", "{\"a\":\"\t\"}", `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":[1,]}`, ``, `{`,
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

// slowObject is decodeObject's encoding/json path.
func slowObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, errors.New("null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the object")
	}
	return doc, nil
}

func agreesWithEncodingJSON(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := parseObject(b)
	if !ok {
		return false
	}
	slow, err := slowObject(b)
	if err != nil {
		t.Fatalf("parseObject took %q, which encoding/json refuses: %v", b, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("parseObject(%q)\n got %#v\nwant %#v", b, fast, slow)
	}
	return true
}

// TestParseObjectAgreesWithEncodingJSON checks that the fast path takes ordinary bodies and
// reads them exactly as encoding/json does, and leaves everything doubtful to it.
func TestParseObjectAgreesWithEncodingJSON(t *testing.T) {
	for i, s := range jsonObjectSeeds {
		took := agreesWithEncodingJSON(t, []byte(s))
		if i < 4 && !took {
			t.Errorf("parseObject refused the ordinary body %q", s)
		}
		if i >= 4 && took {
			t.Errorf("parseObject took %q", s)
		}
	}
}

func FuzzParseObject(f *testing.F) {
	for _, s := range jsonObjectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { agreesWithEncodingJSON(t, b) })
}

// BenchmarkDecodeUserBody is the decoding of a POST /Users body.
func BenchmarkDecodeUserBody(b *testing.B) {
	body := []byte(jsonObjectSeeds[0])
	b.Run("parseObject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseObject(body)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			slowObject(body)
		}
	})
}
