package service

import (
	"context"

	"github.com/scimtrail/scimtrail"
)

// LogSize returns the number of entries in tenant's ledger, which is also the seq of its
// latest entry, so that a reader can page the log backwards from its end (the console shows
// the newest changes first). Returns ENOTFOUND for a tenant that does not exist.
func (s *Service) LogSize(ctx context.Context, tenant string) (int64, error) {
	var size int64
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		head, err := tx.LedgerHead(ctx, tenant)
		if isNotFound(err) {
			return nil
		}
		size = head.Size
		return err
	})
	return size, err
}
