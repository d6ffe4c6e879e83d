-- The scimtrail schema for PostgreSQL. Tables are created unqualified, so they land in the
-- connection's current schema (the first entry of search_path): one database can hold
-- several independent installs, and each test gets its own schema.
--
-- Keys and compared text columns use the "C" collation: byte order, which is Go's string
-- order, whatever the database's default collation; and an index serves a comparison only
-- when their collations agree, so the column, its index and every query share this one.
--
-- There are deliberately no foreign keys to tenants: every write already goes through the
-- one write path, which checks the tenant, and foreign keys would cost a lookup per row.

-- +goose Up
CREATE TABLE tenants (
	id      text PRIMARY KEY,
	name    text NOT NULL,
	created timestamptz NOT NULL
);

CREATE TABLE tokens (
	id      text PRIMARY KEY,
	tenant  text NOT NULL, -- '' for operator tokens
	kind    text NOT NULL,
	name    text NOT NULL,
	hash    bytea NOT NULL UNIQUE,
	created timestamptz NOT NULL,
	expires timestamptz, -- NULL: never
	revoked timestamptz, -- NULL: not revoked
	rotated timestamptz  -- NULL: never rotated
);
CREATE INDEX tokens_by_tenant ON tokens (tenant, created, id);

-- Users and Groups share one table because ids are unique per tenant across both types
-- (a membership names its member by id alone). the *_key columns hold the NFC + lower-case fold that case-insensitive
-- filters compare, so no query ever applies a function to an indexed column.
CREATE TABLE resources (
	tenant           text NOT NULL,
	id               text COLLATE "C" NOT NULL,
	type             text NOT NULL,
	external_id      text COLLATE "C",  -- NULL when absent, so that sorting puts it last (RFC 7644 §3.4.2.3)
	user_name        text,
	user_name_key    text COLLATE "C",
	display_name     text,
	display_name_key text COLLATE "C",
	active           boolean NOT NULL,
	schemas          text[],
	attributes       bytea, -- the JSON document, byte for byte as the service layer wrote it
	created          timestamptz NOT NULL,
	last_modified    timestamptz NOT NULL,
	version          bigint NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX resources_user_name ON resources (tenant, user_name_key); -- NULL for groups
CREATE INDEX resources_by_created ON resources (tenant, type, created, id);
CREATE INDEX resources_by_external_id ON resources (tenant, external_id);
CREATE INDEX resources_by_display_name ON resources (tenant, display_name_key);
CREATE INDEX resources_by_last_modified ON resources (tenant, last_modified);

CREATE TABLE resource_emails (
	tenant      text NOT NULL,
	resource_id text COLLATE "C" NOT NULL,
	pos         integer NOT NULL,
	value       text COLLATE "C" NOT NULL, -- folded like user_name_key
	PRIMARY KEY (tenant, resource_id, pos),
	FOREIGN KEY (tenant, resource_id) REFERENCES resources (tenant, id) ON DELETE CASCADE
);
CREATE INDEX resource_emails_by_value ON resource_emails (tenant, value);

-- Membership rows have no foreign keys: the write path checks that members exist, and
-- DeleteResource removes both sides explicitly.
CREATE TABLE memberships (
	tenant      text NOT NULL,
	group_id    text COLLATE "C" NOT NULL,
	member_id   text COLLATE "C" NOT NULL,
	member_type text NOT NULL,
	PRIMARY KEY (tenant, group_id, member_id)
);
CREATE INDEX memberships_by_member ON memberships (tenant, member_id);

CREATE TABLE ledger_entries (
	tenant    text NOT NULL,
	seq       bigint NOT NULL,
	time      timestamptz NOT NULL,
	action    text NOT NULL,
	actor_id  text NOT NULL,
	target_id text NOT NULL,
	body      bytea, -- the hashed JCS bytes; retention may later set it NULL
	leaf_hash bytea NOT NULL,
	PRIMARY KEY (tenant, seq)
);
CREATE INDEX ledger_entries_by_actor ON ledger_entries (tenant, actor_id, seq);
CREATE INDEX ledger_entries_by_target ON ledger_entries (tenant, target_id, seq);

-- One row per tenant log. Its row lock is the per-tenant write lock (DESIGN.md §2).
CREATE TABLE ledger_heads (
	tenant text PRIMARY KEY,
	size   bigint NOT NULL,
	range  bytea NOT NULL
);

-- +goose Down
DROP TABLE ledger_heads;
DROP TABLE ledger_entries;
DROP TABLE memberships;
DROP TABLE resource_emails;
DROP TABLE resources;
DROP TABLE tokens;
DROP TABLE tenants;
