package service

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Non-human identities: service accounts with an accountable human owner, and their API
// keys (issue, rotation with an overlap window, revocation, expiry, a maximum age, last
// use). Every lifecycle step is a ledger entry in the tenant's log, in the same transaction
// as the change.

// NHIKeyKind is the secret prefix of service-account API keys: stk_nhi_…
const NHIKeyKind scimtrail.TokenKind = "nhi"

// MaxKeyOverlap bounds a rotation's overlap window: the old key must stop working soon.
const MaxKeyOverlap = 30 * 24 * time.Hour

// KeyUseGranularity is how often a key's last-used time is recorded: at most once per key
// per this period, each time as an nhi.key_used entry, so a busy app checking a key on
// every request does not flood the log. Last-used is therefore exact to within this period.
const KeyUseGranularity = time.Hour

// FlagOwnerDeprovisioned is the flag set on a service account whose owner was deactivated
// or deleted.
const FlagOwnerDeprovisioned = "owner_deprovisioned"

// ServiceAccountInput is a service account as a client creates it.
type ServiceAccountInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	OwnerID     string `json:"owner_id"`
}

// IssuedKey is a new API key with its secret, shown once.
type IssuedKey struct {
	scimtrail.NHIKey
	Secret string `json:"key"`
}

// ServiceAccountView is an account with its keys (never their secrets).
type ServiceAccountView struct {
	scimtrail.ServiceAccount
	Keys []scimtrail.NHIKey `json:"keys"`
}

func accountTarget(a scimtrail.ServiceAccount) *scimtrail.Target {
	return &scimtrail.Target{Type: "ServiceAccount", ID: a.ID, Display: a.Name}
}

func keyTarget(k scimtrail.NHIKey) *scimtrail.Target {
	return &scimtrail.Target{Type: "NHIKey", ID: k.ID}
}

// CreateServiceAccount creates a service account owned by a user of the tenant. Returns
// EINVALID naming the field (no name, no such owner, a deactivated owner).
func (s *Service) CreateServiceAccount(ctx context.Context, o Origin, tenant string, in ServiceAccountInput) (scimtrail.ServiceAccount, scimtrail.Receipt, error) {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		return scimtrail.ServiceAccount{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a service account needs a \"name\"")
	case len(in.Name) > maxNameLen || len(in.Description) > 4*maxNameLen:
		return scimtrail.ServiceAccount{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"name\" or \"description\" is too long")
	case in.OwnerID == "":
		return scimtrail.ServiceAccount{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a service account needs an accountable human \"owner_id\" (a User id)")
	}
	a := scimtrail.ServiceAccount{Tenant: tenant, ID: newID(), Name: in.Name, Description: in.Description, OwnerID: in.OwnerID, State: scimtrail.AccountActive}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		if _, err := accountableOwner(ctx, tx, tenant, in.OwnerID, `"owner_id"`); err != nil {
			return err
		}
		at := s.stamp()
		a.Created, a.Updated = at, at
		if err := tx.InsertServiceAccount(ctx, a); err != nil {
			return err
		}
		var err error
		rc, err = appendEntries(ctx, tx, tenant, o, at, accountCreatedEntry(a))
		return err
	})
	return a, rc, err
}

func accountCreatedEntry(a scimtrail.ServiceAccount) scimtrail.Entry {
	return scimtrail.Entry{Action: "service_account.created", Target: accountTarget(a),
		Changes: []scimtrail.Change{{Path: "name", New: a.Name}, {Path: "description", New: a.Description}, {Path: "owner_id", New: a.OwnerID}}}
}

// ServiceAccounts lists the tenant's service accounts that are not deleted.
func (s *Service) ServiceAccounts(ctx context.Context, tenant string) ([]scimtrail.ServiceAccount, error) {
	out := []scimtrail.ServiceAccount{}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		all, err := tx.ServiceAccounts(ctx, tenant, "")
		for _, a := range all {
			if a.State != scimtrail.AccountDeleted {
				out = append(out, a)
			}
		}
		return err
	})
	return out, err
}

