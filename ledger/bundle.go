package ledger

import (
	"archive/tar"
	"bufio"
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// BundleFormat names the bundle format in manifest.json; a reader refuses other formats.
const BundleFormat = "scimtrail-audit-bundle/1"

// bundleChunk is how many bytes of entry lines go into one tar member. Tar needs each
// member's size before its content, so entries are written in bounded chunks: memory stays
// constant however long the log is.
const bundleChunk = 4 << 20

//go:embed bundle_readme.md
var bundleReadme []byte

// Bundle is a tenant's log exported for offline verification.
type Bundle struct {
	Origin  string
	Tenant  string
	Created time.Time
	// Size is the number of entries; WriteBundle fails if Entries yields another number,
	// so a bundle never silently holds part of what its manifest says.
	Size int64
	// VerifierKeys are the note verifier keys the checkpoints were signed with. An auditor
	// must compare them with keys obtained independently (GET /api/v1/audit/keys, or kept
	// from earlier); keys that travel with the log prove nothing by themselves.
	VerifierKeys []string
	// Checkpoints are signed notes, in the order they were issued.
	Checkpoints [][]byte
	// Entries yields every record, seq 1 first. When read back from ReadBundle, it streams
	// from the archive: read it to the end before using the reader passed to ReadBundle.
	Entries EntrySource
}

// manifest is manifest.json.
type manifest struct {
	Format      string `json:"format"`
	Origin      string `json:"origin"`
	Tenant      string `json:"tenant"`
	Created     string `json:"created"`
	Size        int64  `json:"size"`
	Checkpoints int    `json:"checkpoints"`
	LeafHash    string `json:"leaf_hash"`
}

// WriteBundle writes b to w as a tar archive: README.md, manifest.json, keys.txt,
// checkpoints/NNNNNN.note, then entries/<first seq>.jsonl chunks, one record a line. When
// every record of a chunk carries a TileHash, the chunk is preceded by leaves/<first
// seq>.bin: those hashes, 32 bytes each, in the chunk's order — the second copy of the leaf
// hashes (the tree's level-0 tiles) that lets a verifier name an entry rewritten together
// with its leaf hash. It reads b.Entries once, as it writes.
func WriteBundle(w io.Writer, b Bundle) error {
	tw := tar.NewWriter(w)
	file := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: b.Created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write bundle %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("write bundle %s: %w", name, err)
		}
		return nil
	}
	m, err := json.MarshalIndent(manifest{
		Format: BundleFormat, Origin: b.Origin, Tenant: b.Tenant, Created: b.Created.UTC().Format(time.RFC3339),
		Size: b.Size, Checkpoints: len(b.Checkpoints), LeafHash: "RFC 6962: SHA-256(0x00 || body)",
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := file("README.md", bundleReadme); err != nil {
		return err
	}
	if err := file("manifest.json", append(m, '\n')); err != nil {
		return err
	}
	if err := file("keys.txt", []byte(strings.Join(b.VerifierKeys, "\n")+"\n")); err != nil {
		return err
	}
	for i, cp := range b.Checkpoints {
		if err := file(fmt.Sprintf("checkpoints/%06d.note", i+1), cp); err != nil {
			return err
		}
	}
	var chunk, leaves []byte
	allLeaves := true
	first, n := int64(1), int64(0)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if allLeaves {
			if err := file(fmt.Sprintf("leaves/%012d.bin", first), leaves); err != nil {
				return err
			}
		}
		err := file(fmt.Sprintf("entries/%012d.jsonl", first), chunk)
		chunk, leaves, allLeaves, first = chunk[:0], leaves[:0], true, n+1
		return err
	}
	for b.Entries != nil {
		rec, err := b.Entries.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("write bundle: read entry %d: %w", n+1, err)
		}
		n++
		chunk = appendBundleLine(chunk, rec)
		if len(rec.TileHash) == HashSize {
			leaves = append(leaves, rec.TileHash...)
		} else {
			allLeaves = false
		}
		if len(chunk) >= bundleChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if n != b.Size {
		return fmt.Errorf("write bundle: %d entries, the manifest says %d", n, b.Size)
	}
	return tw.Close()
}

