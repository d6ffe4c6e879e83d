package ledger

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Record is one stored entry as the verifier reads it.
type Record struct {
	// Seq is the number the store files the entry under (the seq column, a bundle line's
	// "seq"), which the verifier checks against the entry's position and its body.
	Seq int64
	// Body is the canonical entry bytes that were hashed; nil when Pruned.
	Body []byte
	// LeafHash is the stored RFC 6962 leaf hash.
	LeafHash []byte
	// Pruned says retention dropped the body and kept the leaf hash: the tree, proofs and
	// checkpoints still cover the entry, and the verifier reports it as pruned, not missing.
	Pruned bool
	// TileHash, when the source has one, is a second copy of the leaf hash kept apart from
	// the entry: the hash in the tree's level-0 tile. An entry rewritten together with its
	// leaf hash otherwise shows only as a wrong root over a checkpoint interval; against the
	// tile the verifier names the very entry.
	TileHash []byte
}

// EntrySource yields a tenant's records in storage order (seq order for a database, file
// order for a bundle), so that a reordering in storage is visible to the verifier.
type EntrySource interface {
	// Next returns the next record, or io.EOF after the last. The record's slices may be
	// reused by the following call.
	Next() (Record, error)
}

// FailureKind says how a log fails to verify. The values are what `scimtrail audit verify`
// prints.
type FailureKind string

// The kinds of failure, from DESIGN.md §5 and the ledger issue.
const (
	// FailModified: an entry's body does not hash to its stored leaf hash, it is not an
	// entry of this tenant, or the recomputed root differs from a signed checkpoint's.
	FailModified FailureKind = "modified entry"
	// FailDeleted: one or more entries are missing (a gap in seq, or later entries
	// renumbered to close it).
	FailDeleted FailureKind = "deleted entry"
	// FailReordered: an entry sits at a position other than its own seq (swapped, moved or
	// an old entry inserted again).
	FailReordered FailureKind = "reordered entries"
	// FailBadSignature: a checkpoint (or the trusted checkpoint) does not verify with the
	// given keys, is malformed, or names another log.
	FailBadSignature FailureKind = "bad signature"
	// FailTwoRoots: two validly signed checkpoints give different roots for one size: the
	// log showed two histories.
	FailTwoRoots FailureKind = "two roots for one size"
	// FailInconsistent: the trusted checkpoint's root is not the root of the log's first
	// trusted.Size entries: history was rewritten after the auditor saved it.
	FailInconsistent FailureKind = "not consistent with the trusted checkpoint"
	// FailTruncated: the log has fewer entries than a signed (or the trusted) checkpoint.
	FailTruncated FailureKind = "truncated"
)

// SeqRange is the inclusive range of seqs [From, To].
type SeqRange struct{ From, To int64 }

// Report is the outcome of Verify.
type Report struct {
	OK bool
	// FirstBadSeq is the first seq the failure is certain to affect. For a root mismatch
	// (an entry and its leaf hash both rewritten, so only the tree shows it) it is the first
	// seq after the last checkpoint that still matched; Detail gives the range.
	FirstBadSeq int64
	Kind        FailureKind
	Detail      string
	// Entries is the number of records read; Root is the root hash over them when OK.
	Entries int64
	Root    []byte
	// Checkpoints is the number of distinct validly signed checkpoints; Signed the largest
	// size among them, so entries after it are not yet covered by a signature.
	Checkpoints int
	Signed      int64
	// Pruned lists the ranges of entries whose bodies retention dropped.
	Pruned []SeqRange
	// Err is set when verification could not finish (the source failed or is malformed):
	// neither a pass nor evidence of tampering.
	Err error
}

// check is a root the log must have at size.
type check struct {
	size  int64
	root  []byte
	kind  FailureKind // what a mismatch is
	label string
}

// failure is a checkpoint-level failure, known before reading any entry.
type failure struct {
	seq    int64
	kind   FailureKind
	detail string
}

