package ledger_test

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/ledger"
)

func writeTestBundle(t *testing.T, l *testLog) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := ledger.WriteBundle(&buf, ledger.Bundle{
		Origin: testOrigin, Tenant: "acme", Created: time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC),
		Size: int64(len(l.recs)), VerifierKeys: l.ring.VerifierKeys(), Checkpoints: l.checkpoints, Entries: l.source(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBundleRoundTrip(t *testing.T) {
	// About 10,000 entries of 480 bytes fill more than one 4 MiB chunk.
	l := buildLog(t, "acme", 10_000, 100, 5000, 10_000)
	for i := range 50 {
		l.recs[i].Body, l.recs[i].Pruned = nil, true
	}
	data := writeTestBundle(t, l)

	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	want := []string{"README.md", "manifest.json", "keys.txt", "checkpoints/000001.note", "checkpoints/000002.note", "checkpoints/000003.note", "entries/000000000001.jsonl"}
	if len(names) < len(want)+1 || strings.Join(names[:len(want)], " ") != strings.Join(want, " ") {
		t.Fatalf("members = %v, want %v then more entry chunks", names, want)
	}
	// The body is embedded byte for byte.
	if !bytes.Contains(data, append(append([]byte(`{"seq":51,"leaf_hash":"`), []byte(b64(l.recs[50].LeafHash)+`","body":`)...), l.recs[50].Body...)) {
		t.Fatal("record 51 is not written as documented")
	}

	b, err := ledger.ReadBundle(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b.Origin != testOrigin || b.Tenant != "acme" || b.Size != 10_000 || len(b.Checkpoints) != 3 || len(b.VerifierKeys) != 1 {
		t.Fatalf("bundle = %+v", b)
	}
	vs, err := ledger.ParseVerifierKeys(b.VerifierKeys)
	if err != nil {
		t.Fatal(err)
	}
	rep := ledger.Verify(b.Entries, b.Checkpoints, vs, b.Origin, nil)
	if !rep.OK || rep.Entries != 10_000 || len(rep.Pruned) != 1 || rep.Pruned[0] != (ledger.SeqRange{From: 1, To: 50}) {
		t.Fatalf("bundle verify: %+v", rep)
	}
}

func TestBundleTampering(t *testing.T) {
	l := buildLog(t, "acme", 100, 50, 100)
	data := writeTestBundle(t, l)
	verify := func(data []byte) ledger.Report {
		b, err := ledger.ReadBundle(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return l.verify(b.Entries, nil)
	}
	t.Run("EditedBody", func(t *testing.T) {
		// Same length, so the tar stays well formed.
		d := bytes.Clone(data)
		i := bytes.Index(d, []byte(`"display":"user36@example.com"`))
		d[i+12] = 'x'
		wantFailure(t, verify(d), ledger.FailModified, 37)
	})
	t.Run("ReformattedLine", func(t *testing.T) {
		// A line rewritten with a space after a colon parses but no longer hashes.
		d := bytes.Clone(data)
		i := bytes.Index(d, []byte(`"display":"user36@example.com",`))
		copy(d[i:], []byte(`"display": "user36@example.com"`))
		wantFailure(t, verify(d), ledger.FailModified, 37)
	})
	t.Run("SwappedLines", func(t *testing.T) {
		d := bytes.Clone(data)
		a := bytes.Index(d, []byte(`{"seq":37,`))
		m := bytes.Index(d, []byte(`{"seq":38,`))
		e := bytes.Index(d, []byte(`{"seq":39,`))
		if m-a != e-m {
			t.Skip("lines differ in length")
		}
		l37, l38 := bytes.Clone(d[a:m]), bytes.Clone(d[m:e])
		copy(d[a:], l38)
		copy(d[a+len(l38):], l37)
		wantFailure(t, verify(d), ledger.FailReordered, 37)
	})
	t.Run("NotABundle", func(t *testing.T) {
		if _, err := ledger.ReadBundle(strings.NewReader("hello")); err == nil {
			t.Fatal("ReadBundle of text: no error")
		}
	})
	t.Run("WrongSize", func(t *testing.T) {
		err := ledger.WriteBundle(io.Discard, ledger.Bundle{Origin: testOrigin, Size: 101, VerifierKeys: l.ring.VerifierKeys(), Entries: l.source()})
		if err == nil {
			t.Fatal("WriteBundle with a wrong Size: no error")
		}
	})
}
