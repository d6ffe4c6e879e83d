-- Membership rows carry the display of both sides (the member's userName or displayName,
-- the group's displayName), so that a group's members and a user's groups are read from
-- memberships alone, without a join to resources per row (issue 8). Triggers keep the
-- copies exact in the transaction that renames a resource; AddMembers fills them on insert.
-- A rename takes row locks on the renamed resource's membership rows; writers of a tenant
-- already serialise on its ledger head row, so this adds no new lock ordering.
--
-- They also carry the member's creation time (fixed for a resource's life), indexed, so
-- the groups of a list page's users (a run in creation order) are one index range instead
-- of one lookup per user.
--
-- resource_counts.changes counts every insert and delete of a tenant's resources of a type,
-- so a list page can tell, in its own snapshot, whether the positions it remembered for
-- startIndex are still the positions (updates never move a resource).

-- +goose Up
ALTER TABLE memberships ADD COLUMN member_display text NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN group_display text NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN member_created timestamptz NOT NULL DEFAULT 'epoch';
UPDATE memberships m SET
    member_display = coalesce((SELECT CASE WHEN r.type = 'User' THEN r.user_name ELSE r.display_name END
        FROM resources r WHERE r.tenant = m.tenant AND r.id = m.member_id), ''),
    group_display = coalesce((SELECT r.display_name
        FROM resources r WHERE r.tenant = m.tenant AND r.id = m.group_id), ''),
    member_created = coalesce((SELECT r.created
        FROM resources r WHERE r.tenant = m.tenant AND r.id = m.member_id), 'epoch');
CREATE INDEX memberships_member_created ON memberships (tenant, member_created, member_id, group_id) INCLUDE (group_display);

-- +goose StatementBegin
CREATE FUNCTION resources_displays() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_display text := CASE WHEN OLD.type = 'User' THEN OLD.user_name ELSE OLD.display_name END;
    new_display text := CASE WHEN NEW.type = 'User' THEN NEW.user_name ELSE NEW.display_name END;
BEGIN
    IF new_display IS DISTINCT FROM old_display THEN
        UPDATE memberships SET member_display = new_display WHERE tenant = NEW.tenant AND member_id = NEW.id;
    END IF;
    IF NEW.type = 'Group' AND NEW.display_name IS DISTINCT FROM OLD.display_name THEN
        UPDATE memberships SET group_display = NEW.display_name WHERE tenant = NEW.tenant AND group_id = NEW.id;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER resources_displays AFTER UPDATE OF user_name, display_name ON resources
    FOR EACH ROW EXECUTE FUNCTION resources_displays();

ALTER TABLE resource_counts ADD COLUMN changes bigint NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION resources_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts (tenant, type, n, changes) VALUES (NEW.tenant, NEW.type, 1, 1)
            ON CONFLICT (tenant, type) DO UPDATE SET n = resource_counts.n + 1, changes = resource_counts.changes + 1;
    ELSE
        UPDATE resource_counts SET n = n - 1, changes = changes + 1 WHERE tenant = OLD.tenant AND type = OLD.type;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION resources_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
ALTER TABLE resource_counts DROP COLUMN changes;
DROP TRIGGER resources_displays ON resources;
DROP FUNCTION resources_displays();
DROP INDEX memberships_member_created;
ALTER TABLE memberships DROP COLUMN member_created;
ALTER TABLE memberships DROP COLUMN group_display;
ALTER TABLE memberships DROP COLUMN member_display;
