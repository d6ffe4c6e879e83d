package service

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/dialect"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// ConfigTTL is how long a replica trusts its cached copy of a tenant's settings and custom
// schemas. Every SCIM request needs both, so they are not read from the database each time;
// a change made through this replica applies on its very next request (the cache entry is
// dropped on commit), one made through another replica within ConfigTTL.
const ConfigTTL = 2 * time.Second

// Password policies (TenantSettings.PasswordPolicy).
const (
	PasswordDiscard = "discard"
	PasswordReject  = "reject"
)

// tenantConfig is what a tenant's SCIM requests are read with: its settings and its
// resource types with its custom extensions.
type tenantConfig struct {
	settings scimtrail.TenantSettings
	users    *schema.ResourceType
	groups   *schema.ResourceType
	custom   map[string]bool // lower-case URNs of the tenant's custom extensions
	external scimtrail.ExternalPolicy
	loaded   time.Time
	// schemaKey is every custom schema definition the resource types were built from.
	// A reload that finds the same keeps the same *schema.ResourceType values, so that
	// caches keyed by them (httpapi's rendered documents) survive the ConfigTTL refresh.
	schemaKey string
}

// configCache holds tenantConfigs by tenant.
type configCache struct {
	mu sync.Mutex
	m  map[string]*tenantConfig
}

func (c *configCache) get(tenant string, now time.Time) *tenantConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	tc := c.m[tenant]
	if tc == nil || now.Sub(tc.loaded) >= ConfigTTL || now.Before(tc.loaded) {
		return nil
	}
	return tc
}

func (c *configCache) put(tenant string, tc *tenantConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*tenantConfig{}
	}
	c.m[tenant] = tc
}

// last returns the tenant's cached configuration however old it is, or nil.
func (c *configCache) last(tenant string) *tenantConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[tenant]
}

func (c *configCache) drop(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, tenant)
}

// config returns the tenant's configuration, from the cache when it is fresh. It does not
// check that the tenant exists: an unknown tenant has the defaults.
func (s *Service) config(ctx context.Context, tenant string) (*tenantConfig, error) {
	return s.configVia(ctx, tenant, func(load func(scimtrail.ReadTx) error) error {
		return s.store.View(ctx, func(tx scimtrail.ReadTx) error { return load(tx) })
	})
}

// configIn is config for code that already holds a transaction: a stale entry is reloaded
// through tx. Opening a second transaction there would take a second pooled PostgreSQL
// connection while holding the tenant's write lock, and with every connection held by a
// writer queued on that lock, the pool never hands one out (creates fell to ~1/s).
func (s *Service) configIn(ctx context.Context, tx scimtrail.ReadTx, tenant string) (*tenantConfig, error) {
	return s.configVia(ctx, tenant, func(load func(scimtrail.ReadTx) error) error { return load(tx) })
}

func (s *Service) configVia(ctx context.Context, tenant string, read func(func(scimtrail.ReadTx) error) error) (*tenantConfig, error) {
	now := time.Now()
	if tc := s.configs.get(tenant, now); tc != nil {
		return tc, nil
	}
	var tc *tenantConfig
	err := read(func(tx scimtrail.ReadTx) error {
		var err error
		tc, err = loadConfig(ctx, tx, tenant)
		return err
	})
	if err != nil {
		return nil, err
	}
	tc.loaded = now
	if old := s.configs.last(tenant); old != nil && old.schemaKey == tc.schemaKey {
		tc.users, tc.groups = old.users, old.groups
	}
	s.configs.put(tenant, tc)
	return tc, nil
}

// loadConfig reads a tenant's settings and builds its resource types.
func loadConfig(ctx context.Context, tx scimtrail.ReadTx, tenant string) (*tenantConfig, error) {
	settings, err := tx.TenantSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	custom, err := tx.TenantSchemas(ctx, tenant)
	if err != nil {
		return nil, err
	}
	external, err := tx.ExternalPolicy(ctx, tenant)
	if err != nil {
		return nil, err
	}
	tc := &tenantConfig{settings: withDefaults(settings), users: schema.User(), groups: schema.Group(), custom: map[string]bool{}, external: external}
	var key strings.Builder
	for _, c := range custom {
		fmt.Fprintf(&key, "%s\x00%s\x00%d:%s\x00", c.ResourceType, c.URN, len(c.Definition), c.Definition)
		ext, err := schema.ParseCustomExtension(c.Definition)
		if err != nil {
			// Definitions were validated before they were stored; one that no longer
			// parses would be a bug here, and serving without it beats failing every request.
			continue
		}
		tc.custom[strings.ToLower(ext.Schema.ID)] = true
		e := schema.Extension{Schema: ext.Schema, Required: ext.Required}
		if ext.ResourceType == string(scimtrail.GroupResource) {
			tc.groups = tc.groups.WithExtensions(e)
		} else {
			tc.users = tc.users.WithExtensions(e)
		}
	}
	tc.schemaKey = key.String()
	return tc, nil
}

