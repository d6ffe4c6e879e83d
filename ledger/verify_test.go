package ledger_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

const testOrigin = "scimtrail/install-1/acme"

// sliceSource is an EntrySource over records in memory; err, when set, is returned after them.
type sliceSource struct {
	recs []ledger.Record
	err  error
	i    int
}

func (s *sliceSource) Next() (ledger.Record, error) {
	if s.i >= len(s.recs) {
		if s.err != nil {
			return ledger.Record{}, s.err
		}
		return ledger.Record{}, io.EOF
	}
	s.i++
	return s.recs[s.i-1], nil
}

// testLog is a tenant's log as the database holds it: records and signed checkpoints.
type testLog struct {
	recs        []ledger.Record
	checkpoints [][]byte
	ring        *ledger.KeyRing
}

func (l *testLog) source() *sliceSource {
	recs := make([]ledger.Record, len(l.recs))
	for i, r := range l.recs {
		recs[i] = ledger.Record{Seq: r.Seq, Body: bytes.Clone(r.Body), LeafHash: bytes.Clone(r.LeafHash), Pruned: r.Pruned}
	}
	return &sliceSource{recs: recs}
}

func (l *testLog) verify(src ledger.EntrySource, trusted []byte) ledger.Report {
	return ledger.Verify(src, l.checkpoints, l.ring.Verifiers(), testOrigin, trusted)
}

func mustRing(tb testing.TB) *ledger.KeyRing {
	tb.Helper()
	text, err := ledger.NewKeyRing("scimtrail-install-1")
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(text)
	if err != nil {
		tb.Fatal(err)
	}
	return ring
}

func testEntry(i int) scimtrail.Entry {
	return scimtrail.Entry{
		Action: "user.updated", Channel: scimtrail.ChannelSCIM,
		Actor:  scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: "tok_01", TokenID: "tok_01", IP: "203.0.113.7", RequestID: fmt.Sprint("req-", i)},
		Target: &scimtrail.Target{Type: "User", ID: fmt.Sprintf("2819c223-7f76-453a-919d-%012d", i), Display: fmt.Sprintf("user%d@example.com", i)},
		// A nested "seq" and "tenant" must not be mistaken for the entry's own.
		Changes: []scimtrail.Change{{Path: "title", Old: map[string]any{"seq": 1, "tenant": "evil"}, New: "Tour Guide"}},
	}
}

// buildLog appends n entries in batches of 7 and signs a checkpoint at each size in cpAt.
func buildLog(tb testing.TB, tenant string, n int, cpAt ...int64) *testLog {
	tb.Helper()
	l := &testLog{ring: mustRing(tb)}
	head := scimtrail.LedgerHead{Tenant: tenant}
	at := time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC)
	for head.Size < int64(n) {
		var batch []scimtrail.Entry
		for i := 0; i < 7 && head.Size+int64(i) < int64(n); i++ {
			batch = append(batch, testEntry(int(head.Size)+i))
		}
		stored, next, err := ledger.Append(head, batch, at)
		if err != nil {
			tb.Fatal(err)
		}
		for _, s := range stored {
			l.recs = append(l.recs, ledger.Record{Seq: s.Seq, Body: s.Body, LeafHash: s.LeafHash})
			if slices.Contains(cpAt, s.Seq) {
				l.sign(tb, s.Seq, rootOf(l.recs))
			}
		}
		head = next
	}
	return l
}

func (l *testLog) sign(tb testing.TB, size int64, root []byte) []byte {
	tb.Helper()
	msg, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: testOrigin, Size: size, Root: root}, l.ring.Signer())
	if err != nil {
		tb.Fatal(err)
	}
	l.checkpoints = append(l.checkpoints, msg)
	return msg
}

func rootOf(recs []ledger.Record) []byte {
	var leaves [][]byte
	for _, r := range recs {
		leaves = append(leaves, r.LeafHash)
	}
	return referenceRoot(leaves)
}

func wantFailure(t *testing.T, rep ledger.Report, kind ledger.FailureKind, seq int64) {
	t.Helper()
	if rep.Err != nil {
		t.Fatalf("Verify: error %v, want failure %q at %d", rep.Err, kind, seq)
	}
	if rep.OK || rep.Kind != kind || rep.FirstBadSeq != seq {
		t.Fatalf("Verify = OK %v, %q at %d (%s); want %q at %d", rep.OK, rep.Kind, rep.FirstBadSeq, rep.Detail, kind, seq)
	}
}

