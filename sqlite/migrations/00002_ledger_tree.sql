-- +goose Up
-- C2SP tiles of each tenant's Merkle tree (DESIGN.md §2): one row per tile position; the
-- partial tile of the right edge is overwritten as it grows.
CREATE TABLE ledger_tiles (
    tenant TEXT NOT NULL,
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (tenant, level, idx)
) WITHOUT ROWID;

-- Every signed checkpoint ever issued. The primary key makes two roots for one size
-- impossible to store.
CREATE TABLE checkpoints (
    tenant TEXT NOT NULL,
    size   INTEGER NOT NULL,
    root   BLOB NOT NULL,
    note   BLOB NOT NULL,
    PRIMARY KEY (tenant, size)
) WITHOUT ROWID;

-- Install-wide settings such as the install id, which names every log's origin.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE checkpoints;
DROP TABLE ledger_tiles;
