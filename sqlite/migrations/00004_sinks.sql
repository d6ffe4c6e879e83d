-- Export sinks and their durable cursors (DESIGN.md §2 "The ledger is the outbox"): a sink
-- needs no outbox rows, only its position in each tenant's log.

-- +goose Up
-- tenant is '' for an operator's sink of all tenants. config is JSON without secrets;
-- secret is sealed with a key kept outside the database.
CREATE TABLE sinks (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    type       TEXT NOT NULL,
    config     BLOB NOT NULL,
    secret     BLOB,
    from_seq   INTEGER NOT NULL,
    state      TEXT NOT NULL,
    failures   INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE INDEX sinks_tenant ON sinks (tenant, created_us);

CREATE TABLE sink_cursors (
    sink     TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (sink, tenant)
);

-- +goose Down
DROP TABLE sink_cursors;
DROP TABLE sinks;
