package service

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

// AppStatePage is one page of the vendor's app's own view of its users and roles.
// Pages of one snapshot accumulate; the page with Last set makes the snapshot current,
// replacing the one before. A page of another snapshot abandons an unfinished one.
type AppStatePage struct {
	Snapshot string `json:"snapshot"`
	Last     bool   `json:"last"`
	Users    []struct {
		UserID string   `json:"user_id"`
		Roles  []string `json:"roles"`
	} `json:"users"`
}

// MaxAppStatePage is the most users one page may carry.
const MaxAppStatePage = 1000

// PutAppState stores one page of the app's view, with an app_state.page_received entry
// (and app_state.replaced when the page completes its snapshot). Returns EINVALID for a
// missing snapshot id or user id, or a page of more than MaxAppStatePage users.
func (s *Service) PutAppState(ctx context.Context, o Origin, tenant string, p AppStatePage) (scimtrail.AppStateHead, scimtrail.Receipt, error) {
	if p.Snapshot == "" || len(p.Snapshot) > 128 {
		return scimtrail.AppStateHead{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a page needs a \"snapshot\" id of 1 to 128 characters")
	}
	if len(p.Users) > MaxAppStatePage {
		return scimtrail.AppStateHead{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a page holds at most %d users", MaxAppStatePage)
	}
	var rows []scimtrail.AppStateRow
	for _, u := range p.Users {
		if u.UserID == "" {
			return scimtrail.AppStateHead{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "every user needs a \"user_id\"")
		}
		for _, r := range u.Roles {
			rows = append(rows, scimtrail.AppStateRow{UserID: u.UserID, Role: r})
		}
	}
	var h scimtrail.AppStateHead
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		if h, err = tx.AppStateHead(ctx, tenant); err != nil {
			return err
		}
		if h.Pending != p.Snapshot {
			if err := tx.DeleteAppStateRows(ctx, tenant, []string{h.Current}); err != nil {
				return err
			}
			h.Pending, h.Pages = p.Snapshot, 0
		}
		if err := tx.InsertAppStateRows(ctx, tenant, p.Snapshot, rows); err != nil {
			return err
		}
		h.Pages++
		target := &scimtrail.Target{Type: "AppState", ID: p.Snapshot}
		entries := []scimtrail.Entry{{Action: "app_state.page_received", Target: target, Changes: []scimtrail.Change{
			{Path: "page", New: h.Pages}, {Path: "users", New: len(p.Users)}, {Path: "roles", New: len(rows)}}}}
		if p.Last {
			prev := h.Current
			h.Current, h.Pending, h.Pages = p.Snapshot, "", 0
			if err := tx.DeleteAppStateRows(ctx, tenant, []string{h.Current}); err != nil {
				return err
			}
			entries = append(entries, scimtrail.Entry{Action: "app_state.replaced", Target: target,
				Changes: []scimtrail.Change{{Path: "snapshot", Old: prev, New: h.Current}}})
		}
		if err := tx.PutAppStateHead(ctx, h); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, s.stamp(), entries...)
		return err
	})
	return h, rc, err
}

// DriftItem is one (user, role) on which the app and scimtrail disagree, with the entry
// that shows scimtrail's side: the revocation (missing_revocation) or the grant
// (missing_grant); 0 for an unexpected grant, which scimtrail never made.
type DriftItem struct {
	UserID   string `json:"user_id"`
	External bool   `json:"external"` // the user is an external collaborator now
	Role     string `json:"role"`
	Seq      int64  `json:"seq"`
}

// DriftReport compares the app's current snapshot with effective access now.
type DriftReport struct {
	Report             string      `json:"report"` // "drift"
	Tenant             string      `json:"tenant"`
	At                 time.Time   `json:"at"`
	Snapshot           string      `json:"snapshot"`
	MissingRevocations []DriftItem `json:"missing_revocations"` // the app still grants what scimtrail revoked
	UnexpectedGrants   []DriftItem `json:"unexpected_grants"`   // the app grants what scimtrail never granted
	MissingGrants      []DriftItem `json:"missing_grants"`      // scimtrail grants what the app lacks
	RecordedSeq        int64       `json:"recorded_seq"`        // the access.drift_reported entry
	Evidence           Evidence    `json:"evidence"`
}

