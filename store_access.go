package scimtrail

import (
	"context"
	"time"
)

// Role is an entry of a roles catalogue: the vendor's app declares global roles (Tenant "")
// and a tenant may add its own. Ids never change and are never reused: retiring a role keeps
// its row, so history can still name it.
type Role struct {
	Tenant      string    `json:"tenant,omitempty"` // "" for a global role
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Privileged  bool      `json:"privileged"`
	Permissions []string  `json:"permissions"`
	Created     time.Time `json:"created"`
	Retired     time.Time `json:"retired,omitzero"` // zero: in use
}

// RoleMapping grants a role to every user in a group, directly or through nested groups.
type RoleMapping struct {
	Tenant  string    `json:"-"`
	ID      string    `json:"id"`
	GroupID string    `json:"group_id"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
}

// Grant kinds.
const (
	GrantDirect     = "direct"      // POST /api/v1/tenants/{t}/grants
	GrantBreakGlass = "break_glass" // POST /api/v1/tenants/{t}/break-glass
)

// Grant is a role given to one user without a group: a direct grant or a break-glass grant.
type Grant struct {
	Tenant  string    `json:"-"`
	ID      string    `json:"id"`
	UserID  string    `json:"user_id"`
	Role    string    `json:"role"`
	Kind    string    `json:"kind"`
	Reason  string    `json:"reason"`
	By      string    `json:"by,omitempty"` // the actor id that made it
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"` // zero: never (break-glass grants always expire)
	Revoked time.Time `json:"revoked,omitzero"` // zero: in force
}

// Access path kinds (DESIGN.md §5 "Access").
const (
	PathGroup      = "group"
	PathDirect     = "direct"
	PathSCIM       = "scim"
	PathBreakGlass = "break_glass"
	PathAppGrant   = "app_grant" // the vendor's app granted it itself (app.role_granted)
)

// AccessPath is one way a user holds a role. Via lists the groups a group path passes
// through, the user's own group first and the mapped group last; Grant names the grant of a
// direct or break-glass path.
type AccessPath struct {
	Kind  string   `json:"kind"`
	Via   []string `json:"via"`
	Grant string   `json:"grant,omitempty"`
	// By, on an app_grant path, is who in the app granted the role (the event's actor.id);
	// on a direct path, the administrator who made the grant. It describes the path and is
	// not part of its Key, so paths recorded before it was set keep their identity.
	By string `json:"by,omitempty"`
}

// Key identifies the path among a user's paths to one role.
func (p AccessPath) Key() string {
	k := p.Kind + ":" + p.Grant
	for _, g := range p.Via {
		k += "/" + g
	}
	return k
}

// AccessInterval is one (user, role, path) held from From until To (zero: still held).
// Expires, when set, ends the interval at that instant even before To is written, so reads
// that compare with the clock stop counting it on time.
type AccessInterval struct {
	Tenant  string
	UserID  string
	Role    string
	Path    AccessPath
	From    time.Time
	To      time.Time
	Expires time.Time
	// Seq is the seq of the access.granted entry that opened the interval, kept so a report
	// can cite it after retention pruned the entry's body; 0 for intervals recorded before
	// the store kept it.
	Seq int64
}

// HeldAt reports whether the interval grants access at t.
func (iv AccessInterval) HeldAt(t time.Time) bool {
	return !iv.From.After(t) && (iv.To.IsZero() || iv.To.After(t)) && (iv.Expires.IsZero() || iv.Expires.After(t))
}

// AccessUser is what effective access needs to know of a user.
type AccessUser struct {
	ID         string
	Display    string
	Active     bool
	Attributes []byte   // the stored document, for the roles the IdP sent
	Groups     []string // the groups that contain the user directly
}

// GroupEdge is a group that is a member of another group.
type GroupEdge struct {
	Parent string
	Child  string
}

// AccessReadTx reads roles, mappings, grants and access history. Single lookups return
// ENOTFOUND when the row does not exist.
type AccessReadTx interface {
	// Roles lists the roles of a tenant's own catalogue ("" lists the global roles),
	// retired ones included, by id.
	Roles(ctx context.Context, tenant string) ([]Role, error)
	// Role finds one role of the tenant's own catalogue ("" for global).
	Role(ctx context.Context, tenant, id string) (Role, error)
	// Mappings lists a tenant's group→role mappings by id.
	Mappings(ctx context.Context, tenant string) ([]RoleMapping, error)
	Mapping(ctx context.Context, tenant, id string) (RoleMapping, error)
	// Grants lists the tenant's grants not revoked, of the users named (nil: of every user).
	Grants(ctx context.Context, tenant string, userIDs []string) ([]Grant, error)
	Grant(ctx context.Context, tenant, id string) (Grant, error)
	// GroupEdges lists every membership of a group in a group in the tenant.
	GroupEdges(ctx context.Context, tenant string) ([]GroupEdge, error)
	// UsersInGroups lists, once each and sorted, the users that are direct members of any
	// of the groups.
	UsersInGroups(ctx context.Context, tenant string, groupIDs []string) ([]string, error)
	// AccessUsers returns those of ids that are users of the tenant; missing ids are left out.
	AccessUsers(ctx context.Context, tenant string, ids []string) ([]AccessUser, error)
	// OpenAccess lists the intervals with no To of the users named (nil: every user).
	OpenAccess(ctx context.Context, tenant string, userIDs []string) ([]AccessInterval, error)
	// AccessAt lists the intervals held at t (AccessInterval.HeldAt), narrowed to one user
	// and/or one role when those are not "", ordered by user, role, path.
	AccessAt(ctx context.Context, tenant string, at time.Time, userID, role string) ([]AccessInterval, error)
	// ExpiredAccess lists open intervals whose Expires is at or before now.
	ExpiredAccess(ctx context.Context, tenant string, now time.Time) ([]AccessInterval, error)
}

// AccessTx writes roles, mappings, grants and access intervals. Inserts return ECONFLICT
// when the id (or a mapping's group and role) is taken; updates and deletes ENOTFOUND.
type AccessTx interface {
	InsertRole(ctx context.Context, r Role) error
	// UpdateRole stores r's Name, Description, Privileged, Permissions and Retired.
	UpdateRole(ctx context.Context, r Role) error
	InsertMapping(ctx context.Context, m RoleMapping) error
	DeleteMapping(ctx context.Context, tenant, id string) error
	InsertGrant(ctx context.Context, g Grant) error
	// UpdateGrant stores g's Revoked.
	UpdateGrant(ctx context.Context, g Grant) error
	// InsertAccess stores new open intervals (To zero).
	InsertAccess(ctx context.Context, ivs []AccessInterval) error
	// CloseAccess sets To on the open interval of each (tenant, user, role, path key).
	CloseAccess(ctx context.Context, ivs []AccessInterval) error
}