// Verify reads every record of src once and checks the tenant's log of origin against the
// signed checkpoints and, when trusted is not nil, against a checkpoint the auditor saved
// earlier. It reports the failure at the lowest seq; at one seq an entry-level failure wins
// over a checkpoint-level one. It streams: apart from the parsed checkpoints it holds one
// compact range (at most 64 hashes), and it reads one record ahead only to tell a gap from
// a reordering.
func Verify(src EntrySource, checkpoints [][]byte, verifiers note.Verifiers, origin string, trusted []byte) Report {
	v := verifier{src: src, tenant: origin[strings.LastIndexByte(origin, '/')+1:]}
	v.h = sha256.New()
	checks, cpFail, rep := planChecks(checkpoints, verifiers, origin, trusted)
	v.rep = rep
	return v.run(checks, cpFail)
}

// planChecks verifies the checkpoints and returns the roots to check, in size order (the
// trusted checkpoint first at its size), and the lowest-seq checkpoint-level failure.
func planChecks(checkpoints [][]byte, verifiers note.Verifiers, origin string, trusted []byte) ([]check, *failure, Report) {
	var rep Report
	var fail *failure
	setFail := func(f failure) {
		if fail == nil || f.seq < fail.seq {
			fail = &f
		}
	}
	var checks []check
	for i, msg := range checkpoints {
		cp, err := OpenCheckpoint(msg, verifiers, origin)
		if err != nil {
			setFail(failure{claimedSize(msg), FailBadSignature, fmt.Sprintf("checkpoint %d (of size %d): %v", i+1, claimedSize(msg), err)})
			continue
		}
		checks = append(checks, check{cp.Size, cp.Root, FailModified, "signed checkpoint"})
	}
	slices.SortStableFunc(checks, func(a, b check) int {
		return cmp.Or(cmp.Compare(a.size, b.size), bytes.Compare(a.root, b.root))
	})
	checks = slices.CompactFunc(checks, func(a, b check) bool { return a.size == b.size && bytes.Equal(a.root, b.root) })
	for i := 1; i < len(checks); i++ {
		if checks[i].size == checks[i-1].size {
			setFail(failure{checks[i].size, FailTwoRoots, fmt.Sprintf("two signed checkpoints of size %d: roots %s and %s",
				checks[i].size, b64(checks[i-1].root), b64(checks[i].root))})
		}
	}
	rep.Checkpoints = len(checks)
	if len(checks) > 0 {
		rep.Signed = checks[len(checks)-1].size
	}
	if trusted != nil {
		cp, err := OpenCheckpoint(trusted, verifiers, origin)
		if err != nil {
			setFail(failure{0, FailBadSignature, fmt.Sprintf("trusted checkpoint: %v", err)})
		} else {
			at, _ := slices.BinarySearchFunc(checks, cp.Size, func(c check, size int64) int { return cmp.Compare(c.size, size) })
			checks = slices.Insert(checks, at, check{cp.Size, cp.Root, FailInconsistent, "trusted checkpoint"})
		}
	}
	return checks, fail, rep
}

// claimedSize is the size an unverifiable checkpoint claims, to place its failure; 0 when
// not even that can be read.
func claimedSize(msg []byte) int64 {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return 0
	}
	cp, err := ParseCheckpointBody(msg[:i+1])
	if err != nil {
		return 0
	}
	return cp.Size
}

type verifier struct {
	src    EntrySource
	tenant string
	rep    Report
	acc    accumulator
	h      hash.Hash
	leaf   [HashSize]byte

	peeked  bool
	peek    Record
	peekErr error
}

func (v *verifier) next() (Record, error) {
	if v.peeked {
		v.peeked = false
		return v.peek, v.peekErr
	}
	return v.src.Next()
}

// claimOfNext returns the seq the record after the current one claims (its body's seq, or
// its stored seq when pruned or unreadable); ok is false at the end of the log.
func (v *verifier) claimOfNext() (int64, bool) {
	if !v.peeked {
		v.peek, v.peekErr = v.src.Next()
		v.peeked = true
	}
	if v.peekErr != nil {
		return 0, false
	}
	if !v.peek.Pruned {
		if seq, _, ok := entryHeader(v.peek.Body); ok {
			return seq, true
		}
	}
	return v.peek.Seq, true
}