// liveAccount loads an account that is not deleted; a deleted one reads as missing.
func liveAccount(ctx context.Context, tx scimtrail.ReadTx, tenant, id string) (scimtrail.ServiceAccount, error) {
	a, err := tx.ServiceAccount(ctx, tenant, id)
	if err == nil && a.State == scimtrail.AccountDeleted {
		return a, notFound("service account", id)
	}
	return a, err
}

// ServiceAccount returns one account with its keys. Returns ENOTFOUND.
func (s *Service) ServiceAccount(ctx context.Context, tenant, id string) (ServiceAccountView, error) {
	var v ServiceAccountView
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		a, err := liveAccount(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		keys, err := tx.NHIKeys(ctx, tenant, id)
		if keys == nil {
			keys = []scimtrail.NHIKey{}
		}
		v = ServiceAccountView{ServiceAccount: a, Keys: keys}
		return err
	})
	return v, err
}

// revokeKeys revokes every usable key of the account at at and returns an entry each.
func revokeKeys(ctx context.Context, tx scimtrail.Tx, a scimtrail.ServiceAccount, at time.Time, reason string, cause int64) ([]scimtrail.Entry, error) {
	keys, err := tx.NHIKeys(ctx, a.Tenant, a.ID)
	if err != nil {
		return nil, err
	}
	var out []scimtrail.Entry
	for _, k := range keys {
		if !k.Usable(at) {
			continue
		}
		k.Revoked = at
		if err := tx.UpdateNHIKey(ctx, k); err != nil {
			return nil, err
		}
		out = append(out, scimtrail.Entry{Action: "nhi.key_revoked", Target: keyTarget(k), Reason: reason, Cause: cause,
			Changes: []scimtrail.Change{{Path: "service_account_id", Old: a.ID}}})
	}
	return out, nil
}

// DisableServiceAccount disables an account: its keys stop working at once (they are kept,
// so re-enabling is not possible and a new account is the way back). Disabling a disabled
// account changes nothing. Returns ENOTFOUND.
func (s *Service) DisableServiceAccount(ctx context.Context, o Origin, tenant, id, reason string) (scimtrail.ServiceAccount, scimtrail.Receipt, error) {
	var a scimtrail.ServiceAccount
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		var err error
		if a, err = liveAccount(ctx, tx, tenant, id); err != nil {
			return err
		}
		at := s.stamp()
		if a.State == scimtrail.AccountDisabled {
			rc, err = appendEntries(ctx, tx, tenant, o, at)
			return err
		}
		a.State, a.Updated = scimtrail.AccountDisabled, at
		if err := tx.UpdateServiceAccount(ctx, a); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, scimtrail.Entry{Action: "service_account.disabled", Target: accountTarget(a), Reason: reason,
			Changes: []scimtrail.Change{{Path: "state", Old: scimtrail.AccountActive, New: scimtrail.AccountDisabled}}})
		return err
	})
	return a, rc, err
}

// DeleteServiceAccount deletes an account and revokes its usable keys, with an entry each.
// Its id is never reused. Returns ENOTFOUND.
func (s *Service) DeleteServiceAccount(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error) {
	return s.deleteServiceAccount(ctx, o, tenant, id, nil)
}

// deleteServiceAccount is DeleteServiceAccount with a precondition on the current account.
func (s *Service) deleteServiceAccount(ctx context.Context, o Origin, tenant, id string, check func(scimtrail.ServiceAccount) error) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		a, err := liveAccount(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(a); err != nil {
				return err
			}
		}
		at := s.stamp()
		old := a.State
		a.State, a.Updated = scimtrail.AccountDeleted, at
		if err := tx.UpdateServiceAccount(ctx, a); err != nil {
			return err
		}
		revoked, err := revokeKeys(ctx, tx, a, at, "the service account was deleted", causeFirst)
		if err != nil {
			return err
		}
		e := scimtrail.Entry{Action: "service_account.deleted", Target: accountTarget(a),
			Changes: []scimtrail.Change{{Path: "state", Old: old, New: scimtrail.AccountDeleted}}}
		rc, err = appendEntries(ctx, tx, tenant, o, at, append([]scimtrail.Entry{e}, revoked...)...)
		return err
	})
	return rc, err
}

