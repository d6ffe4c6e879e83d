package scimtrail

import (
	"context"
	"time"
)

// TenantSettings is a tenant's own configuration of how its SCIM endpoint behaves. A tenant
// that never changed them has the defaults: zero values, which mean Auto and discard.
type TenantSettings struct {
	Tenant string
	// Dialect is the IdP dialect SCIM requests are read in: "strict", "entra", "okta" or
	// "auto"; "" means "auto".
	Dialect string
	// PasswordPolicy says what happens to a "password" in a User body: "discard" (accepted,
	// never stored, recorded only as having been set) or "reject" (400 invalidValue); ""
	// means "discard".
	PasswordPolicy string
	// BreakGlassApproval is BreakGlassApprovalNone or BreakGlassApprovalSecondAdmin; ""
	// means none.
	BreakGlassApproval string
	// Updated is when the settings last changed; zero for the defaults.
	Updated time.Time
}

// TenantSchema is a custom schema extension a tenant registered for one resource type.
// Definition is the schema's JSON representation (RFC 7643 §7) as the service validated it;
// the store keeps it byte for byte.
type TenantSchema struct {
	Tenant       string
	URN          string
	ResourceType ResourceType
	Definition   []byte
	Created      time.Time
}

// UniqueValue is one value a resource holds in a custom extension attribute whose
// uniqueness is "server" (RFC 7643 §2.2). The store keeps them so that uniqueness is one
// indexed lookup, not a scan of every resource of the type.
type UniqueValue struct {
	URN  string // the extension's schema URN (compared case-insensitively)
	Attr string // the attribute's name (compared case-insensitively)
	Key  string // the value in the form values are compared by: equal values, equal keys
}

// SettingsReadTx reads tenants' settings and custom schemas.
type SettingsReadTx interface {
	// TenantSettings returns the tenant's settings. A tenant whose settings were never
	// stored gets the defaults (only Tenant set), not ENOTFOUND: the store does not check
	// that the tenant exists.
	TenantSettings(ctx context.Context, tenant string) (TenantSettings, error)
	// TenantSchemas lists the tenant's custom schema extensions, oldest first.
	TenantSchemas(ctx context.Context, tenant string) ([]TenantSchema, error)
	// UniqueValueOwner returns the id of the tenant's resource of type typ that holds v, or
	// "" when none does.
	UniqueValueOwner(ctx context.Context, tenant string, typ ResourceType, v UniqueValue) (string, error)
}

// SettingsTx writes tenants' settings and custom schemas.
type SettingsTx interface {
	// PutTenantSettings stores s as the tenant's settings, replacing earlier ones.
	PutTenantSettings(ctx context.Context, s TenantSettings) error
	// InsertTenantSchema stores a custom schema. Returns ECONFLICT when the tenant already
	// has a schema with the same URN, compared case-insensitively (RFC 7643 §2.1).
	InsertTenantSchema(ctx context.Context, s TenantSchema) error
	// DeleteTenantSchema deletes the tenant's schema with the URN (case-insensitively).
	// Returns ENOTFOUND when there is none.
	DeleteTenantSchema(ctx context.Context, tenant, urn string) error
	// SetUniqueValues replaces the unique values resource id holds with vs (none: nil).
	// Returns ECONFLICT when another resource of the type holds one of them. DeleteResource
	// forgets a deleted resource's values by itself. (A schema is deleted only when no
	// resource uses it, so no values outlive their schema.)
	SetUniqueValues(ctx context.Context, tenant string, typ ResourceType, id string, vs []UniqueValue) error
}
