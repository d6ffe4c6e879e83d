-- How many resources of each type a tenant holds, kept by triggers in the transaction that
-- inserts or deletes them, so that a list page's totalResults (required by SCIM) is one row
-- read instead of a count(*) over every user of the tenant (issue 8). Writers of a tenant
-- already hold its ledger head row lock (taken first in every write transaction), so the
-- counter row adds no new lock ordering.

-- +goose Up
CREATE TABLE resource_counts (
    tenant text NOT NULL,
    type   text NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (tenant, type)
);
INSERT INTO resource_counts (tenant, type, n) SELECT tenant, type, count(*) FROM resources GROUP BY tenant, type;

-- +goose StatementBegin
CREATE FUNCTION resources_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts (tenant, type, n) VALUES (NEW.tenant, NEW.type, 1)
            ON CONFLICT (tenant, type) DO UPDATE SET n = resource_counts.n + 1;
    ELSE
        UPDATE resource_counts SET n = n - 1 WHERE tenant = OLD.tenant AND type = OLD.type;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER resources_counted AFTER INSERT OR DELETE ON resources
    FOR EACH ROW EXECUTE FUNCTION resources_count();

-- +goose Down
DROP TRIGGER resources_counted ON resources;
DROP FUNCTION resources_count();
DROP TABLE resource_counts;