// keyExpiry is when a key issued at at with the requested lifetime (0: none asked) expires
// under the policy's maximum age.
func keyExpiry(p scimtrail.NHIPolicy, at time.Time, ttl time.Duration) (time.Time, error) {
	if ttl < 0 {
		return time.Time{}, scimtrail.Errorf(scimtrail.EINVALID, "\"expires_in\" must not be negative")
	}
	if p.MaxKeyAge > 0 {
		if ttl > p.MaxKeyAge {
			return time.Time{}, scimtrail.Errorf(scimtrail.EINVALID, "\"expires_in\" %s is longer than tenant %s's maximum key age %s", ttl, p.Tenant, p.MaxKeyAge)
		}
		if ttl == 0 {
			ttl = p.MaxKeyAge
		}
	}
	if ttl == 0 {
		return time.Time{}, nil
	}
	return at.Add(ttl), nil
}

func newKey(a scimtrail.ServiceAccount, at, expires time.Time) (IssuedKey, error) {
	secret := newSecret(NHIKeyKind)
	k := scimtrail.NHIKey{Tenant: a.Tenant, ID: newID(), AccountID: a.ID, Hash: hashSecret(secret), Created: at, Expires: expires}
	return IssuedKey{NHIKey: k, Secret: secret}, nil
}

func keyIssuedEntry(k scimtrail.NHIKey) scimtrail.Entry {
	c := []scimtrail.Change{{Path: "service_account_id", New: k.AccountID}}
	if !k.Expires.IsZero() {
		c = append(c, scimtrail.Change{Path: "expires", New: k.Expires.Format(scimtrail.TimeFormat)})
	}
	return scimtrail.Entry{Action: "nhi.key_issued", Target: keyTarget(k), Changes: c}
}

// IssueKey issues an API key for an active account; the secret is returned once and only
// its SHA-256 is stored. ttl 0 asks for no expiry, which the tenant's maximum key age may
// replace. Returns ENOTFOUND, ECONFLICT for a disabled account, EINVALID for a lifetime over
// the maximum.
func (s *Service) IssueKey(ctx context.Context, o Origin, tenant, accountID string, ttl time.Duration) (IssuedKey, scimtrail.Receipt, error) {
	var ik IssuedKey
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		a, err := liveAccount(ctx, tx, tenant, accountID)
		if err != nil {
			return err
		}
		if a.State != scimtrail.AccountActive {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "service account %q is %s and can get no keys", accountID, a.State)
		}
		p, err := tx.NHIPolicy(ctx, tenant)
		if err != nil {
			return err
		}
		at := s.stamp()
		exp, err := keyExpiry(p, at, ttl)
		if err != nil {
			return err
		}
		if ik, err = newKey(a, at, exp); err != nil {
			return err
		}
		if err := tx.InsertNHIKey(ctx, ik.NHIKey); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, keyIssuedEntry(ik.NHIKey))
		return err
	})
	if err != nil {
		return IssuedKey{}, scimtrail.Receipt{}, err
	}
	return ik, rc, nil
}

// accountKey loads a key of a live account.
func accountKey(ctx context.Context, tx scimtrail.ReadTx, tenant, accountID, keyID string) (scimtrail.ServiceAccount, scimtrail.NHIKey, error) {
	a, err := liveAccount(ctx, tx, tenant, accountID)
	if err != nil {
		return a, scimtrail.NHIKey{}, err
	}
	k, err := tx.NHIKey(ctx, tenant, keyID)
	if err == nil && k.AccountID != accountID {
		return a, k, notFound("key", keyID)
	}
	return a, k, err
}