// Drift compares the app's current snapshot with effective access now and records the
// result as an access.drift_reported entry with the counts. Returns ENOTFOUND when the app
// never completed a snapshot.
func (s *Service) Drift(ctx context.Context, o Origin, tenant string) (DriftReport, error) {
	now := s.now().UTC()
	rep := DriftReport{Report: "drift", Tenant: tenant, At: now,
		MissingRevocations: []DriftItem{}, UnexpectedGrants: []DriftItem{}, MissingGrants: []DriftItem{}}
	cp, err := s.reportCheckpoint(ctx, tenant)
	if err != nil {
		return rep, err
	}
	var seqs []int64
	err = s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		h, err := tx.AppStateHead(ctx, tenant)
		if err != nil {
			return err
		}
		if h.Current == "" {
			return scimtrail.Errorf(scimtrail.ENOTFOUND, "the app has not sent a complete app-state snapshot of tenant %s", tenant)
		}
		rep.Snapshot = h.Current
		rows, err := tx.AppStateRows(ctx, tenant, h.Current)
		if err != nil {
			return err
		}
		ivs, err := tx.AccessAt(ctx, tenant, now, "", "")
		if err != nil {
			return err
		}
		log, err := readAccessLog(ctx, tx, tenant, cp.Size, now)
		if err != nil {
			return err
		}
		held := map[string]int64{}
		for _, iv := range ivs {
			k := iv.UserID + "|" + iv.Role
			if _, ok := held[k]; !ok {
				// The interval's own seq survives retention; the log's is 0 once pruned.
				held[k] = cmp.Or(iv.Seq, log.granted[k+"|"+iv.Path.Key()])
			}
		}
		app := map[string]bool{}
		for _, r := range rows {
			k := r.UserID + "|" + r.Role
			app[k] = true
			if _, ok := held[k]; ok {
				continue
			}
			item := DriftItem{UserID: r.UserID, Role: r.Role}
			if last, ok := log.last[k]; ok && last.Action != access.ActionGranted {
				item.Seq = last.Seq
				rep.MissingRevocations = append(rep.MissingRevocations, item)
				seqs = append(seqs, item.Seq)
			} else {
				rep.UnexpectedGrants = append(rep.UnexpectedGrants, item)
			}
		}
		for k, seq := range held {
			if !app[k] {
				u, r, _ := strings.Cut(k, "|")
				rep.MissingGrants = append(rep.MissingGrants, DriftItem{UserID: u, Role: r, Seq: seq})
				seqs = append(seqs, seq)
			}
		}
		ext, err := tx.ExternalAt(ctx, tenant, nil, now)
		if err != nil {
			return err
		}
		for _, list := range [][]DriftItem{rep.MissingRevocations, rep.UnexpectedGrants, rep.MissingGrants} {
			for i := range list {
				list[i].External = ext[list[i].UserID].External
			}
		}
		slices.SortFunc(rep.MissingGrants, func(a, b DriftItem) int {
			return strings.Compare(a.UserID+"|"+a.Role, b.UserID+"|"+b.Role)
		})
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rep.Evidence, err = s.evidence(ctx, tenant, cp, seqs); err != nil {
		return rep, err
	}
	err = s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		rc, err := appendEntries(ctx, tx, tenant, o, s.stamp(), scimtrail.Entry{Action: "access.drift_reported",
			Target: &scimtrail.Target{Type: "AppState", ID: rep.Snapshot}, Changes: []scimtrail.Change{
				{Path: "missing_revocations", New: len(rep.MissingRevocations)}, {Path: "unexpected_grants", New: len(rep.UnexpectedGrants)},
				{Path: "missing_grants", New: len(rep.MissingGrants)}, {Path: "checkpoint_size", New: cp.Size}}})
		rep.RecordedSeq = rc.Seq
		return err
	})
	return rep, err
}
