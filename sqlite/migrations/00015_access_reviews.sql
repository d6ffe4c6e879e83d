-- Access reviews with reviewer decisions (access issue, item 8), external collaborators
-- (item 2), and the seq of the access.granted entry of each access interval, so reports cite it after retention pruned
-- the entry's body (intervals recorded before this migration keep NULL).

-- +goose Up
ALTER TABLE access_intervals ADD COLUMN grant_seq INTEGER;

CREATE TABLE access_reviews (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    scope      TEXT NOT NULL,
    roles      TEXT NOT NULL, -- JSON array; null for scope all
    at_us      INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE access_review_decisions (
    tenant         TEXT NOT NULL,
    review_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    role           TEXT NOT NULL,
    decision       TEXT NOT NULL,
    comment        TEXT NOT NULL,
    decided_by     TEXT NOT NULL,
    decided_us     INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    revoked_grants TEXT NOT NULL, -- JSON array
    PRIMARY KEY (tenant, review_id, user_id, role)
) WITHOUT ROWID;

-- External collaborators (access issue, item 2): the tenant's rule and policies, each
-- user's external status over time, and access a policy refused.
CREATE TABLE external_policies (
    tenant         TEXT PRIMARY KEY,
    domains        TEXT NOT NULL, -- JSON array
    bar_privileged INTEGER NOT NULL,
    grant_days     INTEGER NOT NULL,
    updated_us     INTEGER NOT NULL
);

CREATE TABLE external_changes (
    tenant   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    at_us    INTEGER NOT NULL,
    external INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id, at_us)
) WITHOUT ROWID;

-- Users the IdP already marked guest or external before statuses were kept.
INSERT INTO external_changes (tenant, user_id, at_us, external, reason)
SELECT tenant, id, created_us, 1, 'userType ' || lower(json_extract(CAST(attributes AS TEXT), '$.userType'))
FROM resources WHERE type = 'User' AND lower(json_extract(CAST(attributes AS TEXT), '$.userType')) IN ('guest', 'external');

CREATE TABLE access_refusals (
    tenant   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    role     TEXT NOT NULL,
    path_key TEXT NOT NULL,
    path     TEXT NOT NULL,
    reason   TEXT NOT NULL,
    from_us  INTEGER NOT NULL,
    to_us    INTEGER,
    seq      INTEGER NOT NULL
);
CREATE UNIQUE INDEX access_refusals_open ON access_refusals (tenant, user_id, role, path_key) WHERE to_us IS NULL;
CREATE INDEX access_refusals_from ON access_refusals (tenant, from_us);

-- +goose Down
DROP TABLE access_refusals;
DROP TABLE external_changes;
DROP TABLE external_policies;
DROP TABLE access_review_decisions;
DROP TABLE access_reviews;
ALTER TABLE access_intervals DROP COLUMN grant_seq;
