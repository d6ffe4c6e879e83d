-- The vendor's app's own view of its users and roles, for the drift report (access issue,
-- item 9). Pages of one snapshot accumulate; the last page makes it current.

-- +goose Up
CREATE TABLE app_state_heads (
    tenant  TEXT PRIMARY KEY,
    current TEXT NOT NULL,
    pending TEXT NOT NULL,
    pages   INTEGER NOT NULL
);
CREATE TABLE app_state (
    tenant   TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    role     TEXT NOT NULL,
    PRIMARY KEY (tenant, snapshot, user_id, role)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE app_state;
DROP TABLE app_state_heads;
