-- The access model: roles catalogues, group→role mappings, grants, and access intervals
-- (who held which role through which path, from when until when). Times are unix micros.

-- +goose Up
-- tenant is '' for global roles. Retired roles keep their row so their id is never reused.
CREATE TABLE roles (
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    privileged  INTEGER NOT NULL,
    permissions TEXT NOT NULL,
    created_us  INTEGER NOT NULL,
    retired_us  INTEGER,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE role_mappings (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX role_mappings_group ON role_mappings (tenant, group_id, role);

CREATE TABLE access_grants (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    by_actor   TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER,
    revoked_us INTEGER,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX access_grants_user ON access_grants (tenant, user_id);

-- One row per (user, role, path) held over [from_us, to_us); to_us is NULL while held.
-- expires_us ends a break-glass interval at that instant even before to_us is written.
CREATE TABLE access_intervals (
    tenant     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    path_key   TEXT NOT NULL,
    path       TEXT NOT NULL,
    from_us    INTEGER NOT NULL,
    to_us      INTEGER,
    expires_us INTEGER
);
CREATE UNIQUE INDEX access_intervals_open ON access_intervals (tenant, user_id, role, path_key) WHERE to_us IS NULL;
CREATE INDEX access_intervals_user ON access_intervals (tenant, user_id, from_us);
CREATE INDEX access_intervals_role ON access_intervals (tenant, role, from_us);

-- Nested groups are read whole on every access recompute; this partial index holds only
-- the (few) memberships of groups in groups, so that read never scans user memberships.
CREATE INDEX memberships_nested ON memberships (tenant, group_id, member_id) WHERE member_type = 'Group';

-- +goose Down
DROP INDEX memberships_nested;
DROP TABLE access_intervals;
DROP TABLE access_grants;
DROP TABLE role_mappings;
DROP TABLE roles;
