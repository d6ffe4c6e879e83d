-- Checkpoint records and delivery leases of export sinks (docs/sinks.md).

-- +goose Up
-- checkpoint_size is the largest checkpoint record the receiver acknowledged. Existing
-- cursors start at their entry position, so an upgrade does not replay every checkpoint
-- ever signed to sinks that were already delivering.
ALTER TABLE sink_cursors ADD COLUMN checkpoint_size bigint NOT NULL DEFAULT 0;
UPDATE sink_cursors SET checkpoint_size = last_seq;

-- One row per sink: the replica delivering it and until when (the database's clock);
-- another replica takes the sink over only once expires has passed.
CREATE TABLE sink_leases (
	sink    text COLLATE "C" PRIMARY KEY,
	holder  text NOT NULL,
	expires timestamptz NOT NULL
);

-- +goose Down
DROP TABLE sink_leases;
ALTER TABLE sink_cursors DROP COLUMN checkpoint_size;
