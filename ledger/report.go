package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// ReportEvidence is the evidence section every scimtrail evidence report carries: the
// signed checkpoint it was computed at and the entries it cites with inclusion proofs.
type ReportEvidence struct {
	Checkpoint string `json:"checkpoint"`
	Size       int64  `json:"size"`
	Root       []byte `json:"root"`
	Entries    []struct {
		Seq      int64    `json:"seq"`
		LeafHash []byte   `json:"leaf_hash"`
		Body     []byte   `json:"body"`
		Proof    [][]byte `json:"proof"`
	} `json:"entries"`
}

// VerifiedReport is what VerifyReport proved: the tenant's checkpoint and the bodies of
// the cited entries by seq (nil for an entry whose body was pruned: only its inclusion
// was proved).
type VerifiedReport struct {
	Tenant     string
	Checkpoint Checkpoint
	Bodies     map[int64][]byte
}

// ErrReportTampered is wrapped by VerifyReport's error when the report's evidence is well
// formed but does not verify: a bad signature, a wrong root, a body that does not hash to
// its leaf, or a proof that does not lead to the signed root.
var ErrReportTampered = errors.New("report evidence does not verify")

// VerifyReport checks a saved evidence report (its JSON): the checkpoint's signature by
// one of verifiers, that the checkpoint is of the report's tenant's log, and, for every
// cited entry, that its body hashes to its leaf hash, that it claims its seq and tenant,
// and that the leaf is in the signed tree.
func VerifyReport(report []byte, verifiers note.Verifiers) (VerifiedReport, error) {
	var r struct {
		Tenant   string          `json:"tenant"`
		Evidence *ReportEvidence `json:"evidence"`
	}
	if err := json.Unmarshal(report, &r); err != nil {
		return VerifiedReport{}, fmt.Errorf("read report: %w", err)
	}
	if r.Evidence == nil || r.Tenant == "" {
		return VerifiedReport{}, errors.New("read report: it has no \"tenant\" or no \"evidence\"")
	}
	ev := r.Evidence
	bad := func(format string, args ...any) (VerifiedReport, error) {
		return VerifiedReport{}, fmt.Errorf("%w: %s", ErrReportTampered, fmt.Sprintf(format, args...))
	}
	claimed, err := ParseCheckpointBody(noteText([]byte(ev.Checkpoint)))
	if err != nil {
		return VerifiedReport{}, fmt.Errorf("read report checkpoint: %w", err)
	}
	if !strings.HasSuffix(claimed.Origin, "/"+r.Tenant) {
		return bad("the checkpoint is of log %q, not of tenant %q", claimed.Origin, r.Tenant)
	}
	cp, err := OpenCheckpoint([]byte(ev.Checkpoint), verifiers, claimed.Origin)
	if err != nil {
		if errors.Is(err, ErrBadSignature) {
			return bad("%v", err)
		}
		return VerifiedReport{}, err
	}
	if cp.Size != ev.Size || !bytes.Equal(cp.Root, ev.Root) {
		return bad("the report's size %d and root do not match its signed checkpoint (size %d)", ev.Size, cp.Size)
	}
	out := VerifiedReport{Tenant: r.Tenant, Checkpoint: cp, Bodies: map[int64][]byte{}}
	for _, e := range ev.Entries {
		if e.Seq < 1 || e.Seq > cp.Size {
			return bad("entry %d is not in a tree of %d entries", e.Seq, cp.Size)
		}
		if e.Body != nil {
			if !bytes.Equal(LeafHash(e.Body), e.LeafHash) {
				return bad("entry %d: its body does not hash to its leaf hash", e.Seq)
			}
			var head struct {
				Tenant string `json:"tenant"`
				Seq    int64  `json:"seq"`
			}
			if err := json.Unmarshal(e.Body, &head); err != nil || head.Seq != e.Seq || head.Tenant != r.Tenant {
				return bad("entry %d: its body claims seq %d of tenant %q", e.Seq, head.Seq, head.Tenant)
			}
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(e.Seq-1), uint64(cp.Size), e.LeafHash, e.Proof, cp.Root); err != nil {
			return bad("entry %d: inclusion proof: %v", e.Seq, err)
		}
		if _, dup := out.Bodies[e.Seq]; dup {
			return bad("entry %d is cited twice", e.Seq)
		}
		out.Bodies[e.Seq] = e.Body
	}
	if err := checkAccessCitations(report, out); err != nil {
		return bad("%v", err)
	}
	return out, nil
}

// checkAccessCitations checks, for a point-in-time access report, that every path it lists
// cites an entry in its evidence, and that the entry is the access.granted of that user,
// role and path, made at or before the report's instant.
func checkAccessCitations(report []byte, v VerifiedReport) error {
	var r struct {
		Report string `json:"report"`
		At     string `json:"at"`
		Users  []struct {
			UserID string `json:"user_id"`
			Access []struct {
				Role  string `json:"role"`
				Paths []struct {
					Kind  string   `json:"kind"`
					Via   []string `json:"via"`
					Grant string   `json:"grant"`
					Seq   int64    `json:"seq"`
				} `json:"paths"`
			} `json:"access"`
		} `json:"users"`
	}
	if err := json.Unmarshal(report, &r); err != nil || r.Report != "access" {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, r.At)
	if err != nil {
		return fmt.Errorf("the report's \"at\" %q is not a time", r.At)
	}
	for _, u := range r.Users {
		for _, a := range u.Access {
			for _, p := range a.Paths {
				body, ok := v.Bodies[p.Seq]
				if !ok {
					return fmt.Errorf("user %s role %s: path %s cites seq %d, which is not in the evidence", u.UserID, a.Role, p.Kind, p.Seq)
				}
				if body == nil {
					continue // pruned: inclusion proved, content not checkable
				}
				var e struct {
					Time    time.Time           `json:"time"`
					Action  string              `json:"action"`
					Target  struct{ ID string } `json:"target"`
					Changes []struct {
						Path string          `json:"path"`
						New  json.RawMessage `json:"new"`
					} `json:"changes"`
				}
				if err := json.Unmarshal(body, &e); err != nil {
					return fmt.Errorf("entry %d: %v", p.Seq, err)
				}
				var role string
				var path struct {
					Kind  string   `json:"kind"`
					Via   []string `json:"via"`
					Grant string   `json:"grant"`
				}
				for _, c := range e.Changes {
					switch c.Path {
					case "role":
						json.Unmarshal(c.New, &role)
					case "path":
						json.Unmarshal(c.New, &path)
					}
				}
				if e.Action != "access.granted" || e.Target.ID != u.UserID || role != a.Role || path.Kind != p.Kind ||
					path.Grant != p.Grant || !slices.Equal(path.Via, p.Via) || e.Time.After(at) {
					return fmt.Errorf("user %s role %s: entry %d is not the access.granted of this path before %s", u.UserID, a.Role, p.Seq, r.At)
				}
			}
		}
	}
	return nil
}

// noteText is the text of a signed note: everything before the blank line that starts the
// signatures.
func noteText(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		return msg[:i+1]
	}
	return msg
}