func withDefaults(st scimtrail.TenantSettings) scimtrail.TenantSettings {
	if st.Dialect == "" {
		st.Dialect = string(dialect.Auto)
	}
	if st.PasswordPolicy == "" {
		st.PasswordPolicy = PasswordDiscard
	}
	if st.BreakGlassApproval == "" {
		st.BreakGlassApproval = scimtrail.BreakGlassApprovalNone
	}
	return st
}

func (tc *tenantConfig) resourceType(typ scimtrail.ResourceType) (*schema.ResourceType, error) {
	switch typ {
	case scimtrail.UserResource:
		return tc.users, nil
	case scimtrail.GroupResource:
		return tc.groups, nil
	}
	return nil, scimtrail.Errorf(scimtrail.ENOTFOUND, "resource type %q not found", typ)
}

// resourceType returns the tenant's schema of a resource type, with its custom extensions.
func (s *Service) resourceType(ctx context.Context, tenant string, typ scimtrail.ResourceType) (*schema.ResourceType, error) {
	tc, err := s.config(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return tc.resourceType(typ)
}

// ResourceType returns the tenant's schema of a resource type — the core schema with the
// enterprise extension and the tenant's custom extensions — for projection and discovery.
func (s *Service) ResourceType(ctx context.Context, tenant string, typ scimtrail.ResourceType) (*schema.ResourceType, error) {
	return s.resourceType(ctx, tenant, typ)
}

// TenantDialect is the IdP dialect the tenant configured for its SCIM requests.
func (s *Service) TenantDialect(ctx context.Context, tenant string) (dialect.Dialect, error) {
	tc, err := s.config(ctx, tenant)
	if err != nil {
		return dialect.Auto, err
	}
	return dialect.Dialect(tc.settings.Dialect), nil
}

// checkPassword enforces the tenant's password policy on a normalised document.
func (tc *tenantConfig) checkPassword(doc map[string]any) error {
	if _, ok := doc["password"]; ok && tc.settings.PasswordPolicy == PasswordReject {
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
			"this tenant does not accept passwords (its password_policy is reject): scimtrail never stores passwords; leave \"password\" out")
	}
	return nil
}

// writeConfig returns what a write of a resource type in the tenant is validated with.
func (s *Service) writeConfig(ctx context.Context, tenant string, typ scimtrail.ResourceType) (*tenantConfig, *schema.ResourceType, error) {
	tc, err := s.config(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	rt, err := tc.resourceType(typ)
	return tc, rt, err
}

// checkDoc runs the checks of a new document that need the write transaction.
func checkDoc(ctx context.Context, tx scimtrail.ReadTx, tc *tenantConfig, rt *schema.ResourceType, r scimtrail.Resource, doc map[string]any) error {
	if err := checkCustomCurrent(ctx, tx, tc, r.Tenant, doc); err != nil {
		return err
	}
	return checkUniqueCustom(ctx, tx, rt, r, doc)
}

// checkCustomCurrent makes sure, inside the write transaction, that the custom extensions a
// document uses are still registered: the document was validated against a cached schema,
// and an extension deleted meanwhile must not get new data. Only documents with custom
// extensions pay for the read.
func checkCustomCurrent(ctx context.Context, tx scimtrail.ReadTx, tc *tenantConfig, tenant string, doc map[string]any) error {
	var used []string
	schemas, _ := doc["schemas"].([]any)
	for _, s := range schemas {
		if u, _ := s.(string); tc.custom[strings.ToLower(u)] {
			used = append(used, u)
		}
	}
	if len(used) == 0 {
		return nil
	}
	current, err := tx.TenantSchemas(ctx, tenant)
	if err != nil {
		return err
	}
	for _, u := range used {
		if !slices.ContainsFunc(current, func(c scimtrail.TenantSchema) bool { return strings.EqualFold(c.URN, u) }) {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "schema %q is no longer registered in this tenant", u)
		}
	}
	return nil
}

