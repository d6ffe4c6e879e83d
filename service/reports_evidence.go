package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

// Verifiable evidence reports. Each one is computed against a signed checkpoint of the
// tenant's log and carries, for every ledger entry it relies on, the entry's exact hashed
// bytes and its inclusion proof in that checkpoint's tree, so that `scimtrail audit verify
// --report FILE --keys …` can check a saved report with nothing but the verifier keys.

// Evidence is a report's proof material: the signed checkpoint it was computed at and the
// entries it cites, each with its inclusion proof in that checkpoint's tree.
type Evidence struct {
	Checkpoint string          `json:"checkpoint"` // the signed note, verbatim
	Size       int64           `json:"size"`
	Root       []byte          `json:"root"`
	Entries    []EvidenceEntry `json:"entries"`
}

// EvidenceEntry is one cited entry. Body is the exact JCS bytes that were hashed (absent
// when retention pruned the body; the leaf hash and proof still stand).
type EvidenceEntry struct {
	Seq      int64    `json:"seq"`
	LeafHash []byte   `json:"leaf_hash"`
	Body     []byte   `json:"body,omitempty"`
	Proof    [][]byte `json:"proof"`
}

// reportCheckpoint returns the latest signed checkpoint, signing one first if the log grew,
// so that the checkpoint covers every entry committed before the report started.
func (s *Service) reportCheckpoint(ctx context.Context, tenant string) (scimtrail.StoredCheckpoint, error) {
	if err := s.store.View(ctx, func(tx scimtrail.ReadTx) error { return tenantExists(ctx, tx, tenant) }); err != nil {
		return scimtrail.StoredCheckpoint{}, err
	}
	return s.Checkpoint(ctx, tenant)
}

// evidence proves each of seqs (duplicates and zeros ignored) against cp.
func (s *Service) evidence(ctx context.Context, tenant string, cp scimtrail.StoredCheckpoint, seqs []int64) (Evidence, error) {
	ev := Evidence{Checkpoint: string(cp.Note), Size: cp.Size, Root: cp.Root, Entries: []EvidenceEntry{}}
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		for _, seq := range seqs {
			if seq <= 0 {
				continue
			}
			if seq > cp.Size {
				return fmt.Errorf("report cites seq %d, beyond its checkpoint of size %d", seq, cp.Size)
			}
			es, err := tx.Entries(ctx, tenant, seq-1, 1, scimtrail.EntryFilter{})
			if err != nil {
				return err
			}
			if len(es) != 1 || es[0].Seq != seq {
				return fmt.Errorf("entry %d of %s is missing", seq, tenant)
			}
			var p Proof
			if err := inclusion(ctx, tx, tenant, seq, cp.Size, &p, &s.ledger.proofs); err != nil {
				return err
			}
			if !bytes.Equal(p.Root, cp.Root) {
				return fmt.Errorf("the tree of %s at size %d does not have its checkpoint's root", tenant, cp.Size)
			}
			ev.Entries = append(ev.Entries, EvidenceEntry{Seq: seq, LeafHash: es[0].LeafHash, Body: es[0].Body, Proof: p.Hashes})
		}
		return nil
	})
	return ev, err
}

// loggedEntry is the part of an entry body the reports read.
type loggedEntry struct {
	Seq     int64             `json:"seq"`
	Time    time.Time         `json:"time"`
	Action  string            `json:"action"`
	Actor   scimtrail.Actor   `json:"actor"`
	Target  *scimtrail.Target `json:"target"`
	Changes []struct {
		Path string          `json:"path"`
		Old  json.RawMessage `json:"old"`
		New  json.RawMessage `json:"new"`
	} `json:"changes"`
	Cause  int64  `json:"cause"`
	Reason string `json:"reason"`
}

// change returns the new (or, when old, the old) value of the change at path, decoded into v.
func (e loggedEntry) change(path string, old bool, v any) bool {
	for _, c := range e.Changes {
		if c.Path == path {
			raw := c.New
			if old {
				raw = c.Old
			}
			return len(raw) > 0 && json.Unmarshal(raw, v) == nil
		}
	}
	return false
}

func (e loggedEntry) targetID() string {
	if e.Target == nil {
		return ""
	}
	return e.Target.ID
}

