// Package scimtrail holds the domain types and the storage contract of scimtrail: a SCIM 2.0
// service provider whose every change lands, in the same transaction, in a per-tenant
// tamper-evident audit ledger.
//
// The root package has no dependencies beyond the standard library and the pure scim/filter
// package; backends (sqlite, postgres) implement Store, and the service package implements
// the one write path over it.
package scimtrail

import (
	"encoding/json"
	"time"
)

// SystemLog is the ledger that records install-wide actions not tied to one tenant, such as
// issuing operator tokens. Tenant ids cannot start with an underscore, so it never collides.
const SystemLog = "_system"

// Tenant is one customer organisation. Its id appears in URLs and never changes.
type Tenant struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// TokenKind says what a bearer token may do.
type TokenKind string

// Token kinds (DESIGN.md §5 "Tokens").
const (
	TokenOperator TokenKind = "operator" // every tenant, install administration
	TokenAdmin    TokenKind = "admin"    // one tenant, delegated administration
	TokenSCIM     TokenKind = "scim"     // one tenant, SCIM endpoints only
	TokenAuditor  TokenKind = "auditor"  // one tenant, read-only: log, proofs, reports
	TokenApp      TokenKind = "app"      // the vendor's app for one tenant
)

// Valid reports whether k is a known kind.
func (k TokenKind) Valid() bool {
	switch k {
	case TokenOperator, TokenAdmin, TokenSCIM, TokenAuditor, TokenApp:
		return true
	}
	return false
}

// Token is a stored bearer credential. Only the SHA-256 of the secret is ever stored.
type Token struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant,omitempty"` // "" for operator tokens
	Kind    TokenKind `json:"kind"`
	Name    string    `json:"name"`
	Hash    []byte    `json:"-"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
	Revoked time.Time `json:"revoked,omitzero"` // zero: not revoked
	Rotated time.Time `json:"rotated,omitzero"` // last time the secret was replaced
}

// Usable reports whether the token may authenticate a request at now.
func (t Token) Usable(now time.Time) bool {
	if !t.Revoked.IsZero() {
		return false
	}
	return t.Expires.IsZero() || now.Before(t.Expires)
}

// ResourceType names a SCIM resource type.
type ResourceType string

// The SCIM resource types served.
const (
	UserResource  ResourceType = "User"
	GroupResource ResourceType = "Group"
)

// Resource is a SCIM resource as stored. Attributes holds the resource's own attributes as a
// JSON object, exactly as GET renders them before projection, except "id", "meta", "schemas"
// (computed), a User's "groups" (derived from memberships) and a Group's "members" (stored as
// membership rows so that adding one member never rewrites the others). The remaining fields
// are the columns that filters and uniqueness need.
type Resource struct {
	Tenant       string
	Type         ResourceType
	ID           string
	ExternalID   string
	UserName     string // Users: as sent
	UserNameKey  string // Users: NFC + case fold of UserName; unique per tenant
	DisplayName  string
	Active       bool     // Users: the "active" attribute (default true); Groups: true
	Emails       []string // Users: emails[].value, folded, for the indexed lookup
	Schemas      []string
	Attributes   json.RawMessage
	Created      time.Time
	LastModified time.Time
	Version      int64 // increases by one on every change; the weak ETag is W/"<version>"
}

// Member is one membership row: the member (a User or a Group) of a group.
type Member struct {
	Value string       // the member's id
	Type  ResourceType // UserResource or GroupResource
}

// MemberRef is a membership as rendered, with the display name of the other side.
type MemberRef struct {
	Value   string       `json:"value"`
	Type    ResourceType `json:"type"`
	Display string       `json:"display,omitempty"`
}

// Actor is who made a change, as recorded in the ledger.
type Actor struct {
	Type       string `json:"type"` // ActorIdPSync, ActorAdmin, …
	ID         string `json:"id,omitempty"`
	TokenID    string `json:"token_id,omitempty"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	IP         string `json:"ip,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
}

// Actor types (DESIGN.md §5 ledger entry).
const (
	ActorIdPSync        = "idp_sync"        // a SCIM token: routine sync from the customer's IdP
	ActorAdmin          = "admin"           // an operator token
	ActorDelegatedAdmin = "delegated_admin" // a tenant admin token
	ActorApp            = "app"             // the vendor's app
	ActorSystem         = "system"          // scimtrail itself (bootstrap, expiry)
	ActorBreakGlass     = "break_glass"
)

// Channels through which a change arrived.
const (
	ChannelSCIM     = "scim"
	ChannelAdminAPI = "admin_api"
	ChannelAppAPI   = "app_api"
	ChannelConsole  = "console"
	ChannelSystem   = "system"
)

// Target is the thing an entry is about.
type Target struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Display string `json:"display,omitempty"`
}

// Change is one attribute change. Old is omitted when the attribute was absent, New when it
// was removed.
type Change struct {
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

// Entry is one audit ledger entry (DESIGN.md §5). Tenant, Seq and Time are assigned by the
// write path when the entry is appended.
type Entry struct {
	V       int       `json:"v"`
	Tenant  string    `json:"tenant"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Action  string    `json:"action"`
	Actor   Actor     `json:"actor"`
	Channel string    `json:"channel"`
	Target  *Target   `json:"target,omitempty"`
	Changes []Change  `json:"changes,omitempty"`
	Cause   int64     `json:"cause,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// Opens, on an access.granted entry about to be appended, is the access interval it
	// opens: the write path stores it once the entry has its seq, so the interval can cite
	// its entry. Never part of the entry's body.
	Opens *AccessInterval `json:"-"`
	// Refuses, on an access.refused entry about to be appended, is the refusal it records,
	// stored the same way.
	Refuses *AccessRefusal `json:"-"`
}

// TimeFormat is how times are written in ledger entries: UTC with exactly six fractional
// digits, so that the canonical bytes of an entry do not depend on trailing zeros.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// MarshalJSON writes the entry with its time in TimeFormat.
func (e Entry) MarshalJSON() ([]byte, error) {
	type plain Entry
	return json.Marshal(struct {
		plain
		Time string `json:"time"`
	}{plain(e), e.Time.UTC().Format(TimeFormat)})
}

// StoredEntry is an entry as kept in the ledger: Body is the canonical (RFC 8785) JSON that
// was hashed, kept byte for byte, and LeafHash its RFC 6962 leaf hash.
type StoredEntry struct {
	Tenant   string
	Seq      int64
	Time     time.Time
	Action   string
	ActorID  string // Actor.ID, indexed for audit queries
	TargetID string // Target.ID, indexed for audit queries
	Body     []byte
	LeafHash []byte
}

// LedgerHead is the state of a tenant's ledger: its size (the last seq) and the compact range
// of its Merkle tree, so the next append needs no other reads.
type LedgerHead struct {
	Tenant string
	Size   int64
	Range  []byte // concatenated 32-byte hashes of the compact range [0, Size)
}

// Receipt acknowledges a committed change: the seq of the last ledger entry it appended.
type Receipt struct {
	Seq int64
	Log string // the tenant (or SystemLog) whose log holds the entry
}
