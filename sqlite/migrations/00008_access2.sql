-- Access, second part: who in the app granted an app role, non-human identities (service
-- accounts and their API keys), the tenant's NHI policy, and the scopes of delegated admin
-- tokens. Times are unix micros. Key hashes are SHA-256; secrets are never stored.

-- +goose Up
ALTER TABLE app_role_grants ADD COLUMN granted_by TEXT NOT NULL DEFAULT '';

-- Deleted accounts keep their row (state 'deleted') so that their id is never reused.
CREATE TABLE service_accounts (
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    state       TEXT NOT NULL,
    flag        TEXT NOT NULL,
    created_us  INTEGER NOT NULL,
    updated_us  INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX service_accounts_owner ON service_accounts (tenant, owner_id);

CREATE TABLE nhi_keys (
    tenant       TEXT NOT NULL,
    id           TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    hash         BLOB NOT NULL,
    created_us   INTEGER NOT NULL,
    expires_us   INTEGER,
    revoked_us   INTEGER,
    rotated_us   INTEGER,
    replaced_by  TEXT NOT NULL,
    last_used_us INTEGER,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX nhi_keys_hash ON nhi_keys (hash);
CREATE INDEX nhi_keys_account ON nhi_keys (tenant, account_id);

CREATE TABLE nhi_policies (
    tenant         TEXT PRIMARY KEY,
    owner_gone     TEXT NOT NULL,
    max_key_age_us INTEGER NOT NULL,
    updated_us     INTEGER NOT NULL
);

CREATE TABLE token_scopes (
    token_id        TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    grantable_roles TEXT NOT NULL,
    issue_tokens    INTEGER NOT NULL
);

-- +goose Down
DROP TABLE token_scopes;
DROP TABLE nhi_policies;
DROP TABLE nhi_keys;
DROP TABLE service_accounts;
ALTER TABLE app_role_grants DROP COLUMN granted_by;
