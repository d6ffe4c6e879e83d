-- Export sinks and their durable cursors (DESIGN.md §2 "The ledger is the outbox"): a sink
-- needs no outbox rows, only its position in each tenant's log.

-- +goose Up
-- tenant is '' for an operator's sink of all tenants. config is JSON without secrets;
-- secret is sealed with a key kept outside the database.
CREATE TABLE sinks (
	id         text COLLATE "C" PRIMARY KEY,
	tenant     text COLLATE "C" NOT NULL,
	type       text NOT NULL,
	config     bytea NOT NULL,
	secret     bytea,
	from_seq   bigint NOT NULL,
	state      text NOT NULL,
	failures   integer NOT NULL,
	last_error text NOT NULL,
	created    timestamptz NOT NULL,
	updated    timestamptz NOT NULL
);
CREATE INDEX sinks_by_tenant ON sinks (tenant, created, id);

CREATE TABLE sink_cursors (
	sink     text COLLATE "C" NOT NULL,
	tenant   text COLLATE "C" NOT NULL,
	last_seq bigint NOT NULL,
	PRIMARY KEY (sink, tenant)
);

-- +goose Down
DROP TABLE sink_cursors;
DROP TABLE sinks;
