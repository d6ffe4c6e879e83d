-- The initial schema. Times are INTEGER unix microseconds (UTC), the precision every backend
-- keeps. Indexes are few on purpose: every index is paid for inside the single writer.

-- +goose Up
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_us INTEGER NOT NULL
);

-- tenant is '' for operator tokens. Expiry, revocation and rotation are NULL when unset.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_us INTEGER NOT NULL,
    expires_us INTEGER,
    revoked_us INTEGER,
    rotated_us INTEGER
);
CREATE INDEX tokens_tenant ON tokens (tenant, created_us);

-- Users and Groups share one table: ids are unique per tenant across types, so membership
-- rows and LookupResources need no type to find the other side. Absent strings are ''.
-- user_name_key and display_key are NFC + lower case, for case-insensitive filters and sorts.
-- emails keeps Resource.Emails as sent (a JSON array) for the round trip; resource_emails
-- holds the distinct values for the indexed lookup.
CREATE TABLE resources (
    tenant           TEXT NOT NULL,
    id               TEXT NOT NULL,
    type             TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    user_name        TEXT NOT NULL,
    user_name_key    TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    display_key      TEXT NOT NULL,
    active           INTEGER NOT NULL,
    emails           TEXT NOT NULL,
    schemas          TEXT NOT NULL,
    attributes       BLOB NOT NULL,
    created_us       INTEGER NOT NULL,
    last_modified_us INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX resources_user_name ON resources (tenant, user_name_key) WHERE type = 'User';
CREATE INDEX resources_created ON resources (tenant, type, created_us, id);
CREATE INDEX resources_external_id ON resources (tenant, external_id);
CREATE INDEX resources_display ON resources (tenant, display_key);

CREATE TABLE resource_emails (
    tenant      TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (tenant, resource_id, value)
) WITHOUT ROWID;
CREATE INDEX resource_emails_value ON resource_emails (tenant, value);

CREATE TABLE memberships (
    tenant      TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL,
    PRIMARY KEY (tenant, group_id, member_id)
) WITHOUT ROWID;
CREATE INDEX memberships_member ON memberships (tenant, member_id);

-- body is the JCS bytes that were hashed, kept byte for byte.
CREATE TABLE ledger_entries (
    tenant    TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    time_us   INTEGER NOT NULL,
    action    TEXT NOT NULL,
    actor_id  TEXT NOT NULL,
    target_id TEXT NOT NULL,
    body      BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX ledger_entries_actor ON ledger_entries (tenant, actor_id, seq);
CREATE INDEX ledger_entries_target ON ledger_entries (tenant, target_id, seq);

CREATE TABLE ledger_heads (
    tenant        TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,
    compact_range BLOB NOT NULL
);

-- +goose Down
DROP TABLE ledger_heads;
DROP TABLE ledger_entries;
DROP TABLE memberships;
DROP TABLE resource_emails;
DROP TABLE resources;
DROP TABLE tokens;
DROP TABLE tenants;