func TestVerifyUntouched(t *testing.T) {
	l := buildLog(t, "acme", 100, 20, 50, 100)
	rep := l.verify(l.source(), nil)
	if !rep.OK || rep.Err != nil {
		t.Fatalf("untouched log: %+v", rep)
	}
	if rep.Entries != 100 || rep.Checkpoints != 3 || rep.Signed != 100 || !bytes.Equal(rep.Root, rootOf(l.recs)) {
		t.Fatalf("report = %+v", rep)
	}
	// A checkpoint saved by the auditor at 50, and one at the log's whole size.
	for _, size := range []int64{50, 100} {
		trusted := l.checkpoints[slices.IndexFunc(l.checkpoints, func(m []byte) bool { return bytes.Contains(m, fmt.Appendf(nil, "\n%d\n", size)) })]
		if rep := l.verify(l.source(), trusted); !rep.OK {
			t.Fatalf("trusted checkpoint at %d: %+v", size, rep)
		}
	}
	// Entries after the last checkpoint are not tampering.
	l2 := buildLog(t, "acme", 30, 10)
	if rep := l2.verify(l2.source(), nil); !rep.OK || rep.Signed != 10 || rep.Entries != 30 {
		t.Fatalf("log signed up to 10 of 30: %+v", rep)
	}
	// An empty log with no checkpoints verifies, with the empty root.
	if rep := ledger.Verify(&sliceSource{}, nil, l.ring.Verifiers(), testOrigin, nil); !rep.OK || rep.Entries != 0 {
		t.Fatalf("empty log: %+v", rep)
	}
}

func TestVerifyTampering(t *testing.T) {
	l := buildLog(t, "acme", 100, 20, 50, 100)
	other := buildLog(t, "globex", 100)
	for _, c := range []struct {
		name   string
		tamper func(recs []ledger.Record) []ledger.Record
		kind   ledger.FailureKind
		seq    int64
	}{
		{"FlipByte", func(r []ledger.Record) []ledger.Record { r[36].Body[40] ^= 1; return r }, ledger.FailModified, 37},
		{"FlipLeafHash", func(r []ledger.Record) []ledger.Record { r[36].LeafHash[0] ^= 1; return r }, ledger.FailModified, 37},
		{"RewriteEntryAndLeafHash", func(r []ledger.Record) []ledger.Record {
			r[36].Body = bytes.Replace(r[36].Body, []byte("Tour Guide"), []byte("Tour Gui.e"), 1)
			r[36].LeafHash = ledger.LeafHash(r[36].Body)
			return r
		}, ledger.FailModified, 21},
		{"DeleteRow", func(r []ledger.Record) []ledger.Record { return slices.Delete(r, 36, 37) }, ledger.FailDeleted, 37},
		{"DeleteRowsAndRenumber", func(r []ledger.Record) []ledger.Record {
			r = slices.Delete(r, 36, 39)
			for i := range r {
				r[i].Seq = int64(i + 1)
			}
			return r
		}, ledger.FailDeleted, 37},
		{"DeleteLastRowButOne", func(r []ledger.Record) []ledger.Record { return slices.Delete(r, 98, 99) }, ledger.FailDeleted, 99},
		{"SwapRowContents", func(r []ledger.Record) []ledger.Record {
			r[36], r[37] = r[37], r[36]
			r[36].Seq, r[37].Seq = 37, 38
			return r
		}, ledger.FailReordered, 37},
		{"SwapDistantRowContents", func(r []ledger.Record) []ledger.Record {
			r[36], r[59] = r[59], r[36]
			r[36].Seq, r[59].Seq = 37, 60
			return r
		}, ledger.FailReordered, 37},
		{"SwapLinesInFile", func(r []ledger.Record) []ledger.Record { r[36], r[37] = r[37], r[36]; return r }, ledger.FailReordered, 37},
		{"ReinsertOldRow", func(r []ledger.Record) []ledger.Record {
			old := r[9]
			old.Seq = 101
			return append(r, old)
		}, ledger.FailReordered, 101},
		{"DuplicateSeqInFile", func(r []ledger.Record) []ledger.Record { return slices.Insert(r, 37, r[36]) }, ledger.FailReordered, 38},
		{"TruncateTail", func(r []ledger.Record) []ledger.Record { return r[:94] }, ledger.FailTruncated, 95},
		{"TruncateAll", func(r []ledger.Record) []ledger.Record { return nil }, ledger.FailTruncated, 1},
		{"OtherTenantsEntry", func(r []ledger.Record) []ledger.Record { r[36] = other.recs[36]; return r }, ledger.FailModified, 37},
		{"NotAnEntry", func(r []ledger.Record) []ledger.Record {
			r[36].Body = []byte(`["seq",37]`)
			r[36].LeafHash = ledger.LeafHash(r[36].Body)
			return r
		}, ledger.FailModified, 37},
		{"PrunedLeafHashChanged", func(r []ledger.Record) []ledger.Record {
			for i := range 30 {
				r[i].Body, r[i].Pruned = nil, true
			}
			r[4].LeafHash[0] ^= 1
			return r
		}, ledger.FailModified, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := l.source()
			src.recs = c.tamper(src.recs)
			wantFailure(t, l.verify(src, nil), c.kind, c.seq)
		})
	}
}