// checkUniqueCustom enforces uniqueness "server" of custom extension attributes inside the
// write transaction: no other resource of the type may hold an equal value. Writes of one
// tenant are serialised by both stores, so the lookup cannot race another write.
func checkUniqueCustom(ctx context.Context, tx scimtrail.ReadTx, rt *schema.ResourceType, r scimtrail.Resource, doc map[string]any) error {
	for _, v := range uniqueValues(rt, doc) {
		owner, err := tx.UniqueValueOwner(ctx, r.Tenant, r.Type, v.UniqueValue)
		if err != nil {
			return err
		}
		if owner != "" && owner != r.ID {
			return scimtrail.ScimErrorf(scimtrail.ECONFLICT, scimtrail.ScimUniqueness,
				"%s:%s %v is already taken by another %s in this tenant", v.URN, v.Attr, v.value, r.Type)
		}
	}
	return nil
}

// storeUniqueValues records the unique custom values a written resource holds, for
// checkUniqueCustom. Tenants without a unique custom attribute pay nothing.
func storeUniqueValues(ctx context.Context, tx scimtrail.Tx, rt *schema.ResourceType, r scimtrail.Resource, doc map[string]any) error {
	if !hasUniqueCustom(rt) {
		return nil
	}
	vs := uniqueValues(rt, doc)
	keys := make([]scimtrail.UniqueValue, len(vs))
	for i, v := range vs {
		keys[i] = v.UniqueValue
	}
	return tx.SetUniqueValues(ctx, r.Tenant, r.Type, r.ID, keys)
}

func hasUniqueCustom(rt *schema.ResourceType) bool {
	for _, ext := range rt.Extensions {
		for _, a := range ext.Schema.Attributes {
			if a.Uniqueness == schema.UniquenessServer {
				return true
			}
		}
	}
	return false
}

// uniqueValue is a stored unique value with the value as sent, for error messages.
type uniqueValue struct {
	scimtrail.UniqueValue
	value any
}

// uniqueValues returns the values doc holds in custom extension attributes whose
// uniqueness is "server", each keyed so that values filter "eq" finds equal (RFC 7644
// §3.4.2.2: caseExact honoured, numbers by value, dateTimes as instants) have equal keys.
// Each value of a multi-valued attribute is unique on its own; complex ones are not keyed.
func uniqueValues(rt *schema.ResourceType, doc map[string]any) []uniqueValue {
	var out []uniqueValue
	for _, ext := range rt.Extensions {
		obj, _ := doc[ext.Schema.ID].(map[string]any)
		for _, a := range ext.Schema.Attributes {
			v, ok := obj[a.Name]
			if a.Uniqueness != schema.UniquenessServer || !ok || v == nil {
				continue
			}
			vals := []any{v}
			if list, ok := v.([]any); ok {
				vals = list
			}
			seen := map[string]bool{}
			for _, x := range vals {
				key, ok := uniqueKey(a, x)
				if !ok || seen[key] {
					continue
				}
				seen[key] = true
				out = append(out, uniqueValue{scimtrail.UniqueValue{URN: ext.Schema.ID, Attr: a.Name, Key: key}, x})
			}
		}
	}
	return out
}

// uniqueKey is the comparison form of one value of a: a type tag and the value made
// canonical, so "Ab" and "ab" collide unless caseExact, 2.50 and 25e-1 collide, and two
// spellings of one instant collide.
func uniqueKey(a schema.Attribute, v any) (string, bool) {
	switch a.Type {
	case filter.TypeString, filter.TypeReference, filter.TypeBinary:
		s, ok := v.(string)
		if !ok {
			return "", false
		}
		if !a.CaseExact {
			s = filter.Fold(s)
		}
		return "s:" + s, true
	case filter.TypeBoolean:
		b, ok := v.(bool)
		return "b:" + strconv.FormatBool(b), ok
	case filter.TypeInteger, filter.TypeDecimal:
		var r big.Rat
		switch n := v.(type) {
		case json.Number:
			if _, ok := r.SetString(n.String()); !ok {
				return "", false
			}
		case float64:
			r.SetFloat64(n)
		default:
			return "", false
		}
		return "n:" + r.RatString(), true
	case filter.TypeDateTime:
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", false
		}
		return "t:" + t.UTC().Format(time.RFC3339Nano), true
	}
	return "", false
}

// SettingsChange is a PATCH of a tenant's settings: nil fields stay as they are.
type SettingsChange struct {
	Dialect        *string `json:"dialect"`
	PasswordPolicy *string `json:"password_policy"`
	// BreakGlassApproval is "none" or "second_admin" (scimtrail.BreakGlassApproval*).
	BreakGlassApproval *string `json:"break_glass_approval"`
}