// appendBundleLine writes one record as
// {"seq":N,"leaf_hash":"<base64>","body":<the body bytes, verbatim>} or, pruned,
// {"seq":N,"leaf_hash":"<base64>","pruned":true}. The body is JCS JSON, so it is embedded
// as is: an auditor hashes exactly the bytes between `"body":` and the line's final '}'.
func appendBundleLine(b []byte, rec Record) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, rec.Seq, 10)
	b = append(b, `,"leaf_hash":"`...)
	b = base64.StdEncoding.AppendEncode(b, rec.LeafHash)
	if rec.Pruned {
		b = append(b, `","pruned":true}`...)
	} else {
		b = append(b, `","body":`...)
		b = append(b, rec.Body...)
		b = append(b, '}')
	}
	return append(b, '\n')
}

// ReadBundle reads a bundle's README, manifest, keys and checkpoints, and returns them with
// an Entries source that streams the entry chunks from r.
func ReadBundle(r io.Reader) (Bundle, error) {
	tr := tar.NewReader(r)
	var b Bundle
	var haveManifest, haveKeys bool
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return b, fmt.Errorf("read bundle: %w", err)
		}
		if strings.HasPrefix(hdr.Name, "entries/") || strings.HasPrefix(hdr.Name, "leaves/") {
			if !haveManifest || !haveKeys {
				return b, errors.New("read bundle: entries before manifest.json and keys.txt")
			}
			e := &bundleEntries{tr: tr}
			if err := e.open(hdr); err != nil {
				return b, err
			}
			b.Entries = e
			return b, nil
		}
		if hdr.Size > 1<<20 {
			return b, fmt.Errorf("read bundle: %s is %d bytes, too big", hdr.Name, hdr.Size)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return b, fmt.Errorf("read bundle %s: %w", hdr.Name, err)
		}
		switch {
		case hdr.Name == "manifest.json":
			var m manifest
			if err := json.Unmarshal(data, &m); err != nil {
				return b, fmt.Errorf("read bundle manifest: %w", err)
			}
			if m.Format != BundleFormat {
				return b, fmt.Errorf("read bundle: format %q, want %q", m.Format, BundleFormat)
			}
			created, err := time.Parse(time.RFC3339, m.Created)
			if err != nil {
				return b, fmt.Errorf("read bundle manifest: created: %w", err)
			}
			b.Origin, b.Tenant, b.Created, b.Size = m.Origin, m.Tenant, created, m.Size
			haveManifest = true
		case hdr.Name == "keys.txt":
			for _, line := range strings.Split(string(data), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					b.VerifierKeys = append(b.VerifierKeys, line)
				}
			}
			haveKeys = true
		case strings.HasPrefix(hdr.Name, "checkpoints/"):
			b.Checkpoints = append(b.Checkpoints, data)
		}
	}
	if !haveManifest || !haveKeys {
		return b, errors.New("read bundle: no manifest.json or keys.txt")
	}
	b.Entries = &bundleEntries{}
	return b, nil
}

func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4*MaxEntrySize)
	return sc
}

// bundleEntries reads entries/*.jsonl members in archive order, each with the leaves/*.bin
// member of the same first seq that precedes it, if any.
type bundleEntries struct {
	tr    *tar.Reader
	lines *bufio.Scanner
	line  int64
	leaf  []byte
	// leaves holds the tile hashes of the current chunk (nil: none), leavesOf the member
	// name they belong to, idx the record's position in the chunk.
	leaves   []byte
	leavesOf string
	idx      int
}

// maxLeavesMember bounds a leaves/ member: a 4 MiB chunk of lines of at least ~60 bytes.
const maxLeavesMember = 4 << 20

