-- Retention and legal hold of each tenant's log (ledger issue, item 6). Pruning drops entry
-- bodies only; leaf hashes, tiles and checkpoints stay, so every proof remains valid.
-- SQLite cannot drop ledger_entries.body's NOT NULL without rebuilding the table, so a
-- pruned body is stored as an empty blob, which no JCS entry can be; reads return nil.

-- +goose Up
CREATE TABLE ledger_retention (
    tenant      TEXT PRIMARY KEY,
    period_s    INTEGER NOT NULL,            -- 0: keep forever
    legal_hold  INTEGER NOT NULL,            -- 1: never prune
    pruned_to   INTEGER NOT NULL DEFAULT 0   -- every seq <= pruned_to has no body (C2SP minimum index)
);

-- +goose Down
DROP TABLE ledger_retention;
