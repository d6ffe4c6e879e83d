package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

// Retention returns the tenant's retention policy. Returns ENOTFOUND for an unknown tenant.
func (s *Service) Retention(ctx context.Context, tenant string) (scimtrail.Retention, error) {
	var r scimtrail.Retention
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if _, err := tx.Tenant(ctx, tenant); err != nil {
			return err
		}
		var err error
		r, err = tx.Retention(ctx, tenant)
		return err
	})
	if isNotFound(err) {
		return r, notFound("tenant", tenant)
	}
	return r, err
}

// maxRetention bounds a retention period to what the database's seconds column and the
// time arithmetic hold comfortably.
const maxRetention = 100 * 365 * 24 * time.Hour

// SetRetention sets the tenant's retention period (0: keep forever) and legal hold, and
// records ledger.retention_changed with what changed in the same transaction. Returns
// ENOTFOUND for an unknown tenant, EINVALID for a negative or absurd period.
func (s *Service) SetRetention(ctx context.Context, o Origin, tenant string, period time.Duration, hold bool) (scimtrail.Retention, scimtrail.Receipt, error) {
	if period < 0 || period > maxRetention || period%time.Second != 0 {
		return scimtrail.Retention{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
			"retention must be whole seconds between 0 (keep forever) and 100 years, not %s", period)
	}
	var r scimtrail.Retention
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if _, err := tx.Tenant(ctx, tenant); err != nil {
			return err
		}
		old, err := tx.Retention(ctx, tenant)
		if err != nil {
			return err
		}
		r = old
		r.Period, r.LegalHold = period, hold
		var changes []scimtrail.Change
		if old.Period != r.Period {
			changes = append(changes, scimtrail.Change{Path: "retention", Old: formatRetention(old.Period), New: formatRetention(r.Period)})
		}
		if old.LegalHold != r.LegalHold {
			changes = append(changes, scimtrail.Change{Path: "legal_hold", Old: old.LegalHold, New: r.LegalHold})
		}
		if len(changes) == 0 {
			rc, err = appendEntries(ctx, tx, tenant, o, s.stamp())
			return err
		}
		if err := tx.PutRetention(ctx, r); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, s.stamp(), scimtrail.Entry{
			Action:  "ledger.retention_changed",
			Target:  &scimtrail.Target{Type: "Tenant", ID: tenant},
			Changes: changes,
		})
		return err
	})
	if isNotFound(err) {
		return r, rc, notFound("tenant", tenant)
	}
	return r, rc, err
}

// formatRetention writes a period as the API reads it: whole days as "400d", else a Go
// duration; "" for keep forever.
func formatRetention(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// FormatRetention is formatRetention for the API and CLI.
func FormatRetention(d time.Duration) string { return formatRetention(d) }

// PruneResult says what a prune did or, dry, would do.
type PruneResult struct {
	Tenant string
	// From and To are the seqs whose bodies were (or would be) dropped; To < From when
	// nothing was due.
	From, To int64
	// Entries is how many bodies were dropped (0 for a dry run).
	Entries int64
	// Held is set when a legal hold stopped pruning.
	Held bool
	// Seq is the ledger.pruned entry, 0 when nothing was pruned.
	Seq int64
}

// pruneChunk bounds one pruning transaction, so a first prune of a large log does not hold
// the tenant's write lock (or SQLite's single writer) for long; a whole number of entry
// bundles.
const pruneChunk = 256 * ledger.TileWidth

// Prune drops the bodies of the tenant's entries older than its retention period, keeping
// leaf hashes, tiles and checkpoints, and records each step as a ledger.pruned entry in the
// same transaction. It never prunes while a legal hold is on, never an entry that no signed
// checkpoint covers yet (its leaf hash would then be vouched for by nothing once its body is
// gone), and only whole entry bundles from the start of the log, so the pruned part is
// exactly the C2SP minimum index and every entry bundle is either served whole or gone.
// Returns ENOTFOUND for an unknown tenant.
func (s *Service) Prune(ctx context.Context, tenant string, dryRun bool) (PruneResult, error) {
	o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "retention"}, Channel: scimtrail.ChannelSystem}
	total := PruneResult{Tenant: tenant}
	for {
		res, err := s.pruneStep(ctx, o, tenant, dryRun)
		if err != nil {
			return total, err
		}
		if total.From == 0 {
			total.From, total.Held = res.From, res.Held
		}
		total.To, total.Entries = max(total.To, res.To), total.Entries+res.Entries
		if res.Seq != 0 {
			total.Seq = res.Seq
		}
		if dryRun || res.To < res.From || res.To-res.From+1 < pruneChunk {
			return total, nil
		}
	}
}

