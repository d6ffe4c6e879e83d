-- App events (POST /api/v1/tenants/{t}/events): per-tenant settings, versioned action
-- schemas, idempotency keys and the app's own role grants. The events themselves are ledger
-- entries; these tables only hold what ingestion needs beside them.

-- +goose Up
CREATE TABLE app_event_settings (
	tenant          text PRIMARY KEY,
	unknown_actions text NOT NULL,
	updated         timestamptz NOT NULL
);

-- tenant '' holds the global schemas. Versions are never deleted.
CREATE TABLE app_event_schemas (
	tenant          text NOT NULL,
	action          text COLLATE "C" NOT NULL,
	version         integer NOT NULL,
	metadata_schema bytea,
	targets_schema  bytea,
	created         timestamptz NOT NULL,
	seq             bigint NOT NULL,
	PRIMARY KEY (tenant, action, version)
);

-- key_hash and request_hash are SHA-256.
CREATE TABLE app_event_keys (
	tenant       text NOT NULL,
	key_hash     bytea NOT NULL,
	request_hash bytea NOT NULL,
	seqs         bigint[] NOT NULL,
	created      timestamptz NOT NULL,
	PRIMARY KEY (tenant, key_hash)
);
CREATE INDEX app_event_keys_by_created ON app_event_keys (tenant, created);

CREATE TABLE app_role_grants (
	tenant  text NOT NULL,
	user_id text COLLATE "C" NOT NULL,
	role    text COLLATE "C" NOT NULL,
	granted timestamptz NOT NULL,
	seq     bigint NOT NULL,
	PRIMARY KEY (tenant, user_id, role)
);

-- +goose Down
DROP TABLE app_role_grants;
DROP TABLE app_event_keys;
DROP TABLE app_event_schemas;
DROP TABLE app_event_settings;
