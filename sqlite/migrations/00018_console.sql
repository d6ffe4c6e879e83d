-- The console issue's remaining state: when each checkpoint was signed, the tenant's
-- break-glass approval policy, and break-glass requests waiting for a second admin.
-- Times are unix micros.

-- +goose Up
-- NULL for checkpoints signed before this column existed: their signing time is unknown.
ALTER TABLE checkpoints ADD COLUMN signed_us INTEGER;

-- '' means none: break-glass is granted at once.
ALTER TABLE tenant_settings ADD COLUMN break_glass_approval TEXT NOT NULL DEFAULT '';

-- state is pending, approved or denied; a decided request keeps its row as history.
CREATE TABLE break_glass_requests (
    tenant        TEXT NOT NULL,
    id            TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    role          TEXT NOT NULL,
    justification TEXT NOT NULL,
    duration_s    INTEGER NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_us  INTEGER NOT NULL,
    state         TEXT NOT NULL,
    decided_by    TEXT NOT NULL DEFAULT '',
    decided_us    INTEGER,
    decision      TEXT NOT NULL DEFAULT '',
    grant_id      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, id)
);

-- +goose Down
DROP TABLE break_glass_requests;
ALTER TABLE tenant_settings DROP COLUMN break_glass_approval;
ALTER TABLE checkpoints DROP COLUMN signed_us;
