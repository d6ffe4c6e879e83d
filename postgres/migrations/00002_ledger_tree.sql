-- +goose Up
-- C2SP tiles of each tenant's Merkle tree (DESIGN.md §2): one row per tile position; the
-- partial tile of the right edge is overwritten as it grows.
CREATE TABLE ledger_tiles (
    tenant text NOT NULL,
    level  bigint NOT NULL,
    idx    bigint NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (tenant, level, idx)
);

-- Every signed checkpoint ever issued. The primary key makes two roots for one size
-- impossible to store.
CREATE TABLE checkpoints (
    tenant text NOT NULL,
    size   bigint NOT NULL,
    root   bytea NOT NULL,
    note   bytea NOT NULL,
    PRIMARY KEY (tenant, size)
);

-- Install-wide settings such as the install id, which names every log's origin.
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE checkpoints;
DROP TABLE ledger_tiles;