// RotateKey issues a replacement for a usable key. The old key keeps working until the
// overlap window ends (0: it stops at once), never later than it would have anyway. Returns
// ENOTFOUND, ECONFLICT for a key that is not usable or an account not active, EINVALID for a
// bad overlap or lifetime.
func (s *Service) RotateKey(ctx context.Context, o Origin, tenant, accountID, keyID string, overlap, ttl time.Duration) (IssuedKey, scimtrail.Receipt, error) {
	if overlap < 0 || overlap > MaxKeyOverlap {
		return IssuedKey{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"overlap\" must be between 0 and %s", MaxKeyOverlap)
	}
	var ik IssuedKey
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		a, old, err := accountKey(ctx, tx, tenant, accountID, keyID)
		if err != nil {
			return err
		}
		at := s.stamp()
		if a.State != scimtrail.AccountActive {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "service account %q is %s; its keys cannot be rotated", accountID, a.State)
		}
		if !old.Usable(at) || old.ReplacedBy != "" {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "key %q is revoked, expired or already rotated; issue a new one instead", keyID)
		}
		p, err := tx.NHIPolicy(ctx, tenant)
		if err != nil {
			return err
		}
		exp, err := keyExpiry(p, at, ttl)
		if err != nil {
			return err
		}
		if ik, err = newKey(a, at, exp); err != nil {
			return err
		}
		if err := tx.InsertNHIKey(ctx, ik.NHIKey); err != nil {
			return err
		}
		oldExpires := old.Expires
		if end := at.Add(overlap); old.Expires.IsZero() || end.Before(old.Expires) {
			old.Expires = end
		}
		old.Rotated, old.ReplacedBy = at, ik.ID
		if err := tx.UpdateNHIKey(ctx, old); err != nil {
			return err
		}
		rotated := scimtrail.Entry{Action: "nhi.key_rotated", Target: keyTarget(old), Changes: []scimtrail.Change{
			{Path: "replaced_by", New: ik.ID}, {Path: "expires", New: old.Expires.Format(scimtrail.TimeFormat)}}}
		if !oldExpires.IsZero() {
			rotated.Changes[1].Old = oldExpires.Format(scimtrail.TimeFormat)
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, keyIssuedEntry(ik.NHIKey), rotated)
		return err
	})
	if err != nil {
		return IssuedKey{}, scimtrail.Receipt{}, err
	}
	return ik, rc, nil
}

// RevokeKey revokes a key; it stops working at once. Revoking a revoked key changes
// nothing. Returns ENOTFOUND.
func (s *Service) RevokeKey(ctx context.Context, o Origin, tenant, accountID, keyID string) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		_, k, err := accountKey(ctx, tx, tenant, accountID, keyID)
		if err != nil {
			return err
		}
		at := s.stamp()
		if !k.Revoked.IsZero() {
			rc, err = appendEntries(ctx, tx, tenant, o, at)
			return err
		}
		k.Revoked = at
		if err := tx.UpdateNHIKey(ctx, k); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, scimtrail.Entry{Action: "nhi.key_revoked", Target: keyTarget(k),
			Changes: []scimtrail.Change{{Path: "service_account_id", Old: k.AccountID}}})
		return err
	})
	return rc, err
}

// KeyCheck is the answer to a presented key: whether it may be used now, and whose it is.
type KeyCheck struct {
	Valid            bool      `json:"valid"`
	ServiceAccountID string    `json:"service_account_id,omitempty"`
	KeyID            string    `json:"key_id,omitempty"`
	Name             string    `json:"name,omitempty"`
	OwnerID          string    `json:"owner_id,omitempty"`
	Flag             string    `json:"flag,omitempty"`
	Expires          time.Time `json:"expires,omitzero"`
}