// misplaced classifies an entry at position want that claims seq got. An entry from
// further on followed by its own successor means entries were removed and the rest
// renumbered or left with a gap; anything else (a swap, a move, an old entry again) is a
// reordering.
func (v *verifier) misplaced(want, got int64, what string) Report {
	kind := FailReordered
	detail := fmt.Sprintf("position %d holds %s %d", want, what, got)
	if got > want {
		if next, ok := v.claimOfNext(); !ok || next == got+1 {
			kind = FailDeleted
			detail = fmt.Sprintf("entries %d to %d are missing (%s)", want, got-1, detail)
		}
	}
	return v.fail(want, kind, detail)
}

func (v *verifier) fail(seq int64, kind FailureKind, detail string) Report {
	v.rep.OK, v.rep.FirstBadSeq, v.rep.Kind, v.rep.Detail = false, seq, kind, detail
	return v.rep
}

func (v *verifier) run(checks []check, cpFail *failure) Report {
	lastGood := int64(0) // the largest size whose root matched a checkpoint
	// checkRoots compares the roots due at size; a checkpoint of size 0 is checked first.
	checkRoots := func(size int64) *Report {
		// The entry at size itself verified; a checkpoint-level failure at this size
		// explains a root mismatch here (one of two roots must mismatch), so it comes first.
		if cpFail != nil && cpFail.seq == size {
			root := v.acc.root()
			r := v.fail(cpFail.seq, cpFail.kind, fmt.Sprintf("%s; the stored entries give root %s", cpFail.detail, b64(root[:])))
			return &r
		}
		for len(checks) > 0 && checks[0].size == size {
			c := checks[0]
			checks = checks[1:]
			root := v.acc.root()
			if !bytes.Equal(root[:], c.root) {
				// Checkpoints that matched so far are as trustworthy as the one that did
				// not, so the change lies after them; but a trusted checkpoint outranks
				// them all, and a rewritten history may come with re-signed checkpoints.
				first := lastGood + 1
				if c.kind == FailInconsistent {
					first = 1
				}
				r := v.fail(first, c.kind, fmt.Sprintf("the root of entries 1 to %d is %s, the %s says %s: an entry in %d…%d was changed together with its leaf hash",
					size, b64(root[:]), c.label, b64(c.root), first, size))
				return &r
			}
			lastGood = size
		}
		return nil
	}
	if r := checkRoots(0); r != nil {
		return *r
	}
	for want := int64(1); ; want++ {
		if cpFail != nil && cpFail.seq < want {
			return v.fail(cpFail.seq, cpFail.kind, cpFail.detail)
		}
		rec, err := v.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			v.rep.Err = fmt.Errorf("read entry %d: %w", want, err)
			return v.rep
		}
		if rec.Seq != want {
			return v.misplaced(want, rec.Seq, "stored seq")
		}
		if len(rec.LeafHash) != HashSize {
			return v.fail(want, FailModified, fmt.Sprintf("stored leaf hash of entry %d is %d bytes", want, len(rec.LeafHash)))
		}
		if rec.Pruned {
			if n := len(v.rep.Pruned); n > 0 && v.rep.Pruned[n-1].To == want-1 {
				v.rep.Pruned[n-1].To = want
			} else {
				v.rep.Pruned = append(v.rep.Pruned, SeqRange{want, want})
			}
		} else {
			v.h.Reset()
			v.h.Write([]byte{0})
			v.h.Write(rec.Body)
			v.h.Sum(v.leaf[:0])
			if !bytes.Equal(v.leaf[:], rec.LeafHash) {
				return v.fail(want, FailModified, fmt.Sprintf("entry %d does not hash to its stored leaf hash", want))
			}
			seq, tenant, ok := entryHeader(rec.Body)
			switch {
			case !ok:
				return v.fail(want, FailModified, fmt.Sprintf("entry %d is not a ledger entry with a seq and a tenant", want))
			case tenant != v.tenant:
				return v.fail(want, FailModified, fmt.Sprintf("entry %d belongs to tenant %q, not %q", want, tenant, v.tenant))
			case seq != want:
				return v.misplaced(want, seq, "the entry of seq")
			}
		}
		if rec.TileHash != nil && !bytes.Equal(rec.TileHash, rec.LeafHash) {
			return v.fail(want, FailModified, fmt.Sprintf("entry %d and its leaf hash were rewritten: the tree's tile holds leaf hash %s, the entry %s",
				want, b64(rec.TileHash), b64(rec.LeafHash)))
		}
		v.acc.append([HashSize]byte(rec.LeafHash))
		v.rep.Entries = want
		if r := checkRoots(want); r != nil {
			return *r
		}
	}
	size := v.rep.Entries
	if len(checks) > 0 && (cpFail == nil || size+1 <= cpFail.seq) {
		c := checks[len(checks)-1]
		return v.fail(size+1, FailTruncated, fmt.Sprintf("the log ends at %d but a %s has size %d", size, c.label, c.size))
	}
	if cpFail != nil {
		return v.fail(cpFail.seq, cpFail.kind, cpFail.detail)
	}
	root := v.acc.root()
	v.rep.OK, v.rep.Root = true, root[:]
	return v.rep
}

