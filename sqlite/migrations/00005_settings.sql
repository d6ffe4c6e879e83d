-- Tenants' own settings and custom schema extensions. Times are unix micros.

-- +goose Up
CREATE TABLE tenant_settings (
    tenant          TEXT PRIMARY KEY,
    dialect         TEXT NOT NULL,
    password_policy TEXT NOT NULL,
    updated_us      INTEGER NOT NULL
);

-- urn_key is the URN in lower case: URNs compare case-insensitively.
CREATE TABLE tenant_schemas (
    tenant        TEXT NOT NULL,
    urn_key       TEXT NOT NULL,
    urn           TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    definition    TEXT NOT NULL,
    created_us    INTEGER NOT NULL,
    PRIMARY KEY (tenant, urn_key)
);

-- +goose Down
DROP TABLE tenant_schemas;
DROP TABLE tenant_settings;
