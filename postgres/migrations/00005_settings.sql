-- Tenants' own settings and custom schema extensions.

-- +goose Up
CREATE TABLE tenant_settings (
	tenant          text COLLATE "C" PRIMARY KEY,
	dialect         text NOT NULL,
	password_policy text NOT NULL,
	updated         timestamptz NOT NULL
);

-- urn_key is the URN in lower case: URNs compare case-insensitively.
CREATE TABLE tenant_schemas (
	tenant        text COLLATE "C" NOT NULL,
	urn_key       text COLLATE "C" NOT NULL,
	urn           text NOT NULL,
	resource_type text NOT NULL,
	definition    text NOT NULL,
	created       timestamptz NOT NULL,
	PRIMARY KEY (tenant, urn_key)
);

-- +goose Down
DROP TABLE tenant_schemas;
DROP TABLE tenant_settings;
