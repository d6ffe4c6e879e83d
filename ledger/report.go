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

// citedPath is a path of a report's holding, with the seq of its access.granted entry.
type citedPath struct {
	Kind  string   `json:"kind"`
	Via   []string `json:"via"`
	Grant string   `json:"grant"`
	Seq   int64    `json:"seq"`
}

// holding is one (user, role) a report lists, and, in an access review, its decision.
type holding struct {
	UserID   string
	Role     string
	Paths    []citedPath
	Decision *struct {
		Decision string `json:"decision"`
		Seq      int64  `json:"seq"`
	}
}

// checkAccessCitations checks, for a point-in-time access report and an access review,
// that every path it lists cites an entry in its evidence, and that the entry is the
// access.granted of that user, role and path, made at or before the report's instant; and,
// for a review, that every decision cites the access.review_decided entry that recorded it.
func checkAccessCitations(report []byte, v VerifiedReport) error {
	var r struct {
		Report string `json:"report"`
		At     string `json:"at"`
		Users  []struct {
			UserID string `json:"user_id"`
			Access []struct {
				Role  string      `json:"role"`
				Paths []citedPath `json:"paths"`
			} `json:"access"`
		} `json:"users"`
		Review struct {
			ID string `json:"id"`
		} `json:"review"`
		Items []struct {
			UserID   string      `json:"user_id"`
			Role     string      `json:"role"`
			Paths    []citedPath `json:"paths"`
			Decision *struct {
				Decision string `json:"decision"`
				Seq      int64  `json:"seq"`
			} `json:"decision"`
		} `json:"items"`
	}
	if err := json.Unmarshal(report, &r); err != nil || (r.Report != "access" && r.Report != "access_review") {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, r.At)
	if err != nil {
		return fmt.Errorf("the report's \"at\" %q is not a time", r.At)
	}
	var hs []holding
	for _, u := range r.Users {
		for _, a := range u.Access {
			hs = append(hs, holding{UserID: u.UserID, Role: a.Role, Paths: a.Paths})
		}
	}
	for _, it := range r.Items {
		hs = append(hs, holding{UserID: it.UserID, Role: it.Role, Paths: it.Paths, Decision: it.Decision})
	}
	for _, h := range hs {
		for _, p := range h.Paths {
			e, ok, err := citedEntry(v, p.Seq)
			if err != nil {
				return fmt.Errorf("user %s role %s: path %s: %w", h.UserID, h.Role, p.Kind, err)
			}
			if !ok {
				continue // pruned: inclusion proved, content not checkable
			}
			var role string
			var path citedPath
			e.change("role", &role)
			e.change("path", &path)
			if e.Action != "access.granted" || e.Target.ID != h.UserID || role != h.Role || path.Kind != p.Kind ||
				path.Grant != p.Grant || !slices.Equal(path.Via, p.Via) || e.Time.After(at) {
				return fmt.Errorf("user %s role %s: entry %d is not the access.granted of this path before %s", h.UserID, h.Role, p.Seq, r.At)
			}
		}
		if h.Decision == nil {
			continue
		}
		e, ok, err := citedEntry(v, h.Decision.Seq)
		if err != nil {
			return fmt.Errorf("user %s role %s: decision: %w", h.UserID, h.Role, err)
		}
		if !ok {
			continue
		}
		var review, role, decision string
		e.change("review_id", &review)
		e.change("role", &role)
		e.change("decision", &decision)
		if e.Action != "access.review_decided" || e.Target.ID != h.UserID || review != r.Review.ID || role != h.Role || decision != h.Decision.Decision {
			return fmt.Errorf("user %s role %s: entry %d is not the access.review_decided of this %s decision in review %s",
				h.UserID, h.Role, h.Decision.Seq, h.Decision.Decision, r.Review.ID)
		}
	}
	return nil
}

// citedBody is the part of a cited entry the citation checks read.
type citedBody struct {
	Time    time.Time           `json:"time"`
	Action  string              `json:"action"`
	Target  struct{ ID string } `json:"target"`
	Changes []struct {
		Path string          `json:"path"`
		New  json.RawMessage `json:"new"`
	} `json:"changes"`
}

func (e citedBody) change(path string, v any) {
	for _, c := range e.Changes {
		if c.Path == path {
			json.Unmarshal(c.New, v)
		}
	}
}

// citedEntry decodes the evidence body of seq; ok is false when the body was pruned.
func citedEntry(v VerifiedReport, seq int64) (e citedBody, ok bool, err error) {
	body, in := v.Bodies[seq]
	if !in {
		return e, false, fmt.Errorf("cites seq %d, which is not in the evidence", seq)
	}
	if body == nil {
		return e, false, nil
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return e, false, fmt.Errorf("entry %d: %v", seq, err)
	}
	return e, true, nil
}

// noteText is the text of a signed note: everything before the blank line that starts the
// signatures.
func noteText(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		return msg[:i+1]
	}
	return msg
}
