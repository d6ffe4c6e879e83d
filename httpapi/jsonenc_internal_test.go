package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

var jsonencSeeds = []string{
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"0f8c","userName":"alice@example.com","name":{"givenName":"Alice","familyName":"Ö'Brien"},"active":true,"emails":[{"value":"a@example.com","primary":true,"type":"work"}],"meta":{"version":"W/\"3\"","location":"http://x/Users/0f8c?a=1&b=<2>"}}`,
	`{"n":[0,-1,1.5,2e10,-0.0e-3,12345678901234567890123],"z":null,"e":{},"a":[],"t":"tab\there\u2028\u2029\u0001\u001f\b\f\r\n\\/"}`,
	`{"b":1,"a":2,"B":3,"_":4,"é":5,"":6}`,
	`["x",true,false,null]`,
	`"just a string"`,
}

// TestAppendDocMatchesEncodingJSON checks the rendered-document encoder against
// encoding/json on documents and values of every type it handles.
func TestAppendDocMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonencSeeds {
		sameAsEncodingJSON(t, []byte(s))
	}
	for _, v := range []any{
		map[string]any{"schemas": []string{"urn:a", "urn:b"}, "s": []string(nil), "m": map[string]any(nil), "l": []any(nil)},
		json.Number(""),
		"bad utf-8: \xff\xfe, and a cut rune \xe2\x80",
	} {
		compare(t, v)
	}
	for _, v := range []any{json.Number("1x"), json.Number(" 1"), json.Number("1 "), json.Number("01"), json.Number("-"), json.Number("1."), json.Number(`"1"`), map[string]any{"f": 1.5}, []int{1}} {
		if _, ok := appendDoc(nil, v); ok {
			t.Errorf("appendDoc(%#v) claimed to encode a value it does not handle", v)
		}
	}
}

func sameAsEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return
	}
	compare(t, v)
}

func compare(t *testing.T, v any) {
	t.Helper()
	want, err := encodeJSON(v)
	if err != nil {
		if _, ok := appendDoc(nil, v); ok {
			t.Fatalf("appendDoc encoded %#v, which encoding/json refuses: %v", v, err)
		}
		return
	}
	want = bytes.TrimSuffix(want, []byte("\n"))
	got, ok := appendDoc(nil, v)
	if !ok {
		t.Fatalf("appendDoc refused %#v, which encoding/json encodes as %s", v, want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendDoc(%#v)\n got %s\nwant %s", v, got, want)
	}
}

func FuzzAppendDoc(f *testing.F) {
	for _, s := range jsonencSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsEncodingJSON(t, b)
		compare(t, string(b)) // raw bytes as one string: control bytes, invalid UTF-8
		compare(t, json.Number(b))
	})
}

// BenchmarkRenderUser is a render-cache miss of a User: what every write's response and
// every first read of a resource costs, with appendDoc or (sub-benchmark "encoding/json")
// the encoder it replaced.
func BenchmarkRenderUser(b *testing.B) {
	dec := json.NewDecoder(bytes.NewReader([]byte(jsonencSeeds[0])))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		b.Fatal(err)
	}
	b.Run("appendDoc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			appendDoc(make([]byte, 0, 1024), doc)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeJSON(doc)
		}
	})
}
