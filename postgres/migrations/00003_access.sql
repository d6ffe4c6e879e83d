-- The access model: roles catalogues, group→role mappings, grants, and access intervals
-- (who held which role through which path, from when until when).

-- +goose Up
-- tenant is '' for global roles. Retired roles keep their row so their id is never reused.
CREATE TABLE roles (
	tenant      text COLLATE "C" NOT NULL,
	id          text COLLATE "C" NOT NULL,
	name        text NOT NULL,
	description text NOT NULL,
	privileged  boolean NOT NULL,
	permissions text NOT NULL,
	created     timestamptz NOT NULL,
	retired     timestamptz,
	PRIMARY KEY (tenant, id)
);

CREATE TABLE role_mappings (
	tenant   text COLLATE "C" NOT NULL,
	id       text COLLATE "C" NOT NULL,
	group_id text COLLATE "C" NOT NULL,
	role     text COLLATE "C" NOT NULL,
	created  timestamptz NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX role_mappings_group ON role_mappings (tenant, group_id, role);

CREATE TABLE access_grants (
	tenant   text COLLATE "C" NOT NULL,
	id       text COLLATE "C" NOT NULL,
	user_id  text COLLATE "C" NOT NULL,
	role     text COLLATE "C" NOT NULL,
	kind     text NOT NULL,
	reason   text NOT NULL,
	by_actor text NOT NULL,
	created  timestamptz NOT NULL,
	expires  timestamptz,
	revoked  timestamptz,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX access_grants_user ON access_grants (tenant, user_id);

-- One row per (user, role, path) held over [from_at, to_at); to_at is NULL while held.
-- expires ends a break-glass interval at that instant even before to_at is written.
CREATE TABLE access_intervals (
	tenant   text COLLATE "C" NOT NULL,
	user_id  text COLLATE "C" NOT NULL,
	role     text COLLATE "C" NOT NULL,
	path_key text COLLATE "C" NOT NULL,
	path     text NOT NULL,
	from_at  timestamptz NOT NULL,
	to_at    timestamptz,
	expires  timestamptz
);
CREATE UNIQUE INDEX access_intervals_open ON access_intervals (tenant, user_id, role, path_key) WHERE to_at IS NULL;
CREATE INDEX access_intervals_user ON access_intervals (tenant, user_id, from_at);
CREATE INDEX access_intervals_role ON access_intervals (tenant, role, from_at);

-- Nested groups are read whole on every access recompute; this partial index holds only
-- the (few) memberships of groups in groups, so that read never scans user memberships.
CREATE INDEX memberships_nested ON memberships (tenant, group_id, member_id) WHERE member_type = 'Group';

-- +goose Down
DROP INDEX memberships_nested;
DROP TABLE access_intervals;
DROP TABLE access_grants;
DROP TABLE role_mappings;
DROP TABLE roles;
