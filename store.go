package scimtrail

import (
	"context"
	"time"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// Store is a database backend. Both sqlite and postgres implement it and must pass the
// storetest suite; all domain logic lives above it in the service package, so the two
// behave identically.
type Store interface {
	// Update runs fn in a write transaction and commits it. Writes to one tenant's log are
	// serialised: no other Update for the same tenant interleaves with fn. If fn returns an
	// error, none of its writes are kept and Update returns that error unchanged; other
	// commands that share the transaction (group commit) are not affected. Update returns
	// only after the commit is durable. fn may be called at most once.
	Update(ctx context.Context, tenant string, fn func(Tx) error) error

	// View runs fn in a read-only transaction that sees one consistent snapshot.
	View(ctx context.Context, fn func(ReadTx) error) error

	// Peek runs fn outside any transaction: each statement fn runs sees the latest
	// committed state on its own, and two statements may see different states. It is for
	// lookups by key that run one statement (a token by hash, a user with its groups),
	// where a transaction's BEGIN and ROLLBACK cost more than the read itself. fn may use
	// read methods only.
	Peek(ctx context.Context, fn func(ReadTx) error) error

	// Ping reports whether the database answers and its migrations are applied.
	Ping(ctx context.Context) error

	// Close waits for queued writes and closes the database.
	Close() error
}

// ReadTx reads state. Methods that look one thing up return an *Error with code ENOTFOUND
// when it does not exist; resources and members are always scoped to the tenant passed.
type ReadTx interface {
	ExportReadTx
	EventReadTx // store_events.go
	LedgerReadTx
	AccessReadTx
	BatchReadTx // store_perf.go
	SettingsReadTx
	Access2ReadTx    // store_access2.go
	DriftReadTx      // store_drift.go
	ReviewReadTx     // store_review.go
	ExternalReadTx   // store_external.go
	BreakGlassReadTx // store_breakglass.go
	Tenant(ctx context.Context, id string) (Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error)

	// TokenByHash finds a token by the SHA-256 of its secret, in any tenant.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Token finds a token by id, in any tenant.
	Token(ctx context.Context, id string) (Token, error)
	// Tokens lists a tenant's tokens ("" lists operator tokens), oldest first.
	Tokens(ctx context.Context, tenant string) ([]Token, error)

	// Resource finds one resource of the type in the tenant.
	Resource(ctx context.Context, tenant string, typ ResourceType, id string) (Resource, error)
	// UserIDByNameKey returns the id of the tenant's user whose UserNameKey is key.
	UserIDByNameKey(ctx context.Context, tenant, key string) (string, error)
	// LookupResources returns, for those of ids that exist in the tenant, their type and
	// display (userName for users, displayName for groups). Missing ids are left out.
	LookupResources(ctx context.Context, tenant string, ids []string) ([]MemberRef, error)
	// QueryResources returns one page of the tenant's resources of q.Type matching q.
	QueryResources(ctx context.Context, tenant string, q Query) (Page, error)

	// Members lists a group's direct members with their display, ordered by value.
	Members(ctx context.Context, tenant, groupID string) ([]MemberRef, error)
	// MemberOf lists the groups that directly contain memberID, with their displayName as
	// Display and Type GroupResource, ordered by value.
	MemberOf(ctx context.Context, tenant, memberID string) ([]MemberRef, error)
	// UserWithGroups finds the tenant's user id together with its groups as MemberOf lists
	// them, in one statement, so that the two agree even under Peek.
	UserWithGroups(ctx context.Context, tenant, id string) (Resource, []MemberRef, error)
	// UserWithGroupsByName is UserWithGroups for the user whose UserNameKey is key.
	UserWithGroupsByName(ctx context.Context, tenant, key string) (Resource, []MemberRef, error)
	// TokenAndUser is TokenByHash and UserWithGroups(tenant, id) in one call, which a
	// backend may answer with one statement (GET /Users/{id} is the commonest request, and
	// on SQLite a statement costs more than the lookups in it). It returns ENOTFOUND when
	// no token has the hash; userFound is false when there is no such user.
	TokenAndUser(ctx context.Context, hash []byte, tenant, id string) (tok Token, user Resource, groups []MemberRef, userFound bool, err error)

	// LedgerHead returns the tenant's ledger head; a tenant with no entries has Size 0.
	LedgerHead(ctx context.Context, tenant string) (LedgerHead, error)
	// Entries returns up to limit entries of the tenant with seq > after matching f, in seq order.
	Entries(ctx context.Context, tenant string, after int64, limit int, f EntryFilter) ([]StoredEntry, error)
}

// Tx reads and writes state inside a write transaction. Insert methods return ECONFLICT when
// a unique key is already taken; Update/Delete methods return ENOTFOUND when the row is gone.
type Tx interface {
	ReadTx
	ExportTx
	EventTx // store_events.go
	LedgerTx
	AccessTx
	SettingsTx
	Access2Tx    // store_access2.go
	DriftTx      // store_drift.go
	ReviewTx     // store_review.go
	ExternalTx   // store_external.go
	BreakGlassTx // store_breakglass.go

	InsertTenant(ctx context.Context, t Tenant) error

	InsertToken(ctx context.Context, t Token) error
	// UpdateToken stores t's Hash, Name, Expires, Revoked and Rotated.
	UpdateToken(ctx context.Context, t Token) error

	InsertResource(ctx context.Context, r Resource) error
	// UpdateResource replaces every column of the stored resource (tenant, type, id) with r's.
	UpdateResource(ctx context.Context, r Resource) error
	// DeleteResource deletes the resource and every membership row it is part of, on
	// either side.
	DeleteResource(ctx context.Context, tenant string, typ ResourceType, id string) error

	// AddMembers adds membership rows with set semantics and returns those that were not
	// already there.
	AddMembers(ctx context.Context, tenant, groupID string, members []Member) ([]Member, error)
	// RemoveMembers removes membership rows and returns the ids that were there.
	RemoveMembers(ctx context.Context, tenant, groupID string, ids []string) ([]string, error)

	// AppendEntries stores entries (already numbered, encoded and hashed, contiguous after
	// the current head) and sets the tenant's head to head, in the same transaction.
	AppendEntries(ctx context.Context, entries []StoredEntry, head LedgerHead) error
}

// Query selects resources of one type.
type Query struct {
	Type ResourceType
	// Filter narrows the result; nil selects all. Backends translate the attributes they
	// index (id, externalId, userName, displayName, emails.value, active,
	// meta.lastModified, meta.created) to SQL. When any part of Filter is beyond that, they
	// narrow by what they can and keep only the rows Match accepts, so the result is exact.
	Filter filter.Expr
	// Match is the exact in-memory predicate for Filter; set whenever Filter is.
	Match func(Resource) bool
	// SortBy is "" (creation order), or one of the indexed attribute names above.
	SortBy     string
	Descending bool
	StartIndex int // 1-based
	Count      int // at most this many; 0 returns only Total
	// After, when set, makes this a keyset (cursor) page: only resources strictly after
	// After in the query's order (descending when Descending) are returned, the database
	// seeks to it through an index instead of counting past an OFFSET, and StartIndex is
	// ignored. Total still counts every match. Only creation order (SortBy "" or
	// "meta.created") and SortBy "id" have a keyset; any other SortBy with After is EINVALID.
	After *Position
	// KeysOnly asks for the page's resources with only Tenant, Type, ID, Version and
	// Created read, for a caller that already holds most of their documents (a list page
	// whose rendered documents are cached) and reads the rest with ResourcesByID. A backend
	// may ignore it, and does for a filter it cannot answer in SQL alone; Page.KeysOnly
	// says whether the resources are keys only.
	KeysOnly bool
}

// Position is a place in creation order, (created, id), for keyset pagination. With
// SortBy "id" only ID counts.
type Position struct {
	Created time.Time
	ID      string
}

// Page is one page of a query: the total number of matches and the page's resources.
type Page struct {
	Total     int
	Resources []Resource
	KeysOnly  bool // the resources carry only what Query.KeysOnly names
}

// EntryFilter narrows Entries; zero values match everything.
type EntryFilter struct {
	Action   string // exact, or a prefix ending in "." ("user.")
	ActorID  string
	TargetID string
	Since    time.Time // time >= Since
	Until    time.Time // time < Until
}
