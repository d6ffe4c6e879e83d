package service

import (
	"context"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

// Now is the service's clock, which stamps every ledger entry; pages that show access at an
// instant compare with it rather than with the wall clock, so that both agree in tests that
// move the clock.
func (s *Service) Now() time.Time { return s.now() }

// historyBatch is how many ledger entries AccessHistory reads at a time.
const historyBatch = 500

// AccessHistory returns every (role, path) interval the user ever held, oldest first, rebuilt
// from the user's access.* ledger entries alone, so that the console's access timeline shows
// exactly what the log says. Intervals still held have a zero To. Returns ENOTFOUND for the
// tenant; a user with no access (or no such user) has no intervals.
func (s *Service) AccessHistory(ctx context.Context, tenant, userID string) ([]scimtrail.AccessInterval, error) {
	var h access.History
	f := scimtrail.EntryFilter{Action: "access.", TargetID: userID}
	for after := int64(0); ; {
		batch, err := s.AuditEntries(ctx, tenant, after, historyBatch, f)
		if err != nil {
			return nil, err
		}
		for _, e := range batch {
			if err := h.Apply(e.Body); err != nil {
				return nil, err
			}
		}
		if len(batch) < historyBatch {
			break
		}
		after = batch[len(batch)-1].Seq
	}
	out := h.Intervals
	for i := range out {
		out[i].Tenant = tenant
	}
	slices.SortStableFunc(out, func(a, b scimtrail.AccessInterval) int { return a.From.Compare(b.From) })
	return out, nil
}

// Grants lists the tenant's direct and break-glass grants that are not revoked, expired
// break-glass grants included (their Expires says so). Returns ENOTFOUND for the tenant.
func (s *Service) Grants(ctx context.Context, tenant string) ([]scimtrail.Grant, error) {
	var out []scimtrail.Grant
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		out, err = tx.Grants(ctx, tenant, nil)
		return err
	})
	return out, err
}
