package service

import (
	"context"
	"time"

	"github.com/scimtrail/scimtrail"
)

// This file brings the roles the vendor's app grants itself (app.role_granted and
// app.role_revoked events) into effective access, as paths of kind app_grant, in the same
// transaction as the event.

// checkAppRole checks the Role target of an app.role_granted / app.role_revoked event
// against the roles catalogue: granting needs a role in use; revoking needs a role that
// exists, retired or not, so the app can still record taking away a retired role.
func checkAppRole(ctx context.Context, tx scimtrail.ReadTx, tenant, role string, revoke bool, field string) error {
	r, err := tx.Role(ctx, tenant, role)
	if isNotFound(err) {
		r, err = tx.Role(ctx, "", role)
	}
	if isNotFound(err) {
		return scimtrail.Errorf(scimtrail.EINVALID, "%s names role %q, which is neither a role of tenant %s nor a global role", field, role, tenant)
	} else if err != nil {
		return err
	}
	if !revoke && !r.Retired.IsZero() {
		return scimtrail.Errorf(scimtrail.EINVALID, "%s names role %q, which is retired and can be granted to nobody", field, role)
	}
	return nil
}

// appGrantsOf returns the app role grants of the users, by user. One user (the common case
// on the SCIM write path) is one indexed lookup; more read the tenant's grants at once.
func appGrantsOf(ctx context.Context, tx scimtrail.ReadTx, tenant string, users []string) (map[string][]scimtrail.AppRoleGrant, error) {
	out := map[string][]scimtrail.AppRoleGrant{}
	if len(users) == 0 {
		return out, nil
	}
	who := ""
	if len(users) == 1 {
		who = users[0]
	}
	gs, err := tx.AppRoleGrants(ctx, tenant, who)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		out[g.UserID] = append(out[g.UserID], g)
	}
	return out, nil
}

// appGrantsAccess recomputes the access of the users whose app role grants changed and
// appends the access.granted / access.revoked entries, each caused by the seq of the last
// event that changed the user's grants.
func (s *Service) appGrantsAccess(ctx context.Context, tx scimtrail.Tx, o Origin, tenant string, at time.Time, moved map[string]int64) error {
	if len(moved) == 0 {
		return nil
	}
	st, err := loadAccessState(ctx, tx, tenant)
	if err != nil {
		return err
	}
	users := make([]string, 0, len(moved))
	for u := range moved {
		users = append(users, u)
	}
	derived, err := s.recomputeAccess(ctx, tx, tenant, at, st, users)
	if err != nil || len(derived) == 0 {
		return err
	}
	for i := range derived {
		derived[i].Cause = moved[derived[i].Target.ID]
	}
	_, err = appendEntries(ctx, tx, tenant, o, at, derived...)
	return err
}
