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

// preparedPlan is an access plan decided outside the writer.
type preparedPlan struct {
	size int64           // the tenant's log size it was decided at
	live map[string]bool // the live roles it was decided with
	at   time.Time       // the instant it was decided for: the change's time
	plan accessPlan
}

// errStalePlan makes the writer give a plan back: the tenant changed since it was decided.
var errStalePlan = errors.New("the access plan is stale")

// preparedAttempts is how often a change decides its plan outside the writer before it
// decides it inside (a tenant too busy for the plan to survive until the writer runs it).
const preparedAttempts = 3

// withAccessPlan runs a change whose access plan is decided by decide. check reads the
// change's preconditions; write is the change itself, run in the writer with the plan and
// its time. decide must not depend on the change being written yet.
func (s *Service) withAccessPlan(ctx context.Context, tenant string,
	check func(scimtrail.ReadTx) error,
	decide func(tx scimtrail.ReadTx, at time.Time, st accessState) (accessPlan, error),
	write func(tx scimtrail.Tx, at time.Time, plan accessPlan) error) error {
	for attempt := 1; ; attempt++ {
		inside := attempt > preparedAttempts
		var prep *preparedPlan
		if !inside {
			// An error here (a failed precondition) is left for the writer to report.
			prep, _ = s.preparePlan(ctx, tenant, check, decide)
		}
		err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
			if err := check(tx); err != nil {
				return err
			}
			if prep != nil {
				ok, err := prep.holds(ctx, tx, tenant)
				if err != nil {
					return err
				}
				if ok {
					return write(tx, prep.at, prep.plan)
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
			plan, err := decide(tx, at, st)
			if err != nil {
				return err
			}
			return write(tx, at, plan)
		})
		if !errors.Is(err, errStalePlan) {
			return err
		}
	}
}

func (s *Service) preparePlan(ctx context.Context, tenant string,
	check func(scimtrail.ReadTx) error,
	decide func(tx scimtrail.ReadTx, at time.Time, st accessState) (accessPlan, error)) (*preparedPlan, error) {
	var p preparedPlan
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		// The size first: whatever is read after it is at least as new.
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return err
		}
		p.size = head.Size
		if err := check(tx); err != nil {
			return err
		}
		st, err := loadAccessState(ctx, tx, tenant)
		if err != nil {
			return err
		}
		p.live, p.at = st.live, s.stamp()
		p.plan, err = decide(tx, p.at, st)
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
	if err != nil || head.Size != p.size {
		return false, err
	}
	st, err := loadLiveRoles(ctx, tx, tenant)
	return err == nil && maps.Equal(st.live, p.live), err
}
