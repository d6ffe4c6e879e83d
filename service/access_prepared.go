package service

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/scimtrail/scimtrail"
)

// A change that moves the access of many users at once (mapping a 100k-member group to a
// role) spends most of its time reading members' inputs and deciding what changes. On
// SQLite the single writer runs one command at a time, so doing that inside it would make
// every tenant's writes wait. Such changes decide their access plan first, in a read
// transaction, and the writer only checks that the plan still holds and applies it: state
// and entries still commit in one transaction.
//
// A plan still holds when the tenant's log has not grown since it was read: every change of
// a tenant's state appends to its log in the same transaction (DESIGN.md §2). The role
// catalogue also has global roles, whose changes go to the global log, so the live roles
// are compared too.

// preparedPlan is an access plan decided outside the writer, with the change's entries
// already encoded after the ledger head it was decided at.
type preparedPlan struct {
	live map[string]bool // the live roles it was decided with
	at   time.Time       // the instant it was decided for: the change's time
	plan accessPlan
	enc  encodedEntries
}

// errStalePlan makes the writer give a plan back: the tenant changed since it was decided.
var errStalePlan = errors.New("the access plan is stale")

// preparedAttempts is how often a change decides its plan outside the writer before it
// decides it inside (a tenant too busy for the plan to survive until the writer runs it).
const preparedAttempts = 3

// accessChange is a change whose access plan can be decided outside the writer.
type accessChange struct {
	// check reads the change's preconditions; it runs outside the writer and again inside.
	check func(tx scimtrail.ReadTx) error
	// decide is the access plan of the change at at; it must not depend on the change
	// being written yet.
	decide func(tx scimtrail.ReadTx, at time.Time, st accessState) (accessPlan, error)
	// lead is the change's own entries, which come before the plan's.
	lead func(at time.Time) []scimtrail.Entry
	// write writes the change's state and the plan's (plan.apply) in the writer.
	write func(tx scimtrail.Tx, at time.Time, plan accessPlan) error
}

// withAccessPlan runs c and appends its entries, in one transaction, and returns the
// receipt of the last entry.
func (s *Service) withAccessPlan(ctx context.Context, o Origin, tenant string, c accessChange) (scimtrail.Receipt, error) {
	for attempt := 1; ; attempt++ {
		inside := attempt > preparedAttempts
		var prep *preparedPlan
		if !inside {
			// An error here (a failed precondition) is left for the writer to report.
			prep, _ = s.preparePlan(ctx, o, tenant, c)
		}
		var rc scimtrail.Receipt
		err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
			if err := c.check(tx); err != nil {
				return err
			}
			if prep != nil {
				ok, err := prep.holds(ctx, tx, tenant)
				if err != nil {
					return err
				}
				if ok {
					if err := c.write(tx, prep.at, prep.plan); err != nil {
						return err
					}
					rc, err = prep.enc.store(ctx, tx)
					return err
				}
			}
			if !inside {
				return errStalePlan
			}
			at := s.stamp()
			st, err := loadAccessState(ctx, tx, tenant)
			if err != nil {
				return err
			}
			plan, err := c.decide(tx, at, st)
			if err != nil {
				return err
			}
			if err := c.write(tx, at, plan); err != nil {
				return err
			}
			rc, err = appendEntries(ctx, tx, tenant, o, at, append(c.lead(at), plan.entries...)...)
			return err
		})
		if !errors.Is(err, errStalePlan) {
			return rc, err
		}
	}
}

func (s *Service) preparePlan(ctx context.Context, o Origin, tenant string, c accessChange) (*preparedPlan, error) {
	var p preparedPlan
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		// The head first: whatever is read after it is at least as new.
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return err
		}
		head.Tenant = tenant
		if err := c.check(tx); err != nil {
			return err
		}
		st, err := loadAccessState(ctx, tx, tenant)
		if err != nil {
			return err
		}
		p.live, p.at = st.live, s.stamp()
		if p.plan, err = c.decide(tx, p.at, st); err != nil {
			return err
		}
		p.enc, err = encodeEntries(head, o, p.at, append(c.lead(p.at), p.plan.entries...))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// holds reports whether the plan is still the one the writer would decide.
func (p *preparedPlan) holds(ctx context.Context, tx scimtrail.Tx, tenant string) (bool, error) {
	head, err := tx.LedgerHead(ctx, tenant)
	if err != nil || head.Size != p.enc.head.Size {
		return false, err
	}
	st, err := loadLiveRoles(ctx, tx, tenant)
	return err == nil && maps.Equal(st.live, p.live), err
}