// open starts reading the member of hdr: a chunk of entries, or the leaves of the next one.
func (e *bundleEntries) open(hdr *tar.Header) error {
	name := path.Base(hdr.Name)
	switch {
	case strings.HasPrefix(hdr.Name, "leaves/"):
		if hdr.Size > maxLeavesMember || hdr.Size%HashSize != 0 {
			return fmt.Errorf("read bundle: %s is %d bytes, not a list of leaf hashes", hdr.Name, hdr.Size)
		}
		data, err := io.ReadAll(e.tr)
		if err != nil {
			return fmt.Errorf("read bundle %s: %w", hdr.Name, err)
		}
		e.leaves, e.leavesOf = data, strings.TrimSuffix(name, ".bin")
	case strings.HasPrefix(hdr.Name, "entries/"):
		if e.leavesOf != strings.TrimSuffix(name, ".jsonl") {
			e.leaves = nil // leaves of another chunk (or none) say nothing about this one
		}
		e.lines, e.idx = newLineScanner(e.tr), 0
	}
	return nil
}

func (e *bundleEntries) Next() (Record, error) {
	for {
		if e.lines != nil {
			if e.lines.Scan() {
				e.line++
				rec, err := e.parse(e.lines.Bytes())
				if off := e.idx * HashSize; err == nil && off+HashSize <= len(e.leaves) {
					rec.TileHash = e.leaves[off : off+HashSize]
				}
				e.idx++
				return rec, err
			}
			if err := e.lines.Err(); err != nil {
				return Record{}, fmt.Errorf("bundle entries line %d: %w", e.line+1, err)
			}
			e.lines, e.leaves, e.leavesOf = nil, nil, ""
		}
		if e.tr == nil {
			return Record{}, io.EOF
		}
		hdr, err := e.tr.Next()
		if err == io.EOF {
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, fmt.Errorf("read bundle: %w", err)
		}
		if err := e.open(hdr); err != nil {
			return Record{}, err
		}
	}
}

// parse reads one line as appendBundleLine writes it. Anything else (a line reformatted by
// another tool) goes through encoding/json, whose RawMessage keeps the body's bytes as they
// are: if they were reformatted, they no longer hash to the leaf hash, as they should not.
func (e *bundleEntries) parse(line []byte) (Record, error) {
	if rec, ok := e.parseFast(line); ok {
		return rec, nil
	}
	var l struct {
		Seq      *int64          `json:"seq"`
		LeafHash []byte          `json:"leaf_hash"`
		Body     json.RawMessage `json:"body"`
		Pruned   bool            `json:"pruned"`
	}
	if err := json.Unmarshal(line, &l); err != nil || l.Seq == nil || (l.Body == nil) != l.Pruned {
		return Record{}, fmt.Errorf("bundle entries line %d is not a record", e.line)
	}
	return Record{Seq: *l.Seq, LeafHash: l.LeafHash, Body: l.Body, Pruned: l.Pruned}, nil
}

func (e *bundleEntries) parseFast(line []byte) (Record, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"seq":`))
	if !ok {
		return Record{}, false
	}
	i := bytes.IndexByte(rest, ',')
	if i < 0 {
		return Record{}, false
	}
	seq, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return Record{}, false
	}
	rest, ok = bytes.CutPrefix(rest[i:], []byte(`,"leaf_hash":"`))
	const b64len = (HashSize + 2) / 3 * 4
	if !ok || len(rest) < b64len {
		return Record{}, false
	}
	e.leaf, err = base64.StdEncoding.AppendDecode(e.leaf[:0], rest[:b64len])
	if err != nil {
		return Record{}, false
	}
	rest = rest[b64len:]
	if bytes.Equal(rest, []byte(`","pruned":true}`)) {
		return Record{Seq: seq, LeafHash: e.leaf, Pruned: true}, true
	}
	body, ok := bytes.CutPrefix(rest, []byte(`","body":`))
	if !ok || len(body) < 2 || body[len(body)-1] != '}' {
		return Record{}, false
	}
	return Record{Seq: seq, LeafHash: e.leaf, Body: body[:len(body)-1]}, true
}