// VerifyKey checks a key the vendor's app was presented: valid only when the key is
// usable (not revoked, not expired, overlap not over) and its account active. A valid use
// records the key's last-used time, at most once per KeyUseGranularity, as an nhi.key_used
// entry. An invalid key answers Valid false and says nothing more.
func (s *Service) VerifyKey(ctx context.Context, o Origin, tenant, secret string) (KeyCheck, scimtrail.Receipt, error) {
	var kc KeyCheck
	var rc scimtrail.Receipt
	if secret == "" || len(secret) > maxSecretLen {
		return kc, rc, nil
	}
	h := hashSecret(secret)
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		k, err := tx.NHIKeyByHash(ctx, tenant, h)
		if isNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		at := s.stamp()
		if subtle.ConstantTimeCompare(k.Hash, h) != 1 || !k.Usable(at) {
			return nil
		}
		a, err := tx.ServiceAccount(ctx, tenant, k.AccountID)
		if err != nil || a.State != scimtrail.AccountActive {
			return err
		}
		kc = KeyCheck{Valid: true, ServiceAccountID: a.ID, KeyID: k.ID, Name: a.Name, OwnerID: a.OwnerID, Flag: a.Flag, Expires: k.Expires}
		if !k.LastUsed.IsZero() && at.Sub(k.LastUsed) < KeyUseGranularity {
			rc, err = appendEntries(ctx, tx, tenant, o, at)
			return err
		}
		old := k.LastUsed
		k.LastUsed = at
		if err := tx.UpdateNHIKey(ctx, k); err != nil {
			return err
		}
		e := scimtrail.Entry{Action: "nhi.key_used", Target: keyTarget(k), Changes: []scimtrail.Change{{Path: "last_used", New: at.Format(scimtrail.TimeFormat)}}}
		if !old.IsZero() {
			e.Changes[0].Old = old.Format(scimtrail.TimeFormat)
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, e)
		return err
	})
	return kc, rc, err
}

// NHIPolicyInput changes a tenant's NHI policy; nil fields keep their value.
type NHIPolicyInput struct {
	OwnerGone *string        `json:"on_owner_deprovisioned"`
	MaxKeyAge *time.Duration `json:"-"`
}

// NHIPolicy returns the tenant's NHI policy ("flag" when never set).
func (s *Service) NHIPolicy(ctx context.Context, tenant string) (scimtrail.NHIPolicy, error) {
	var p scimtrail.NHIPolicy
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		p, err = tx.NHIPolicy(ctx, tenant)
		return err
	})
	if p.OwnerGone == "" {
		p.OwnerGone = scimtrail.OwnerGoneFlag
	}
	return p, err
}

// SetNHIPolicy changes the tenant's NHI policy with an nhi.policy_updated entry. Returns
// EINVALID naming the field.
func (s *Service) SetNHIPolicy(ctx context.Context, o Origin, tenant string, in NHIPolicyInput) (scimtrail.NHIPolicy, scimtrail.Receipt, error) {
	if in.OwnerGone != nil {
		switch *in.OwnerGone {
		case scimtrail.OwnerGoneFlag, scimtrail.OwnerGoneDisable, scimtrail.OwnerGoneRevoke:
		default:
			return scimtrail.NHIPolicy{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
				"\"on_owner_deprovisioned\" must be \"flag\", \"disable\" or \"revoke\", not %q", *in.OwnerGone)
		}
	}
	if in.MaxKeyAge != nil && *in.MaxKeyAge < 0 {
		return scimtrail.NHIPolicy{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"max_key_age\" must not be negative")
	}
	var p scimtrail.NHIPolicy
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		cur, err := tx.NHIPolicy(ctx, tenant)
		if err != nil {
			return err
		}
		if cur.OwnerGone == "" {
			cur.OwnerGone = scimtrail.OwnerGoneFlag
		}
		p = cur
		var changes []scimtrail.Change
		if in.OwnerGone != nil && *in.OwnerGone != cur.OwnerGone {
			p.OwnerGone = *in.OwnerGone
			changes = append(changes, scimtrail.Change{Path: "on_owner_deprovisioned", Old: cur.OwnerGone, New: p.OwnerGone})
		}
		if in.MaxKeyAge != nil && *in.MaxKeyAge != cur.MaxKeyAge {
			p.MaxKeyAge = *in.MaxKeyAge
			changes = append(changes, scimtrail.Change{Path: "max_key_age", Old: cur.MaxKeyAge.String(), New: p.MaxKeyAge.String()})
		}
		at := s.stamp()
		if len(changes) == 0 {
			rc, err = appendEntries(ctx, tx, tenant, o, at)
			return err
		}
		p.Updated = at
		if err := tx.PutNHIPolicy(ctx, p); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, scimtrail.Entry{Action: "nhi.policy_updated",
			Target: &scimtrail.Target{Type: "Tenant", ID: tenant}, Changes: changes})
		return err
	})
	return p, rc, err
}