func TestVerifyCheckpointTampering(t *testing.T) {
	l := buildLog(t, "acme", 100, 20, 50, 100)
	t.Run("ReplacedSignature", func(t *testing.T) {
		// The checkpoint at 50, re-signed by a key the auditor does not know.
		msg, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: testOrigin, Size: 50, Root: rootOf(l.recs[:50])}, mustRing(t).Signer())
		if err != nil {
			t.Fatal(err)
		}
		cps := slices.Clone(l.checkpoints)
		cps[1] = msg
		wantFailure(t, ledger.Verify(l.source(), cps, l.ring.Verifiers(), testOrigin, nil), ledger.FailBadSignature, 50)
	})
	t.Run("CorruptSignature", func(t *testing.T) {
		cps := slices.Clone(l.checkpoints)
		i := bytes.LastIndex(cps[1], []byte(" ")) + 10
		cps[1] = slices.Clone(cps[1])
		cps[1][i] = 'A' + (cps[1][i]-'A'+1)%26
		wantFailure(t, ledger.Verify(l.source(), cps, l.ring.Verifiers(), testOrigin, nil), ledger.FailBadSignature, 50)
	})
	t.Run("EditedBody", func(t *testing.T) {
		cps := slices.Clone(l.checkpoints)
		cps[1] = bytes.Replace(cps[1], []byte("\n50\n"), []byte("\n49\n"), 1)
		wantFailure(t, ledger.Verify(l.source(), cps, l.ring.Verifiers(), testOrigin, nil), ledger.FailBadSignature, 49)
	})
	t.Run("OtherOrigin", func(t *testing.T) {
		msg, _ := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "scimtrail/install-1/globex", Size: 20, Root: rootOf(l.recs[:20])}, l.ring.Signer())
		wantFailure(t, ledger.Verify(l.source(), append(slices.Clone(l.checkpoints), msg), l.ring.Verifiers(), testOrigin, nil), ledger.FailBadSignature, 20)
	})
	t.Run("EntryFailureFirst", func(t *testing.T) {
		cps := slices.Clone(l.checkpoints)
		cps[1] = []byte("garbage")
		src := l.source()
		src.recs[9].Body[30] ^= 1
		// The unreadable checkpoint claims no size: it is reported before any entry.
		wantFailure(t, ledger.Verify(src, cps, l.ring.Verifiers(), testOrigin, nil), ledger.FailBadSignature, 0)
		cps[1] = l.checkpoints[1]
		cps[2] = bytes.Replace(cps[2], []byte("\n100\n"), []byte("\n10\n"), 1)
		// A bad signature claiming size 10 and a modified entry 10: the entry wins.
		wantFailure(t, ledger.Verify(src, cps, l.ring.Verifiers(), testOrigin, nil), ledger.FailModified, 10)
	})
	t.Run("TwoRootsForOneSize", func(t *testing.T) {
		forked := buildLog(t, "acme", 50)
		forked.ring = l.ring
		forked.recs[40].Body[45] ^= 1
		forked.recs[40].LeafHash = ledger.LeafHash(forked.recs[40].Body)
		msg := forked.sign(t, 50, rootOf(forked.recs))
		cps := append(slices.Clone(l.checkpoints), msg)
		wantFailure(t, ledger.Verify(l.source(), cps, l.ring.Verifiers(), testOrigin, nil), ledger.FailTwoRoots, 50)
		// The same checkpoint twice is not two roots.
		cps = append(slices.Clone(l.checkpoints), l.checkpoints[1])
		if rep := ledger.Verify(l.source(), cps, l.ring.Verifiers(), testOrigin, nil); !rep.OK || rep.Checkpoints != 3 {
			t.Fatalf("duplicate checkpoint: %+v", rep)
		}
	})
}