// accessKey identifies what an access.* entry is about: user, role and path.
func (e loggedEntry) accessKey() (user, role string, path scimtrail.AccessPath) {
	old := e.Action != access.ActionGranted
	e.change("role", old, &role)
	e.change("path", old, &path)
	return e.targetID(), role, path
}

// scanEntries calls fn for every entry of the tenant matching f with seq ≤ size, in seq
// order. Pruned entries (no body) are skipped.
func scanEntries(ctx context.Context, tx scimtrail.ReadTx, tenant string, size int64, f scimtrail.EntryFilter, fn func(loggedEntry) error) error {
	var after int64
	for {
		es, err := tx.Entries(ctx, tenant, after, 1000, f)
		if err != nil {
			return err
		}
		for _, se := range es {
			if se.Seq > size {
				return nil
			}
			if se.Body == nil {
				continue
			}
			var e loggedEntry
			if err := json.Unmarshal(se.Body, &e); err != nil {
				return fmt.Errorf("entry %d of %s: %w", se.Seq, tenant, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(es) < 1000 {
			return nil
		}
		after = es[len(es)-1].Seq
	}
}

// accessLog is what the access.* entries up to an instant say: the seq of the grant that
// opened each (user, role, path), and the last access entry of each (user, role).
type accessLog struct {
	granted map[string]int64       // user|role|path key → seq of the latest access.granted
	last    map[string]loggedEntry // user|role → latest access.* entry
}

func readAccessLog(ctx context.Context, tx scimtrail.ReadTx, tenant string, size int64, at time.Time) (accessLog, error) {
	l := accessLog{granted: map[string]int64{}, last: map[string]loggedEntry{}}
	err := scanEntries(ctx, tx, tenant, size, scimtrail.EntryFilter{Action: "access."}, func(e loggedEntry) error {
		if e.Time.After(at) {
			return nil
		}
		switch e.Action {
		case access.ActionGranted, access.ActionRevoked, access.ActionExpired:
		default:
			return nil
		}
		u, r, p := e.accessKey()
		if e.Action == access.ActionGranted {
			l.granted[u+"|"+r+"|"+p.Key()] = e.Seq
		}
		l.last[u+"|"+r] = e
		return nil
	})
	return l, err
}

// ReportPath is one path granting a role, with the seq of the access.granted entry that
// opened it (0 when that entry's body was pruned).
type ReportPath struct {
	scimtrail.AccessPath
	Seq int64 `json:"seq"`
}

// ReportRole is one role a user held, since when, through which paths.
type ReportRole struct {
	Role  string       `json:"role"`
	Since time.Time    `json:"since"`
	Paths []ReportPath `json:"paths"`
}

// ReportUser is one user's row of the point-in-time access report.
type ReportUser struct {
	UserID   string `json:"user_id"`
	UserName string `json:"user_name,omitempty"` // current userName; "" for a deleted user
	External bool   `json:"external"`            // as of the report's instant
	// ExternalReason says why the user was external then.
	ExternalReason string          `json:"external_reason,omitempty"`
	Access         []ReportRole    `json:"access"`
	Refused        []ReportRefusal `json:"refused,omitempty"`
}

// ReportRefusal is a path a tenant policy kept from being effective at the report's
// instant, why, and its access.refused entry.
type ReportRefusal struct {
	Role   string               `json:"role"`
	Path   scimtrail.AccessPath `json:"path"`
	Reason string               `json:"reason"`
	Since  time.Time            `json:"since"`
	Seq    int64                `json:"seq"`
}

// AccessReport is the point-in-time access report: every user's effective access at At,
// computed against Evidence's checkpoint.
type AccessReport struct {
	Report   string       `json:"report"` // "access"
	Tenant   string       `json:"tenant"`
	At       time.Time    `json:"at"`
	Users    []ReportUser `json:"users"`
	Evidence Evidence     `json:"evidence"`
}

// AccessReport reports every user's effective access at at (zero: now). Returns EINVALID
// for an instant in the future.
func (s *Service) AccessReport(ctx context.Context, tenant string, at time.Time) (AccessReport, error) {
	now := s.now().UTC()
	if at.IsZero() {
		at = now
	}
	if at.After(now) {
		return AccessReport{}, scimtrail.Errorf(scimtrail.EINVALID, "\"at\" %s is in the future", at.Format(time.RFC3339))
	}
	rep := AccessReport{Report: "access", Tenant: tenant, At: at.UTC(), Users: []ReportUser{}}
	cp, err := s.reportCheckpoint(ctx, tenant)
	if err != nil {
		return rep, err
	}
	var seqs []int64
	err = s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		ivs, err := tx.AccessAt(ctx, tenant, at, "", "")
		if err != nil {
			return err
		}
		paths, err := reportPaths(ctx, tx, tenant, cp.Size, at, ivs)
		if err != nil {
			return err
		}
		info, err := reportUsers(ctx, tx, tenant, at)
		if err != nil {
			return err
		}
		refusals, err := tx.RefusalsAt(ctx, tenant, at)
		if err != nil {
			return err
		}
		refusedOf := map[string][]ReportRefusal{}
		for _, r := range refusals {
			refusedOf[r.UserID] = append(refusedOf[r.UserID], ReportRefusal{Role: r.Role, Path: r.Path, Reason: r.Reason, Since: r.From, Seq: r.Seq})
			seqs = append(seqs, r.Seq)
		}
		byUser := map[string]*ReportUser{}
		for _, u := range access.Summarize(ivs) {
			ru := &ReportUser{UserID: u.UserID, Access: []ReportRole{}}
			for _, ra := range u.Access {
				rr := ReportRole{Role: ra.Role, Since: ra.Since, Paths: paths(u.UserID, ra)}
				for _, p := range rr.Paths {
					seqs = append(seqs, p.Seq)
				}
				ru.Access = append(ru.Access, rr)
			}
			byUser[u.UserID] = ru
		}
		// A user whose only paths were refused is listed too, with why.
		for id := range refusedOf {
			if byUser[id] == nil {
				byUser[id] = &ReportUser{UserID: id, Access: []ReportRole{}}
			}
		}
		for _, id := range slices.Sorted(maps.Keys(byUser)) {
			ru := byUser[id]
			ru.Refused = refusedOf[id]
			if ru.UserName, ru.External, ru.ExternalReason, err = info(id); err != nil {
				return err
			}
			rep.Users = append(rep.Users, *ru)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Evidence, err = s.evidence(ctx, tenant, cp, seqs)
	return rep, err
}

// reportPaths returns what gives a role's paths with the seq of the access.granted entry
// that opened each: the interval's own, kept since migration 15 and so surviving
// retention; else the one the log shows (0 when retention pruned its body).
func reportPaths(ctx context.Context, tx scimtrail.ReadTx, tenant string, size int64, at time.Time, ivs []scimtrail.AccessInterval) (func(userID string, ra access.RoleAccess) []ReportPath, error) {
	seqOf := map[string]int64{}
	fromLog := false
	for _, iv := range ivs {
		if iv.Seq != 0 {
			seqOf[iv.UserID+"|"+iv.Role+"|"+iv.Path.Key()] = iv.Seq
		} else {
			fromLog = true
		}
	}
	if fromLog {
		log, err := readAccessLog(ctx, tx, tenant, size, at)
		if err != nil {
			return nil, err
		}
		for k, seq := range log.granted {
			if _, ok := seqOf[k]; !ok {
				seqOf[k] = seq
			}
		}
	}
	return func(userID string, ra access.RoleAccess) []ReportPath {
		out := []ReportPath{}
		for _, p := range ra.Paths {
			out = append(out, ReportPath{AccessPath: p, Seq: seqOf[userID+"|"+ra.Role+"|"+p.Key()]})
		}
		return out
	}, nil
}

// reportUsers returns what gives a user's current userName ("" once deleted) and whether
// the user was external at at, and why, from the recorded status changes.
func reportUsers(ctx context.Context, tx scimtrail.ReadTx, tenant string, at time.Time) (func(userID string) (string, bool, string, error), error) {
	ext, err := tx.ExternalAt(ctx, tenant, nil, at)
	if err != nil {
		return nil, err
	}
	return func(userID string) (string, bool, string, error) {
		c := ext[userID]
		why := ""
		if c.External {
			why = c.Reason
		}
		u, err := tx.Resource(ctx, tenant, scimtrail.UserResource, userID)
		if isNotFound(err) {
			return "", c.External, why, nil
		}
		return u.UserName, c.External, why, err
	}, nil
}
