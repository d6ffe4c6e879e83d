package service

import (
	"context"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Delegated administration scopes: an admin token may be issued with a scope that names
// the roles it may grant (by direct grant, break-glass or group mapping) and whether it may
// issue, rotate and revoke tokens. A token without a scope is unrestricted within its kind.
// Scopes never change after issue, so checking one before the write transaction is as good
// as checking it inside.

// IssueScopedToken issues an admin token limited to scope. Returns EINVALID for a scope on
// another kind or a role that does not exist, and what IssueToken returns.
func (s *Service) IssueScopedToken(ctx context.Context, o Origin, tenant string, kind scimtrail.TokenKind, name string, ttl time.Duration, scope scimtrail.TokenScope) (IssuedToken, scimtrail.Receipt, error) {
	if kind != scimtrail.TokenAdmin {
		return IssuedToken{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"scope\" applies to admin tokens only, not %s tokens", kind)
	}
	return s.issueToken(ctx, o, tenant, kind, name, ttl, &scope)
}

func (s *Service) storeScope(ctx context.Context, tx scimtrail.Tx, tenant string, tok scimtrail.Token, scope scimtrail.TokenScope, e *scimtrail.Entry) error {
	scope.GrantableRoles = slices.Compact(slices.Sorted(slices.Values(scope.GrantableRoles)))
	if scope.GrantableRoles == nil {
		scope.GrantableRoles = []string{}
	}
	for i, r := range scope.GrantableRoles {
		if _, err := liveRole(ctx, tx, tenant, r); err != nil {
			return scimtrail.Errorf(scimtrail.EINVALID, "\"scope.grantable_roles[%d]\": %s", i, scimtrail.ErrorMessage(err))
		}
	}
	if err := tx.InsertTokenScope(ctx, tenant, tok.ID, scope); err != nil {
		return err
	}
	e.Changes = append(e.Changes, scimtrail.Change{Path: "scope", New: map[string]any{"grantable_roles": scope.GrantableRoles, "issue_tokens": scope.IssueTokens}})
	return nil
}

// TokenScope returns the scope of a token, and false when it has none.
func (s *Service) TokenScope(ctx context.Context, tokenID string) (scimtrail.TokenScope, bool, error) {
	var sc scimtrail.TokenScope
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		sc, err = tx.TokenScope(ctx, tokenID)
		return err
	})
	if isNotFound(err) {
		return sc, false, nil
	}
	return sc, err == nil, err
}

// MayGrant checks that tok may grant role (directly, by break-glass, or by mapping a group
// to it). Returns EFORBIDDEN naming the role when its scope does not include it.
func (s *Service) MayGrant(ctx context.Context, tok scimtrail.Token, role string) error {
	sc, ok, err := s.TokenScope(ctx, tok.ID)
	if err != nil || !ok {
		return err
	}
	if !slices.Contains(sc.GrantableRoles, role) {
		return scimtrail.Errorf(scimtrail.EFORBIDDEN, "this admin token's scope does not include role %q: it may grant only %v", role, sc.GrantableRoles)
	}
	return nil
}

// MayIssueTokens checks that tok may issue, rotate or revoke tokens, and that a token it
// issues is no more powerful than itself: a scoped admin token may issue admin tokens only
// with a scope within its own (newScope nil: unscoped). Returns EFORBIDDEN.
func (s *Service) MayIssueTokens(ctx context.Context, tok scimtrail.Token, kind scimtrail.TokenKind, newScope *scimtrail.TokenScope) error {
	sc, ok, err := s.TokenScope(ctx, tok.ID)
	if err != nil || !ok {
		return err
	}
	if !sc.IssueTokens {
		return scimtrail.Errorf(scimtrail.EFORBIDDEN, "this admin token's scope does not allow issuing, rotating or revoking tokens")
	}
	if kind != scimtrail.TokenAdmin {
		return nil
	}
	if newScope == nil {
		return scimtrail.Errorf(scimtrail.EFORBIDDEN, "a scoped admin token may issue admin tokens only with a \"scope\" within its own")
	}
	for _, r := range newScope.GrantableRoles {
		if !slices.Contains(sc.GrantableRoles, r) {
			return scimtrail.Errorf(scimtrail.EFORBIDDEN, "this admin token's scope does not include role %q, so it cannot pass it on", r)
		}
	}
	return nil
}
