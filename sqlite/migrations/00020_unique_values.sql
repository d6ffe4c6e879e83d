-- Values of custom extension attributes whose uniqueness is "server" (RFC 7643 §2.2), so
-- that a write checks uniqueness with one indexed lookup. Keys are lower case (URNs and
-- attribute names compare case-insensitively); value_key is the value's comparison form.

-- +goose Up
CREATE TABLE unique_values (
    tenant      TEXT NOT NULL,
    type        TEXT NOT NULL,
    urn_key     TEXT NOT NULL,
    attr_key    TEXT NOT NULL,
    value_key   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    PRIMARY KEY (tenant, type, urn_key, attr_key, value_key)
);
CREATE INDEX unique_values_resource ON unique_values (tenant, resource_id);

-- +goose Down
DROP TABLE unique_values;
