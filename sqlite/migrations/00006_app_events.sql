-- App events (POST /api/v1/tenants/{t}/events): per-tenant settings, versioned action
-- schemas, idempotency keys and the app's own role grants. The events themselves are ledger
-- entries; these tables only hold what ingestion needs beside them.

-- +goose Up
CREATE TABLE app_event_settings (
    tenant          TEXT PRIMARY KEY,
    unknown_actions TEXT NOT NULL,
    updated_us      INTEGER NOT NULL
);

-- tenant '' holds the global schemas. Versions are never deleted.
CREATE TABLE app_event_schemas (
    tenant          TEXT NOT NULL,
    action          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    metadata_schema BLOB,
    targets_schema  BLOB,
    created_us      INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (tenant, action, version)
) WITHOUT ROWID;

-- key_hash and request_hash are SHA-256; seqs is a JSON array of integers.
CREATE TABLE app_event_keys (
    tenant       TEXT NOT NULL,
    key_hash     BLOB NOT NULL,
    request_hash BLOB NOT NULL,
    seqs         TEXT NOT NULL,
    created_us   INTEGER NOT NULL,
    PRIMARY KEY (tenant, key_hash)
);
CREATE INDEX app_event_keys_created ON app_event_keys (tenant, created_us);

CREATE TABLE app_role_grants (
    tenant     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    granted_us INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (tenant, user_id, role)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE app_role_grants;
DROP TABLE app_event_keys;
DROP TABLE app_event_schemas;
DROP TABLE app_event_settings;