// accumulator is a compact range over [0, n) with fixed-size hashes, so that appending a
// leaf allocates nothing: the verifier's cost is SHA-256 and little else.
type accumulator struct {
	n      uint64
	hashes [][HashSize]byte
	buf    [1 + 2*HashSize]byte
}

func (a *accumulator) node(l, r *[HashSize]byte) [HashSize]byte {
	a.buf[0] = 1
	copy(a.buf[1:], l[:])
	copy(a.buf[1+HashSize:], r[:])
	return sha256.Sum256(a.buf[:])
}

func (a *accumulator) append(leaf [HashSize]byte) {
	a.hashes = append(a.hashes, leaf)
	for n := a.n; n&1 == 1; n >>= 1 {
		k := len(a.hashes)
		a.hashes[k-2] = a.node(&a.hashes[k-2], &a.hashes[k-1])
		a.hashes = a.hashes[:k-1]
	}
	a.n++
}

func (a *accumulator) root() [HashSize]byte {
	if len(a.hashes) == 0 {
		return sha256.Sum256(nil)
	}
	r := a.hashes[len(a.hashes)-1]
	for i := len(a.hashes) - 2; i >= 0; i-- {
		r = a.node(&a.hashes[i], &r)
	}
	return r
}

// entryHeader reads the top-level "seq" and "tenant" of an entry body without decoding the
// rest, which keeps verification near SHA-256 speed. Nested objects (changes' old and new
// values) may hold keys of the same names, so it walks the top level properly. It stops
// once it has both: JCS sorts keys, so only "time" and "v" follow, and the body is the one
// whose hash was just checked, so reading on would prove nothing more.
func entryHeader(body []byte) (seq int64, tenant string, ok bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return 0, "", false
	}
	i++
	var haveSeq, haveTenant bool
	for {
		i = skipSpace(body, i)
		if i < len(body) && body[i] == '}' {
			return seq, tenant, haveSeq && haveTenant
		}
		end := skipString(body, i)
		if end < 0 {
			return 0, "", false
		}
		key := body[i+1 : end-1]
		i = skipSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return 0, "", false
		}
		i = skipSpace(body, i+1)
		vend := skipValue(body, i)
		if vend < 0 {
			return 0, "", false
		}
		switch string(key) {
		case "seq":
			n, err := strconv.ParseInt(string(body[i:vend]), 10, 64)
			if err != nil {
				return 0, "", false
			}
			seq, haveSeq = n, true
		case "tenant":
			if body[i] != '"' {
				return 0, "", false
			}
			raw := body[i+1 : vend-1]
			if bytes.IndexByte(raw, '\\') < 0 {
				tenant = string(raw)
			} else if json.Unmarshal(body[i:vend], &tenant) != nil {
				return 0, "", false
			}
			haveTenant = true
		}
		if haveSeq && haveTenant {
			return seq, tenant, true
		}
		i = skipSpace(body, vend)
		if i < len(body) && body[i] == ',' {
			i++
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i], or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

func b64(h []byte) string { return base64.StdEncoding.EncodeToString(h) }
