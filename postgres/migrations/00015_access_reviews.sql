-- Access reviews with reviewer decisions (access issue, item 8), and the seq of the
-- access.granted entry of each access interval, so reports cite it after retention pruned
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

-- +goose Down
DROP TABLE access_review_decisions;
DROP TABLE access_reviews;
ALTER TABLE access_intervals DROP COLUMN grant_seq;
