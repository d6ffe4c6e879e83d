package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/scimtrail/scimtrail"
)

// Tenant settings and custom schemas (scimtrail.SettingsReadTx, scimtrail.SettingsTx).

func (t *txn) TenantSettings(ctx context.Context, tenant string) (scimtrail.TenantSettings, error) {
	s := scimtrail.TenantSettings{Tenant: tenant}
	var updated int64
	err := t.queryRow(ctx, `SELECT dialect, password_policy, break_glass_approval, updated_us FROM tenant_settings WHERE tenant = ?`, tenant).
		Scan(&s.Dialect, &s.PasswordPolicy, &s.BreakGlassApproval, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, dbErr("reading tenant settings", err)
	}
	s.Updated = fromMicros(updated)
	return s, nil
}

func (t *txn) PutTenantSettings(ctx context.Context, s scimtrail.TenantSettings) error {
	_, err := t.exec(ctx, `INSERT INTO tenant_settings (tenant, dialect, password_policy, break_glass_approval, updated_us) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET dialect = excluded.dialect, password_policy = excluded.password_policy,
			break_glass_approval = excluded.break_glass_approval, updated_us = excluded.updated_us`,
		s.Tenant, s.Dialect, s.PasswordPolicy, s.BreakGlassApproval, micros(s.Updated))
	return dbErr("storing tenant settings", err)
}

func (t *txn) TenantSchemas(ctx context.Context, tenant string) ([]scimtrail.TenantSchema, error) {
	rows, err := t.query(ctx, `SELECT urn, resource_type, definition, created_us FROM tenant_schemas
		WHERE tenant = ? ORDER BY created_us, urn_key`, tenant)
	if err != nil {
		return nil, dbErr("listing tenant schemas", err)
	}
	defer rows.Close()
	var out []scimtrail.TenantSchema
	for rows.Next() {
		s := scimtrail.TenantSchema{Tenant: tenant}
		var typ, def string
		var created int64
		if err := rows.Scan(&s.URN, &typ, &def, &created); err != nil {
			return nil, dbErr("listing tenant schemas", err)
		}
		s.ResourceType, s.Definition, s.Created = scimtrail.ResourceType(typ), []byte(def), fromMicros(created)
		out = append(out, s)
	}
	return out, dbErr("listing tenant schemas", rows.Err())
}

func (t *txn) InsertTenantSchema(ctx context.Context, s scimtrail.TenantSchema) error {
	_, err := t.exec(ctx, `INSERT INTO tenant_schemas (tenant, urn_key, urn, resource_type, definition, created_us) VALUES (?, ?, ?, ?, ?, ?)`,
		s.Tenant, strings.ToLower(s.URN), s.URN, string(s.ResourceType), string(s.Definition), micros(s.Created))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "schema %q is already registered in tenant %s", s.URN, s.Tenant)
	}
	return dbErr("inserting a tenant schema", err)
}

func (t *txn) DeleteTenantSchema(ctx context.Context, tenant, urn string) error {
	res, err := t.exec(ctx, `DELETE FROM tenant_schemas WHERE tenant = ? AND urn_key = ?`, tenant, strings.ToLower(urn))
	return affectedOne(res, err, "deleting a tenant schema", func() error { return notFound("schema %q not found", urn) })
}

func (t *txn) UniqueValueOwner(ctx context.Context, tenant string, typ scimtrail.ResourceType, v scimtrail.UniqueValue) (string, error) {
	var id string
	err := t.queryRow(ctx, `SELECT resource_id FROM unique_values
		WHERE tenant = ? AND type = ? AND urn_key = ? AND attr_key = ? AND value_key = ?`,
		tenant, string(typ), strings.ToLower(v.URN), strings.ToLower(v.Attr), v.Key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, dbErr("reading a unique value", err)
}

func (t *txn) SetUniqueValues(ctx context.Context, tenant string, typ scimtrail.ResourceType, id string, vs []scimtrail.UniqueValue) error {
	if _, err := t.exec(ctx, `DELETE FROM unique_values WHERE tenant = ? AND resource_id = ?`, tenant, id); err != nil {
		return dbErr("replacing unique values", err)
	}
	for _, v := range vs {
		_, err := t.exec(ctx, `INSERT INTO unique_values (tenant, type, urn_key, attr_key, value_key, resource_id) VALUES (?, ?, ?, ?, ?, ?)`,
			tenant, string(typ), strings.ToLower(v.URN), strings.ToLower(v.Attr), v.Key, id)
		if uniqueViolation(err) {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "%s:%s is already taken by another %s in tenant %s", v.URN, v.Attr, typ, tenant)
		}
		if err != nil {
			return dbErr("storing unique values", err)
		}
	}
	return nil
}
