package scimtrail

import (
	"context"
	"time"
)

// This file is the storage contract of non-human identities (service accounts and their
// API keys), the tenant's NHI policy, and delegated-administration scopes of admin tokens.

// Service account states.
const (
	AccountActive   = "active"
	AccountDisabled = "disabled"
	AccountDeleted  = "deleted"
)

// Owner-deprovisioned policies: what happens to a service account when its accountable
// owner is deactivated or deleted.
const (
	OwnerGoneFlag    = "flag"    // the default: the account is flagged for review, keys keep working
	OwnerGoneDisable = "disable" // the account is disabled: its keys stop working at once
	OwnerGoneRevoke  = "revoke"  // disabled, and every usable key is revoked with an entry each
)

// ServiceAccount is a non-human identity of a tenant, with an accountable human owner (a
// User of the tenant). Ids are never reused: deletion keeps the row with State deleted.
type ServiceAccount struct {
	Tenant      string    `json:"tenant"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     string    `json:"owner_id"`
	State       string    `json:"state"`
	Flag        string    `json:"flag,omitempty"` // why the account needs review ("owner_deprovisioned"); "" none
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// NHIKey is an API key of a service account. Only the SHA-256 of the secret is stored.
// A rotated key keeps working until its Expires, which rotation sets to the end of the
// overlap window, and names the key that replaced it.
type NHIKey struct {
	Tenant     string    `json:"tenant"`
	ID         string    `json:"id"`
	AccountID  string    `json:"service_account_id"`
	Hash       []byte    `json:"-"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	Revoked    time.Time `json:"revoked,omitzero"`
	Rotated    time.Time `json:"rotated,omitzero"`
	ReplacedBy string    `json:"replaced_by,omitempty"`
	LastUsed   time.Time `json:"last_used,omitzero"`
}

// Usable reports whether the key may authenticate at now.
func (k NHIKey) Usable(now time.Time) bool {
	return k.Revoked.IsZero() && (k.Expires.IsZero() || now.Before(k.Expires))
}

// NHIPolicy is a tenant's policy for non-human identities. A tenant that never set one has
// the zero value, which behaves as OwnerGone "flag" and no maximum key age.
type NHIPolicy struct {
	Tenant    string        `json:"tenant"`
	OwnerGone string        `json:"on_owner_deprovisioned"`
	MaxKeyAge time.Duration `json:"-"` // 0: none; keys are issued expiring at most this long after
	Updated   time.Time     `json:"updated,omitzero"`
}

// TokenScope narrows what a delegated admin token may do. A token without a stored scope is
// unrestricted within its kind.
type TokenScope struct {
	GrantableRoles []string `json:"grantable_roles"`
	IssueTokens    bool     `json:"issue_tokens"`
}

// Access2ReadTx reads non-human identities, NHI policies and token scopes; ReadTx embeds it.
// Single lookups return ENOTFOUND when the row does not exist.
type Access2ReadTx interface {
	ServiceAccount(ctx context.Context, tenant, id string) (ServiceAccount, error)
	// ServiceAccounts lists the tenant's accounts, deleted ones included, of one owner when
	// ownerID is not "", by id.
	ServiceAccounts(ctx context.Context, tenant, ownerID string) ([]ServiceAccount, error)
	NHIKey(ctx context.Context, tenant, id string) (NHIKey, error)
	// NHIKeyByHash finds a key by the SHA-256 of its secret, in the tenant.
	NHIKeyByHash(ctx context.Context, tenant string, hash []byte) (NHIKey, error)
	// NHIKeys lists the keys of one account ("": every key of the tenant), by id.
	NHIKeys(ctx context.Context, tenant, accountID string) ([]NHIKey, error)
	// NHIPolicy returns the tenant's policy, the zero value (with Tenant set) when none.
	NHIPolicy(ctx context.Context, tenant string) (NHIPolicy, error)
	// TokenScope returns the scope stored for a token; ENOTFOUND when it has none.
	TokenScope(ctx context.Context, tokenID string) (TokenScope, error)
}

// Access2Tx writes non-human identities, NHI policies and token scopes; Tx embeds it.
type Access2Tx interface {
	InsertServiceAccount(ctx context.Context, a ServiceAccount) error
	// UpdateServiceAccount stores a's Name, Description, OwnerID, State, Flag and Updated.
	UpdateServiceAccount(ctx context.Context, a ServiceAccount) error
	// InsertNHIKey returns ECONFLICT when the id or hash is taken.
	InsertNHIKey(ctx context.Context, k NHIKey) error
	// UpdateNHIKey stores k's Expires, Revoked, Rotated, ReplacedBy and LastUsed.
	UpdateNHIKey(ctx context.Context, k NHIKey) error
	PutNHIPolicy(ctx context.Context, p NHIPolicy) error
	InsertTokenScope(ctx context.Context, tenant, tokenID string, s TokenScope) error
}