func (s *Service) pruneStep(ctx context.Context, o Origin, tenant string, dryRun bool) (PruneResult, error) {
	res := PruneResult{Tenant: tenant}
	step := func(tx scimtrail.ReadTx) (scimtrail.Retention, error) {
		if _, err := tx.Tenant(ctx, tenant); err != nil {
			return scimtrail.Retention{}, err
		}
		r, err := tx.Retention(ctx, tenant)
		if err != nil {
			return r, err
		}
		res.From, res.To, res.Held = r.PrunedTo+1, r.PrunedTo, r.LegalHold
		if r.Period == 0 || r.LegalHold {
			return r, nil
		}
		cp, err := tx.LatestCheckpoint(ctx, tenant)
		if isNotFound(err) {
			return r, nil
		} else if err != nil {
			return r, err
		}
		upTo := min(cp.Size, r.PrunedTo+pruneChunk)
		first, err := tx.FirstEntryAtOrAfter(ctx, tenant, r.PrunedTo, upTo, s.now().Add(-r.Period))
		if err != nil {
			return r, err
		}
		res.To = max(r.PrunedTo, (first-1)/ledger.TileWidth*ledger.TileWidth)
		return r, nil
	}
	if dryRun {
		err := s.store.View(ctx, func(tx scimtrail.ReadTx) error { _, err := step(tx); return err })
		if isNotFound(err) {
			return res, notFound("tenant", tenant)
		}
		return res, err
	}
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		r, err := step(tx)
		if err != nil || res.To < res.From {
			return err
		}
		if res.Entries, err = tx.PruneEntries(ctx, tenant, res.From, res.To); err != nil {
			return err
		}
		r.PrunedTo = res.To
		if err := tx.PutRetention(ctx, r); err != nil {
			return err
		}
		rc, err := appendEntries(ctx, tx, tenant, o, s.stamp(), scimtrail.Entry{
			Action: "ledger.pruned",
			Target: &scimtrail.Target{Type: "Log", ID: tenant},
			Changes: []scimtrail.Change{
				{Path: "pruned_from", New: res.From},
				{Path: "pruned_to", Old: res.From - 1, New: res.To},
			},
			Reason: fmt.Sprintf("retention %s", formatRetention(r.Period)),
		})
		res.Seq = rc.Seq
		return err
	})
	if isNotFound(err) {
		return res, notFound("tenant", tenant)
	}
	return res, err
}

// PruneAll prunes every tenant with a retention period set; a tenant that fails is logged
// and the others still pruned.
func (s *Service) PruneAll(ctx context.Context, logger *slog.Logger) error {
	var rs []scimtrail.Retention
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		rs, err = tx.Retentions(ctx)
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range rs {
		res, err := s.Prune(ctx, r.Tenant, false)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			logger.Error("prune the ledger", "tenant", r.Tenant, "err", err)
			continue
		}
		if res.Entries > 0 {
			logger.Info("pruned ledger entries", "tenant", r.Tenant, "from", res.From, "to", res.To, "seq", res.Seq)
		}
	}
	return nil
}

// RunPruner prunes every interval until ctx ends.
func (s *Service) RunPruner(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.PruneAll(ctx, logger); err != nil && ctx.Err() == nil {
			logger.Error("prune the ledger", "err", err)
		}
	}
}
