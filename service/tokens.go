package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// maxSecretLen bounds what Authenticate hashes, so a huge header costs nothing.
const maxSecretLen = 512

// minPresetLen is the shortest SCIMTRAIL_BOOTSTRAP_TOKEN accepted: 32 characters of a
// random string carry well over 128 bits.
const minPresetLen = 32

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// logOf is the ledger that records a token's lifecycle: its tenant's, or the install's
// system log for operator tokens.
func logOf(tenant string) string {
	if tenant == "" {
		return scimtrail.SystemLog
	}
	return tenant
}

// denied is the one answer to an unknown, expired or revoked token; it does not say which,
// so it tells an attacker nothing.
func denied() error {
	return scimtrail.Errorf(scimtrail.EUNAUTHORIZED, "the bearer token is invalid, expired or revoked")
}

// Authenticate returns the token whose secret this is. Returns EUNAUTHORIZED for an unknown,
// expired or revoked token; the message does not say which, so it tells an attacker nothing.
func (s *Service) Authenticate(ctx context.Context, secret string) (scimtrail.Token, error) {
	if secret == "" || len(secret) > maxSecretLen {
		return scimtrail.Token{}, denied()
	}
	h := hashSecret(secret)
	var tok scimtrail.Token
	// One statement, read afresh on every request: a revocation (by any process or
	// replica) is seen by the very next one.
	err := s.store.Peek(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		tok, err = tx.TokenByHash(ctx, h)
		return err
	})
	return s.checkToken(tok, h, err)
}

// checkToken is the verdict on tok, read by the hash h with error err.
func (s *Service) checkToken(tok scimtrail.Token, h []byte, err error) (scimtrail.Token, error) {
	if isNotFound(err) {
		return scimtrail.Token{}, denied()
	} else if err != nil {
		return scimtrail.Token{}, err
	}
	// The lookup is by hash already; the constant-time comparison makes sure no
	// index collation or prefix match can ever accept a different secret.
	if subtle.ConstantTimeCompare(tok.Hash, h) != 1 || !tok.Usable(s.now()) {
		return scimtrail.Token{}, denied()
	}
	return tok, nil
}

// UserRead is the answer Resource gives for a user, read ahead by AuthenticateWithUser.
type UserRead struct {
	View View
	Err  error
}

// AuthenticateWithUser is Authenticate, and reads the tenant's user id as Resource does
// with the same statement where the store can (TokenAndUser): GET /Users/{id} is the
// commonest request, and a second statement cost it about a seventh of its CPU time on
// SQLite. The user is read before anyone has decided whether the token may see it: the
// caller must authorize the token for the tenant before it uses the UserRead.
func (s *Service) AuthenticateWithUser(ctx context.Context, secret, tenant, id string) (scimtrail.Token, *UserRead, error) {
	if secret == "" || len(secret) > maxSecretLen {
		return scimtrail.Token{}, nil, denied()
	}
	h := hashSecret(secret)
	var tok scimtrail.Token
	var read UserRead
	err := s.store.Peek(ctx, func(tx scimtrail.ReadTx) error {
		var user scimtrail.Resource
		var groups []scimtrail.MemberRef
		var found bool
		var err error
		tok, user, groups, found, err = tx.TokenAndUser(ctx, h, tenant, id)
		if found {
			read.View = View{Resource: user, Groups: groups}
		} else {
			read.Err = notFound(string(scimtrail.UserResource), id)
		}
		return err
	})
	tok, err = s.checkToken(tok, h, err)
	if err != nil {
		return scimtrail.Token{}, nil, err
	}
	return tok, &read, nil
}

// Bootstrap makes sure the install has an operator token. With preset (from
// SCIMTRAIL_BOOTSTRAP_TOKEN), that value is made an operator token unless it already is one.
// Without it, a new operator token is created only when no usable one exists. It returns the
// secret and true when it created a token.
func (s *Service) Bootstrap(ctx context.Context, preset string) (string, bool, error) {
	if preset != "" && (len(preset) < minPresetLen || len(preset) > maxSecretLen) {
		return "", false, scimtrail.Errorf(scimtrail.EINVALID,
			"SCIMTRAIL_BOOTSTRAP_TOKEN must be %d to %d characters long", minPresetLen, maxSecretLen)
	}
	o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "bootstrap"}, Channel: scimtrail.ChannelSystem}
	var secret string
	err := s.store.Update(ctx, scimtrail.SystemLog, func(tx scimtrail.Tx) error {
		now := s.stamp()
		if preset != "" {
			if _, err := tx.TokenByHash(ctx, hashSecret(preset)); err == nil {
				return nil
			} else if !isNotFound(err) {
				return err
			}
		} else {
			toks, err := tx.Tokens(ctx, "")
			if err != nil {
				return err
			}
			for _, t := range toks {
				if t.Usable(now) {
					return nil
				}
			}
		}
		secret = preset
		if secret == "" {
			secret = newSecret(scimtrail.TokenOperator)
		}
		tok := scimtrail.Token{ID: newID(), Kind: scimtrail.TokenOperator, Name: "bootstrap operator token", Hash: hashSecret(secret), Created: now}
		if err := tx.InsertToken(ctx, tok); err != nil {
			return err
		}
		_, err := appendEntries(ctx, tx, scimtrail.SystemLog, o, now, tokenEntry("token.issued", tok))
		return err
	})
	if err != nil || secret == "" {
		return "", false, err
	}
	return secret, true, nil
}