// TenantSettings returns the tenant's settings with defaults filled in. Returns ENOTFOUND
// for an unknown tenant.
func (s *Service) TenantSettings(ctx context.Context, tenant string) (scimtrail.TenantSettings, error) {
	var st scimtrail.TenantSettings
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		st, err = tx.TenantSettings(ctx, tenant)
		return err
	})
	return withDefaults(st), err
}

// UpdateTenantSettings changes the tenant's settings and records the change as a
// tenant.settings_changed entry with the old and new value of each setting that changed. A
// change to nothing writes nothing. Returns EINVALID for an unknown dialect or policy.
func (s *Service) UpdateTenantSettings(ctx context.Context, o Origin, tenant string, c SettingsChange) (scimtrail.TenantSettings, scimtrail.Receipt, error) {
	if c.Dialect != nil {
		if _, err := dialect.Parse(*c.Dialect); err != nil || *c.Dialect == "" {
			return scimtrail.TenantSettings{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
				"dialect must be one of strict, entra, okta or auto, not %q", *c.Dialect)
		}
	}
	if c.PasswordPolicy != nil && *c.PasswordPolicy != PasswordDiscard && *c.PasswordPolicy != PasswordReject {
		return scimtrail.TenantSettings{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
			"password_policy must be discard or reject, not %q", *c.PasswordPolicy)
	}
	if c.BreakGlassApproval != nil && *c.BreakGlassApproval != scimtrail.BreakGlassApprovalNone && *c.BreakGlassApproval != scimtrail.BreakGlassApprovalSecondAdmin {
		return scimtrail.TenantSettings{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
			"break_glass_approval must be none or second_admin, not %q", *c.BreakGlassApproval)
	}
	var next scimtrail.TenantSettings
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		stored, err := tx.TenantSettings(ctx, tenant)
		if err != nil {
			return err
		}
		cur := withDefaults(stored)
		next = cur
		var changes []scimtrail.Change
		if c.Dialect != nil && *c.Dialect != cur.Dialect {
			next.Dialect = *c.Dialect
			changes = append(changes, scimtrail.Change{Path: "dialect", Old: cur.Dialect, New: next.Dialect})
		}
		if c.PasswordPolicy != nil && *c.PasswordPolicy != cur.PasswordPolicy {
			next.PasswordPolicy = *c.PasswordPolicy
			changes = append(changes, scimtrail.Change{Path: "password_policy", Old: cur.PasswordPolicy, New: next.PasswordPolicy})
		}
		if c.BreakGlassApproval != nil && *c.BreakGlassApproval != cur.BreakGlassApproval {
			next.BreakGlassApproval = *c.BreakGlassApproval
			changes = append(changes, scimtrail.Change{Path: "break_glass_approval", Old: cur.BreakGlassApproval, New: next.BreakGlassApproval})
		}
		at := s.stamp()
		if len(changes) == 0 {
			rc, err = appendEntries(ctx, tx, tenant, o, at)
			return err
		}
		next.Updated = at
		if err := tx.PutTenantSettings(ctx, next); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, scimtrail.Entry{
			Action:  "tenant.settings_changed",
			Target:  &scimtrail.Target{Type: "Tenant", ID: tenant},
			Changes: changes,
		})
		return err
	})
	if err != nil {
		return scimtrail.TenantSettings{}, scimtrail.Receipt{}, err
	}
	s.configs.drop(tenant)
	return next, rc, nil
}

// TenantSchemas lists the tenant's custom schema extensions, oldest first. Returns
// ENOTFOUND for an unknown tenant.
func (s *Service) TenantSchemas(ctx context.Context, tenant string) ([]scimtrail.TenantSchema, error) {
	var out []scimtrail.TenantSchema
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		out, err = tx.TenantSchemas(ctx, tenant)
		return err
	})
	return out, err
}

