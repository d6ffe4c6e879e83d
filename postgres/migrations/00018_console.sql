-- The console issue's remaining state: when each checkpoint was signed, the tenant's
-- break-glass approval policy, and break-glass requests waiting for a second admin.

-- +goose Up
-- NULL for checkpoints signed before this column existed: their signing time is unknown.
ALTER TABLE checkpoints ADD COLUMN signed timestamptz;

-- '' means none: break-glass is granted at once.
ALTER TABLE tenant_settings ADD COLUMN break_glass_approval text NOT NULL DEFAULT '';

-- state is pending, approved or denied; a decided request keeps its row as history.
CREATE TABLE break_glass_requests (
	tenant        text COLLATE "C" NOT NULL,
	id            text COLLATE "C" NOT NULL,
	user_id       text NOT NULL,
	role          text NOT NULL,
	justification text NOT NULL,
	duration_s    bigint NOT NULL,
	requested_by  text NOT NULL,
	requested     timestamptz NOT NULL,
	state         text NOT NULL,
	decided_by    text NOT NULL DEFAULT '',
	decided       timestamptz,
	decision      text NOT NULL DEFAULT '',
	grant_id      text NOT NULL DEFAULT '',
	PRIMARY KEY (tenant, id)
);

-- +goose Down
DROP TABLE break_glass_requests;
ALTER TABLE tenant_settings DROP COLUMN break_glass_approval;
ALTER TABLE checkpoints DROP COLUMN signed;
