package service

// This file lists the Service methods handlers call. Bodies live in the files named after
// each area (tenants.go, tokens.go, resources.go, audit.go).

import (
	"context"
	"time"

	"github.com/scimtrail/scimtrail"
)

// IssuedToken is a newly issued or rotated token with its secret, which is shown once and
// never stored.
type IssuedToken struct {
	scimtrail.Token
	Secret string `json:"token"`
}

// View is a SCIM resource with what rendering needs beyond the stored row: a Group's members
// or a User's groups. Render turns it into the SCIM JSON document.
type View struct {
	Resource scimtrail.Resource
	Members  []scimtrail.MemberRef // Groups
	Groups   []scimtrail.MemberRef // Users: the groups that contain the user directly
	// membersLater marks a written group whose members are read after the commit
	// (withMembers): too many to read inside the write.
	membersLater bool
	// Rendered is the encoded document ListQuery.Rendered had for this view; Resource then
	// holds only its keys.
	Rendered []byte
}

// ETag is the resource's weak entity tag, W/"<version>".
func (v View) ETag() string { return ETag(v.Resource.Version) }

// ListQuery is a SCIM list or search request, parsed from the query string or a
// SearchRequest body.
type ListQuery struct {
	Filter     string // SCIM filter expression; "" for all
	SortBy     string
	SortOrder  string // "ascending" (default) or "descending"
	StartIndex int    // 1-based; values below 1 mean 1
	Count      int    // -1 when not given: the default page size applies
	// Cursor, when not nil, asks for cursor pagination (RFC 9865): "" for the first page,
	// or a nextCursor/previousCursor value of an earlier page of the same query.
	Cursor *string
	// Attributes and ExcludedAttributes are the request's projection (RFC 7644 §3.9), as
	// the handler will apply it. The list only uses them to skip loading what the response
	// will not show: a group list with excludedAttributes=members (what Entra and Okta
	// send) reads no membership at all.
	Attributes, ExcludedAttributes []string
	// Rendered, when set, is the caller's cache of encoded documents: given a view with
	// only the resource's keys (Tenant, Type, ID, Version, Created) and its members or
	// groups, it returns the document if it holds exactly that. The list then reads full
	// rows only for the others, and the views it had documents for carry them in Rendered
	// instead of a complete Resource.
	Rendered func(View) ([]byte, bool)
}

// ListResult is one page of a list. With cursor pagination, StartIndex is 0 and
// NextCursor/PreviousCursor are set when there is a next/previous page.
type ListResult struct {
	Total          int
	StartIndex     int
	Views          []View
	NextCursor     string
	PreviousCursor string
}

// Interface checks that the signatures below stay as handlers expect them.
var _ interface {
	Bootstrap(ctx context.Context, preset string) (secret string, created bool, err error)
	Authenticate(ctx context.Context, secret string) (scimtrail.Token, error)

	CreateTenant(ctx context.Context, o Origin, id, name string) (scimtrail.Tenant, scimtrail.Receipt, error)
	Tenant(ctx context.Context, id string) (scimtrail.Tenant, error)
	Tenants(ctx context.Context) ([]scimtrail.Tenant, error)

	IssueToken(ctx context.Context, o Origin, tenant string, kind scimtrail.TokenKind, name string, ttl time.Duration) (IssuedToken, scimtrail.Receipt, error)
	Tokens(ctx context.Context, tenant string) ([]scimtrail.Token, error)
	RevokeToken(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error)
	RotateToken(ctx context.Context, o Origin, tenant, id string) (IssuedToken, scimtrail.Receipt, error)

	CreateResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, body []byte) (View, scimtrail.Receipt, error)
	Resource(ctx context.Context, tenant string, typ scimtrail.ResourceType, id string) (View, error)
	ReplaceResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, body []byte, ifMatch string) (View, scimtrail.Receipt, error)
	PatchResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, body []byte, ifMatch string) (View, scimtrail.Receipt, error)
	DeleteResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, ifMatch string) (scimtrail.Receipt, error)
	ListResources(ctx context.Context, tenant string, typ scimtrail.ResourceType, q ListQuery) (ListResult, error)

	AuditEntries(ctx context.Context, tenant string, after int64, limit int, f scimtrail.EntryFilter) ([]scimtrail.StoredEntry, error)
	Ready(ctx context.Context) error
} = (*Service)(nil)
