package service

import (
	"context"
	"time"

	"github.com/scimtrail/scimtrail"
)

// StaleUser is a user the IdP deactivated or deleted who still holds roles the vendor's
// app granted itself (app.role_granted, never revoked by the app).
type StaleUser struct {
	UserID        string   `json:"user_id"`
	External      bool     `json:"external"` // an external collaborator as of the report's instant
	State         string   `json:"state"`    // "deactivated" or "deleted"
	GoneSeq       int64    `json:"gone_seq"`
	AppRoles      []string `json:"app_roles"`
	AppGrantSeqs  []int64  `json:"app_grant_seqs"`
	DeactivatedAt string   `json:"deactivated_at,omitempty"`
}

// OrphanedAccount is a service account, not deleted, whose accountable owner is gone.
type OrphanedAccount struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	OwnerID    string `json:"owner_id"`
	OwnerState string `json:"owner_state"` // "deactivated" or "deleted"
	GoneSeq    int64  `json:"gone_seq"`
}

// UnusedKey is a usable NHI key not used for at least the report's inactive_days
// (never used: counted from its issue).
type UnusedKey struct {
	ID        string    `json:"id"`
	AccountID string    `json:"service_account_id"`
	Issued    time.Time `json:"issued"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	IdleDays  int       `json:"idle_days"`
}

// StaleReport is the orphaned-and-stale-accounts report.
type StaleReport struct {
	Report       string            `json:"report"` // "stale"
	Tenant       string            `json:"tenant"`
	At           time.Time         `json:"at"`
	InactiveDays int               `json:"inactive_days"`
	Users        []StaleUser       `json:"users"`
	Orphaned     []OrphanedAccount `json:"orphaned_service_accounts"`
	UnusedKeys   []UnusedKey       `json:"unused_keys"`
	Evidence     Evidence          `json:"evidence"`
}

// lastUserEnd returns the seq of the latest user.deactivated or user.deleted entry of a user.
func lastUserEnd(ctx context.Context, tx scimtrail.ReadTx, tenant string, size int64, userID string) (int64, string, error) {
	var seq int64
	var at string
	err := scanEntries(ctx, tx, tenant, size, scimtrail.EntryFilter{TargetID: userID, Action: "user."}, func(e loggedEntry) error {
		if e.Action == "user.deactivated" || e.Action == "user.deleted" {
			seq, at = e.Seq, e.Time.UTC().Format(time.RFC3339Nano)
		}
		return nil
	})
	return seq, at, err
}

// Stale reports deprovisioned users still holding app grants, service accounts whose
// owner is gone, and usable NHI keys idle for inactiveDays or more.
func (s *Service) Stale(ctx context.Context, tenant string, inactiveDays int) (StaleReport, error) {
	if inactiveDays < 1 {
		return StaleReport{}, scimtrail.Errorf(scimtrail.EINVALID, "\"inactive_days\" must be a positive number of days")
	}
	now := s.now().UTC()
	rep := StaleReport{Report: "stale", Tenant: tenant, At: now, InactiveDays: inactiveDays,
		Users: []StaleUser{}, Orphaned: []OrphanedAccount{}, UnusedKeys: []UnusedKey{}}
	cp, err := s.reportCheckpoint(ctx, tenant)
	if err != nil {
		return rep, err
	}
	var seqs []int64
	err = s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		gs, err := tx.AppRoleGrants(ctx, tenant, "")
		if err != nil {
			return err
		}
		accounts, err := tx.ServiceAccounts(ctx, tenant, "")
		if err != nil {
			return err
		}
		var ids []string
		for _, g := range gs {
			ids = append(ids, g.UserID)
		}
		for _, a := range accounts {
			ids = append(ids, a.OwnerID)
		}
		users, err := tx.AccessUsers(ctx, tenant, ids)
		if err != nil {
			return err
		}
		state := map[string]string{}
		for _, id := range ids {
			state[id] = "deleted"
		}
		for _, u := range users {
			state[u.ID] = "active"
			if !u.Active {
				state[u.ID] = "deactivated"
			}
		}
		gone := map[string]int64{}
		goneAt := map[string]string{}
		goneSeq := func(id string) (int64, error) {
			if seq, ok := gone[id]; ok {
				return seq, nil
			}
			seq, at, err := lastUserEnd(ctx, tx, tenant, cp.Size, id)
			gone[id], goneAt[id] = seq, at
			return seq, err
		}
		for _, g := range gs {
			if state[g.UserID] == "active" {
				continue
			}
			seq, err := goneSeq(g.UserID)
			if err != nil {
				return err
			}
			if n := len(rep.Users); n == 0 || rep.Users[n-1].UserID != g.UserID {
				c, err := externalNow(ctx, tx, tenant, g.UserID, now) // external.go
				if err != nil {
					return err
				}
				rep.Users = append(rep.Users, StaleUser{UserID: g.UserID, External: c.External, State: state[g.UserID], GoneSeq: seq, DeactivatedAt: goneAt[g.UserID]})
				seqs = append(seqs, seq)
			}
			u := &rep.Users[len(rep.Users)-1]
			u.AppRoles = append(u.AppRoles, g.Role)
			u.AppGrantSeqs = append(u.AppGrantSeqs, g.Seq)
			seqs = append(seqs, g.Seq)
		}
		for _, a := range accounts {
			if a.State == scimtrail.AccountDeleted || state[a.OwnerID] == "active" {
				continue
			}
			seq, err := goneSeq(a.OwnerID)
			if err != nil {
				return err
			}
			rep.Orphaned = append(rep.Orphaned, OrphanedAccount{ID: a.ID, Name: a.Name, State: a.State, OwnerID: a.OwnerID, OwnerState: state[a.OwnerID], GoneSeq: seq})
			seqs = append(seqs, seq)
		}
		keys, err := tx.NHIKeys(ctx, tenant, "")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !k.Usable(now) {
				continue
			}
			since := k.Created
			if !k.LastUsed.IsZero() {
				since = k.LastUsed
			}
			idle := int(now.Sub(since).Hours() / 24)
			if idle >= inactiveDays {
				rep.UnusedKeys = append(rep.UnusedKeys, UnusedKey{ID: k.ID, AccountID: k.AccountID, Issued: k.Created, LastUsed: k.LastUsed, IdleDays: idle})
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Evidence, err = s.evidence(ctx, tenant, cp, seqs)
	return rep, err
}