// RegisterSchema registers a custom schema extension (schema.ParseCustomExtension's
// format) for the tenant and records a schema.registered entry. From the next request on,
// the tenant's /Schemas and /ResourceTypes list it and its attributes are validated,
// filterable and patchable. Returns EINVALID for a bad definition and ECONFLICT for a URN
// the tenant has already registered or that names a built-in schema.
func (s *Service) RegisterSchema(ctx context.Context, o Origin, tenant string, body []byte) (scimtrail.TenantSchema, scimtrail.Receipt, error) {
	ext, err := schema.ParseCustomExtension(body)
	if err != nil {
		return scimtrail.TenantSchema{}, scimtrail.Receipt{}, err
	}
	for _, rt := range []*schema.ResourceType{schema.User(), schema.Group()} {
		if strings.EqualFold(rt.Schema.ID, ext.Schema.ID) || slices.ContainsFunc(rt.Extensions, func(e schema.Extension) bool { return strings.EqualFold(e.Schema.ID, ext.Schema.ID) }) {
			return scimtrail.TenantSchema{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.ECONFLICT, "schema %q is built in", ext.Schema.ID)
		}
	}
	ts := scimtrail.TenantSchema{Tenant: tenant, URN: ext.Schema.ID, ResourceType: scimtrail.ResourceType(ext.ResourceType), Definition: ext.Definition()}
	var rc scimtrail.Receipt
	err = s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		at := s.stamp()
		ts.Created = at
		if err := tx.InsertTenantSchema(ctx, ts); err != nil {
			return err
		}
		var err error
		rc, err = appendEntries(ctx, tx, tenant, o, at, scimtrail.Entry{
			Action: "schema.registered",
			Target: &scimtrail.Target{Type: "Schema", ID: ts.URN, Display: ext.Schema.Name},
			Changes: []scimtrail.Change{
				{Path: "resourceType", New: ext.ResourceType},
				{Path: "required", New: ext.Required},
				{Path: "attributes", New: attributeNames(ext.Schema.Attributes)},
			},
		})
		return err
	})
	if err != nil {
		return scimtrail.TenantSchema{}, scimtrail.Receipt{}, err
	}
	s.configs.drop(tenant)
	return ts, rc, nil
}

func attributeNames(attrs []schema.Attribute) []any {
	out := make([]any, len(attrs))
	for i, a := range attrs {
		out[i] = a.Name
	}
	return out
}

// DeleteSchema removes a custom schema extension of the tenant and records a
// schema.deleted entry. It is refused with ECONFLICT while any resource still carries the
// extension: removing it would leave data that no schema describes, which discovery could not
// explain and PUT could not round-trip. Remove the extension's attributes from those
// resources first (a PATCH remove of the URN). Returns ENOTFOUND for an unknown URN.
func (s *Service) DeleteSchema(ctx context.Context, o Origin, tenant, urn string) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		all, err := tx.TenantSchemas(ctx, tenant)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(c scimtrail.TenantSchema) bool { return strings.EqualFold(c.URN, urn) })
		if i < 0 {
			return notFound("schema", urn)
		}
		ts := all[i]
		ext, err := schema.ParseCustomExtension(ts.Definition)
		if err != nil {
			return err
		}
		n, err := resourcesUsing(ctx, tx, tenant, ts.ResourceType, ext)
		if err != nil {
			return err
		}
		if n > 0 {
			return scimtrail.Errorf(scimtrail.ECONFLICT,
				"schema %q is still used by %d %s resource(s); remove its attributes from them (PATCH remove of %q) before deleting it", ts.URN, n, ts.ResourceType, ts.URN)
		}
		if err := tx.DeleteTenantSchema(ctx, tenant, ts.URN); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, s.stamp(), scimtrail.Entry{
			Action: "schema.deleted",
			Target: &scimtrail.Target{Type: "Schema", ID: ts.URN, Display: ext.Schema.Name},
		})
		return err
	})
	if err != nil {
		return scimtrail.Receipt{}, err
	}
	s.configs.drop(tenant)
	return rc, nil
}

// resourcesUsing counts the tenant's resources of typ that carry the extension. Normalize
// drops an empty extension object, so a resource carries it exactly when one of its
// attributes is present.
func resourcesUsing(ctx context.Context, tx scimtrail.ReadTx, tenant string, typ scimtrail.ResourceType, ext schema.CustomExtension) (int, error) {
	var expr filter.Expr
	for _, a := range ext.Schema.Attributes {
		var e filter.Expr = &filter.Compare{Path: filter.AttrPath{URN: ext.Schema.ID, Attr: a.Name}, Op: filter.Pr}
		if expr != nil {
			e = &filter.Logical{Op: "or", Left: expr, Right: e}
		}
		expr = e
	}
	urn := ext.Schema.ID
	page, err := tx.QueryResources(ctx, tenant, scimtrail.Query{Type: typ, Filter: expr, StartIndex: 1,
		Match: func(r scimtrail.Resource) bool {
			return slices.ContainsFunc(r.Schemas, func(s string) bool { return strings.EqualFold(s, urn) })
		}})
	return page.Total, err
}