// ownerDeprovisioned is the write path's hook when a user is deactivated or deleted (by
// any route): the service accounts the user owns are flagged, disabled, or disabled with
// every usable key revoked, as the tenant's policy says, with an entry each, caused by the
// change's first entry. Tenants without service accounts pay one indexed lookup.
func (s *Service) ownerDeprovisioned(ctx context.Context, tx scimtrail.Tx, tenant, userID string, at time.Time) ([]scimtrail.Entry, error) {
	accounts, err := tx.ServiceAccounts(ctx, tenant, userID)
	if err != nil || len(accounts) == 0 {
		return nil, err
	}
	p, err := tx.NHIPolicy(ctx, tenant)
	if err != nil {
		return nil, err
	}
	const reason = "the owner was deprovisioned"
	var out []scimtrail.Entry
	for _, a := range accounts {
		if a.State == scimtrail.AccountDeleted {
			continue
		}
		changes := []scimtrail.Change{}
		if a.Flag != FlagOwnerDeprovisioned {
			changes = append(changes, scimtrail.Change{Path: "flag", Old: a.Flag, New: FlagOwnerDeprovisioned})
			a.Flag = FlagOwnerDeprovisioned
		}
		action := "service_account.flagged"
		if p.OwnerGone == scimtrail.OwnerGoneDisable || p.OwnerGone == scimtrail.OwnerGoneRevoke {
			if a.State != scimtrail.AccountDisabled {
				changes = append(changes, scimtrail.Change{Path: "state", Old: a.State, New: scimtrail.AccountDisabled})
				a.State = scimtrail.AccountDisabled
			}
			action = "service_account.disabled"
		}
		if len(changes) > 0 {
			a.Updated = at
			if err := tx.UpdateServiceAccount(ctx, a); err != nil {
				return nil, err
			}
			out = append(out, scimtrail.Entry{Action: action, Target: accountTarget(a), Changes: changes, Reason: reason, Cause: causeFirst})
		}
		if p.OwnerGone == scimtrail.OwnerGoneRevoke {
			revoked, err := revokeKeys(ctx, tx, a, at, reason, causeFirst)
			if err != nil {
				return nil, err
			}
			out = append(out, revoked...)
		}
	}
	return out, nil
}

// deprovisioned is the write path's hook after a user changed or was deleted (next nil):
// when the change deprovisions the user, the NHI policy applies to the accounts it owns.
// The change's own entry (user.deactivated or user.deleted) gets the request's arrival as
// requested_at, so that the deprovisioning latency can be read from the log alone.
func (s *Service) deprovisioned(ctx context.Context, tx scimtrail.Tx, o Origin, cur scimtrail.Resource, next *scimtrail.Resource, at time.Time, e *scimtrail.Entry) ([]scimtrail.Entry, error) {
	if cur.Type != scimtrail.UserResource || (next != nil && (!cur.Active || next.Active)) {
		return nil, nil
	}
	if !o.Received.IsZero() {
		e.Changes = append(e.Changes, scimtrail.Change{Path: "requested_at", New: o.Received.UTC().Truncate(time.Microsecond).Format(scimtrail.TimeFormat)})
	}
	return s.ownerDeprovisioned(ctx, tx, cur.Tenant, cur.ID, at)
}
