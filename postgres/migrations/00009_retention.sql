-- Retention and legal hold of each tenant's log (ledger issue, item 6). Pruning sets
-- ledger_entries.body to NULL; leaf hashes, tiles and checkpoints stay, so every proof
-- remains valid.

-- +goose Up
CREATE TABLE ledger_retention (
	tenant     text PRIMARY KEY,
	period_s   bigint NOT NULL,           -- 0: keep forever
	legal_hold boolean NOT NULL,          -- never prune while true
	pruned_to  bigint NOT NULL DEFAULT 0  -- every seq <= pruned_to has no body (C2SP minimum index)
);
ALTER TABLE ledger_entries ALTER COLUMN body DROP NOT NULL;

-- +goose Down
UPDATE ledger_entries SET body = '' WHERE body IS NULL;
ALTER TABLE ledger_entries ALTER COLUMN body SET NOT NULL;
DROP TABLE ledger_retention;
