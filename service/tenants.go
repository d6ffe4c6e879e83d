package service

import (
	"context"
	"regexp"
	"strings"

	"github.com/scimtrail/scimtrail"
)

// Tenant ids appear in URLs and log origins; keeping them to DNS-label characters means they
// never need escaping and can never start with "_" like SystemLog.
var tenantIDPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

const maxNameLen = 200

// CreateTenant creates a tenant and records tenant.created as the first entry of its log.
// Returns EINVALID for a malformed id or name, ECONFLICT if the id is taken.
func (s *Service) CreateTenant(ctx context.Context, o Origin, id, name string) (scimtrail.Tenant, scimtrail.Receipt, error) {
	if !tenantIDPattern.MatchString(id) {
		return scimtrail.Tenant{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
			"tenant id %q is invalid: use 1 to 64 lower-case letters, digits and hyphens, starting and ending with a letter or digit", id)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = id
	}
	if len(name) > maxNameLen {
		return scimtrail.Tenant{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "tenant name is longer than %d bytes", maxNameLen)
	}
	var t scimtrail.Tenant
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, id, func(tx scimtrail.Tx) error {
		if _, err := tx.Tenant(ctx, id); err == nil {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "tenant %q already exists", id)
		} else if !isNotFound(err) {
			return err
		}
		at := s.stamp()
		t = scimtrail.Tenant{ID: id, Name: name, Created: at}
		if err := tx.InsertTenant(ctx, t); err != nil {
			return err
		}
		var err error
		rc, err = appendEntries(ctx, tx, id, o, at, scimtrail.Entry{
			Action:  "tenant.created",
			Target:  &scimtrail.Target{Type: "Tenant", ID: id, Display: name},
			Changes: []scimtrail.Change{{Path: "name", New: name}},
		})
		return err
	})
	return t, rc, err
}

// Tenant returns one tenant, or ENOTFOUND.
func (s *Service) Tenant(ctx context.Context, id string) (scimtrail.Tenant, error) {
	var t scimtrail.Tenant
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		t, err = tx.Tenant(ctx, id)
		return err
	})
	if isNotFound(err) {
		return t, notFound("tenant", id)
	}
	return t, err
}

// Tenants lists every tenant.
func (s *Service) Tenants(ctx context.Context) ([]scimtrail.Tenant, error) {
	var ts []scimtrail.Tenant
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		ts, err = tx.Tenants(ctx)
		return err
	})
	return ts, err
}

// Ready reports whether the database answers and its migrations are applied.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }
