-- Access reviews with reviewer decisions (access issue, item 8), external collaborators
-- (item 2), and the seq of the access.granted entry of each access interval, so reports cite it after retention pruned
-- the entry's body (intervals recorded before this migration keep NULL).

-- +goose Up
ALTER TABLE access_intervals ADD COLUMN grant_seq bigint;

CREATE TABLE access_reviews (
    tenant     text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    scope      text NOT NULL,
    roles      text NOT NULL, -- JSON array; null for scope all
    at         timestamptz NOT NULL,
    size       bigint NOT NULL,
    created_by text NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE access_review_decisions (
    tenant         text COLLATE "C" NOT NULL,
    review_id      text COLLATE "C" NOT NULL,
    user_id        text COLLATE "C" NOT NULL,
    role           text COLLATE "C" NOT NULL,
    decision       text NOT NULL,
    comment        text NOT NULL,
    decided_by     text NOT NULL,
    decided_at     timestamptz NOT NULL,
    seq            bigint NOT NULL,
    revoked_grants text NOT NULL, -- JSON array
    PRIMARY KEY (tenant, review_id, user_id, role)
);

-- External collaborators (access issue, item 2): the tenant's rule and policies, each
-- user's external status over time, and access a policy refused.
CREATE TABLE external_policies (
    tenant         text COLLATE "C" PRIMARY KEY,
    domains        text NOT NULL, -- JSON array
    bar_privileged boolean NOT NULL,
    grant_days     integer NOT NULL,
    updated        timestamptz NOT NULL
);

CREATE TABLE external_changes (
    tenant   text COLLATE "C" NOT NULL,
    user_id  text COLLATE "C" NOT NULL,
    changed_at timestamptz NOT NULL,
    external boolean NOT NULL,
    reason   text NOT NULL,
    PRIMARY KEY (tenant, user_id, changed_at)
);

-- Users the IdP already marked guest or external before statuses were kept.
INSERT INTO external_changes (tenant, user_id, changed_at, external, reason)
SELECT tenant, id, created, true, 'userType ' || lower(convert_from(attributes, 'UTF8')::jsonb ->> 'userType')
FROM resources WHERE type = 'User' AND attributes IS NOT NULL
    AND lower(convert_from(attributes, 'UTF8')::jsonb ->> 'userType') IN ('guest', 'external');

CREATE TABLE access_refusals (
    tenant   text COLLATE "C" NOT NULL,
    user_id  text COLLATE "C" NOT NULL,
    role     text COLLATE "C" NOT NULL,
    path_key text COLLATE "C" NOT NULL,
    path     text NOT NULL,
    reason   text NOT NULL,
    from_at  timestamptz NOT NULL,
    to_at    timestamptz,
    seq      bigint NOT NULL
);
CREATE UNIQUE INDEX access_refusals_open ON access_refusals (tenant, user_id, role, path_key) WHERE to_at IS NULL;
CREATE INDEX access_refusals_from ON access_refusals (tenant, from_at);

-- +goose Down
DROP TABLE access_refusals;
DROP TABLE external_changes;
DROP TABLE external_policies;
DROP TABLE access_review_decisions;
DROP TABLE access_reviews;
ALTER TABLE access_intervals DROP COLUMN grant_seq;