func TestVerifyTrustedCheckpoint(t *testing.T) {
	l := buildLog(t, "acme", 100, 20, 50, 100)
	trusted := l.checkpoints[1] // size 50, saved by the auditor
	t.Run("RewrittenAndResigned", func(t *testing.T) {
		// The operator rewrites entry 30 and re-signs every checkpoint with the real key:
		// only the checkpoint the auditor saved shows it.
		rw := &testLog{ring: l.ring, recs: l.source().recs}
		rw.recs[29].Body = bytes.Replace(rw.recs[29].Body, []byte("Tour Guide"), []byte("Tour Gui.e"), 1)
		rw.recs[29].LeafHash = ledger.LeafHash(rw.recs[29].Body)
		for _, size := range []int64{20, 50, 100} {
			rw.sign(t, size, rootOf(rw.recs[:size]))
		}
		if rep := rw.verify(rw.source(), nil); !rep.OK {
			t.Fatalf("rewritten log without a trusted checkpoint should pass: %+v", rep)
		}
		rep := rw.verify(rw.source(), trusted)
		wantFailure(t, rep, ledger.FailInconsistent, 1)
	})
	t.Run("TruncatedBelowTrusted", func(t *testing.T) {
		l2 := buildLog(t, "acme", 40)
		l2.ring = l.ring
		wantFailure(t, l2.verify(l2.source(), trusted), ledger.FailTruncated, 41)
	})
	t.Run("TrustedNotSigned", func(t *testing.T) {
		bad := bytes.Replace(trusted, []byte("\n50\n"), []byte("\n51\n"), 1)
		wantFailure(t, l.verify(l.source(), bad), ledger.FailBadSignature, 0)
	})
}

func TestVerifyPruned(t *testing.T) {
	l := buildLog(t, "acme", 100, 20, 50, 100)
	src := l.source()
	for i := range 30 {
		src.recs[i].Body, src.recs[i].Pruned = nil, true
	}
	src.recs[60].Body, src.recs[60].Pruned = nil, true
	rep := l.verify(src, nil)
	if !rep.OK {
		t.Fatalf("pruned log: %+v", rep)
	}
	if want := []ledger.SeqRange{{1, 30}, {61, 61}}; !slices.Equal(rep.Pruned, want) {
		t.Fatalf("Pruned = %v, want %v", rep.Pruned, want)
	}
}

func TestVerifySourceError(t *testing.T) {
	l := buildLog(t, "acme", 10, 10)
	src := l.source()
	src.recs = src.recs[:5]
	src.err = errors.New("disk on fire")
	rep := l.verify(src, nil)
	if rep.OK || rep.Err == nil || !strings.Contains(rep.Err.Error(), "disk on fire") || rep.Kind != "" {
		t.Fatalf("source error: %+v", rep)
	}
}

// BenchmarkVerify measures verification of realistic entries (about 450 bytes each).
func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	l := buildLog(b, "acme", n, n/2, n)
	vs := l.ring.Verifiers()
	for b.Loop() {
		src := &sliceSource{recs: l.recs}
		if rep := ledger.Verify(src, l.checkpoints, vs, testOrigin, nil); !rep.OK {
			b.Fatalf("%+v", rep)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppend measures the pure part of one write batch of 256 entries: numbering,
// JCS encoding, leaf hashing and advancing the compact range, then the tiles to store.
func BenchmarkAppend(b *testing.B) {
	batch := make([]scimtrail.Entry, 256)
	for i := range batch {
		batch[i] = testEntry(i)
	}
	at := time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC)
	head := scimtrail.LedgerHead{Tenant: "acme"}
	store := newMemTiles()
	leaves := make([][]byte, len(batch))
	for b.Loop() {
		stored, next, err := ledger.Append(head, batch, at)
		if err != nil {
			b.Fatal(err)
		}
		for i, s := range stored {
			leaves[i] = s.LeafHash
		}
		tiles, err := ledger.UpdateTiles(head.Size, leaves, store)
		if err != nil {
			b.Fatal(err)
		}
		store.write(b, tiles)
		head = next
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "entries/s")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
