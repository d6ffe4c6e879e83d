package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

// Tenant settings and custom schemas (scimtrail.SettingsReadTx, scimtrail.SettingsTx).

func (t *tx) TenantSettings(ctx context.Context, tenant string) (scimtrail.TenantSettings, error) {
	s := scimtrail.TenantSettings{Tenant: tenant}
	err := t.tx.QueryRow(ctx, `SELECT dialect, password_policy, break_glass_approval, updated FROM tenant_settings WHERE tenant = $1`, tenant).
		Scan(&s.Dialect, &s.PasswordPolicy, &s.BreakGlassApproval, &s.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("postgres: read tenant settings: %w", err)
	}
	s.Updated = s.Updated.UTC()
	return s, nil
}

func (t *tx) PutTenantSettings(ctx context.Context, s scimtrail.TenantSettings) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO tenant_settings (tenant, dialect, password_policy, break_glass_approval, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant) DO UPDATE SET dialect = excluded.dialect, password_policy = excluded.password_policy,
			break_glass_approval = excluded.break_glass_approval, updated = excluded.updated`,
		s.Tenant, s.Dialect, s.PasswordPolicy, s.BreakGlassApproval, s.Updated)
	if err != nil {
		return fmt.Errorf("postgres: store tenant settings: %w", err)
	}
	return nil
}

func (t *tx) TenantSchemas(ctx context.Context, tenant string) ([]scimtrail.TenantSchema, error) {
	rows, err := t.tx.Query(ctx, `SELECT urn, resource_type, definition, created FROM tenant_schemas
		WHERE tenant = $1 ORDER BY created, urn_key`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tenant schemas: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.TenantSchema
	for rows.Next() {
		s := scimtrail.TenantSchema{Tenant: tenant}
		var typ, def string
		if err := rows.Scan(&s.URN, &typ, &def, &s.Created); err != nil {
			return nil, fmt.Errorf("postgres: list tenant schemas: %w", err)
		}
		s.ResourceType, s.Definition, s.Created = scimtrail.ResourceType(typ), []byte(def), s.Created.UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *tx) InsertTenantSchema(ctx context.Context, s scimtrail.TenantSchema) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO tenant_schemas (tenant, urn_key, urn, resource_type, definition, created) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.Tenant, strings.ToLower(s.URN), s.URN, string(s.ResourceType), string(s.Definition), s.Created)
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "schema %q is already registered in tenant %s", s.URN, s.Tenant)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert tenant schema: %w", err)
	}
	return nil
}

func (t *tx) DeleteTenantSchema(ctx context.Context, tenant, urn string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM tenant_schemas WHERE tenant = $1 AND urn_key = $2`, tenant, strings.ToLower(urn))
	return oneRow(tag.RowsAffected(), err, "delete tenant schema", func() error { return notFound("schema %q not found", urn) })
}

func (t *tx) UniqueValueOwner(ctx context.Context, tenant string, typ scimtrail.ResourceType, v scimtrail.UniqueValue) (string, error) {
	var id string
	err := t.tx.QueryRow(ctx, `SELECT resource_id FROM unique_values
		WHERE tenant = $1 AND type = $2 AND urn_key = $3 AND attr_key = $4 AND value_key = $5`,
		tenant, string(typ), strings.ToLower(v.URN), strings.ToLower(v.Attr), v.Key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres: read unique value: %w", err)
	}
	return id, nil
}

func (t *tx) SetUniqueValues(ctx context.Context, tenant string, typ scimtrail.ResourceType, id string, vs []scimtrail.UniqueValue) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM unique_values WHERE tenant = $1 AND resource_id = $2`, tenant, id); err != nil {
		return fmt.Errorf("postgres: replace unique values: %w", err)
	}
	for _, v := range vs {
		_, err := t.tx.Exec(ctx, `INSERT INTO unique_values (tenant, type, urn_key, attr_key, value_key, resource_id) VALUES ($1, $2, $3, $4, $5, $6)`,
			tenant, string(typ), strings.ToLower(v.URN), strings.ToLower(v.Attr), v.Key, id)
		if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "%s:%s is already taken by another %s in tenant %s", v.URN, v.Attr, typ, tenant)
		}
		if err != nil {
			return fmt.Errorf("postgres: store unique values: %w", err)
		}
	}
	return nil
}