func tokenEntry(action string, t scimtrail.Token) scimtrail.Entry {
	e := scimtrail.Entry{Action: action, Target: &scimtrail.Target{Type: "Token", ID: t.ID, Display: t.Name}}
	if action == "token.issued" {
		e.Changes = []scimtrail.Change{{Path: "kind", New: string(t.Kind)}}
		if !t.Expires.IsZero() {
			e.Changes = append(e.Changes, scimtrail.Change{Path: "expires", New: t.Expires.Format(scimtrail.TimeFormat)})
		}
	}
	return e
}

// IssueToken issues a token of kind for tenant ("" and TokenOperator for an operator token).
// ttl 0 means no expiry. Returns EINVALID for a bad kind, name or ttl, ENOTFOUND for a
// missing tenant.
func (s *Service) IssueToken(ctx context.Context, o Origin, tenant string, kind scimtrail.TokenKind, name string, ttl time.Duration) (IssuedToken, scimtrail.Receipt, error) {
	return s.issueToken(ctx, o, tenant, kind, name, ttl, nil)
}

// issueToken is IssueToken; a non-nil scope is stored with the token in the same
// transaction and recorded in its token.issued entry (scopes.go).
func (s *Service) issueToken(ctx context.Context, o Origin, tenant string, kind scimtrail.TokenKind, name string, ttl time.Duration, scope *scimtrail.TokenScope) (IssuedToken, scimtrail.Receipt, error) {
	var it IssuedToken
	switch {
	case !kind.Valid():
		return it, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "token kind %q is invalid: use scim, admin, auditor or app", kind)
	case kind == scimtrail.TokenOperator && tenant != "":
		return it, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "operator tokens belong to the install, not to a tenant")
	case kind != scimtrail.TokenOperator && tenant == "":
		return it, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a %s token needs a tenant", kind)
	case ttl < 0:
		return it, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "token lifetime must not be negative")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = string(kind) + " token"
	}
	if len(name) > maxNameLen {
		return it, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "token name is longer than %d bytes", maxNameLen)
	}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, logOf(tenant), func(tx scimtrail.Tx) error {
		if tenant != "" {
			if _, err := tx.Tenant(ctx, tenant); isNotFound(err) {
				return notFound("tenant", tenant)
			} else if err != nil {
				return err
			}
		}
		now := s.stamp()
		secret := newSecret(kind)
		tok := scimtrail.Token{ID: newID(), Tenant: tenant, Kind: kind, Name: name, Hash: hashSecret(secret), Created: now}
		if ttl > 0 {
			tok.Expires = now.Add(ttl)
		}
		if err := tx.InsertToken(ctx, tok); err != nil {
			return err
		}
		e := tokenEntry("token.issued", tok)
		if scope != nil {
			if err := s.storeScope(ctx, tx, tenant, tok, *scope, &e); err != nil {
				return err
			}
		}
		var err error
		rc, err = appendEntries(ctx, tx, logOf(tenant), o, now, e)
		it = IssuedToken{Token: tok, Secret: secret}
		return err
	})
	if err != nil {
		return IssuedToken{}, scimtrail.Receipt{}, err
	}
	return it, rc, nil
}

// Tokens lists a tenant's tokens ("" for operator tokens), without secrets.
func (s *Service) Tokens(ctx context.Context, tenant string) ([]scimtrail.Token, error) {
	var toks []scimtrail.Token
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if tenant != "" {
			if _, err := tx.Tenant(ctx, tenant); isNotFound(err) {
				return notFound("tenant", tenant)
			} else if err != nil {
				return err
			}
		}
		var err error
		toks, err = tx.Tokens(ctx, tenant)
		return err
	})
	return toks, err
}

// tokenOf loads token id and checks it belongs to tenant; a token of another tenant is
// reported exactly like a missing one.
func tokenOf(ctx context.Context, tx scimtrail.ReadTx, tenant, id string) (scimtrail.Token, error) {
	tok, err := tx.Token(ctx, id)
	if isNotFound(err) || (err == nil && tok.Tenant != tenant) {
		return scimtrail.Token{}, notFound("token", id)
	}
	return tok, err
}

// RevokeToken revokes a token; the very next request with it fails. Revoking a revoked
// token changes nothing and succeeds. Returns ENOTFOUND for a token not of this tenant.
func (s *Service) RevokeToken(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, logOf(tenant), func(tx scimtrail.Tx) error {
		tok, err := tokenOf(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		now := s.stamp()
		if !tok.Revoked.IsZero() {
			rc, err = appendEntries(ctx, tx, logOf(tenant), o, now)
			return err
		}
		tok.Revoked = now
		if err := tx.UpdateToken(ctx, tok); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, logOf(tenant), o, now, tokenEntry("token.revoked", tok))
		return err
	})
	return rc, err
}

// RotateToken replaces a token's secret, keeping its id, kind and expiry; the old secret
// stops working at once. Returns ENOTFOUND for a token not of this tenant and ECONFLICT for
// a revoked or expired token.
func (s *Service) RotateToken(ctx context.Context, o Origin, tenant, id string) (IssuedToken, scimtrail.Receipt, error) {
	var it IssuedToken
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, logOf(tenant), func(tx scimtrail.Tx) error {
		tok, err := tokenOf(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		now := s.stamp()
		if !tok.Usable(now) {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "token %q is revoked or expired; issue a new one instead", id)
		}
		secret := newSecret(tok.Kind)
		tok.Hash = hashSecret(secret)
		tok.Rotated = now
		if err := tx.UpdateToken(ctx, tok); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, logOf(tenant), o, now, tokenEntry("token.rotated", tok))
		it = IssuedToken{Token: tok, Secret: secret}
		return err
	})
	if err != nil {
		return IssuedToken{}, scimtrail.Receipt{}, err
	}
	return it, rc, nil
}
