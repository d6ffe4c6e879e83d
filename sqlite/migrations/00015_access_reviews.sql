-- Access reviews with reviewer decisions (access issue, item 8), and the seq of the
-- access.granted entry of each access interval, so reports cite it after retention pruned
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

-- +goose Down
DROP TABLE access_review_decisions;
DROP TABLE access_reviews;
ALTER TABLE access_intervals DROP COLUMN grant_seq;
