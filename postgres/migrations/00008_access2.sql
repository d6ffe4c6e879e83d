-- Access, second part: who in the app granted an app role, non-human identities (service
-- accounts and their API keys), the tenant's NHI policy, and the scopes of delegated admin
-- tokens. Key hashes are SHA-256; secrets are never stored.

-- +goose Up
ALTER TABLE app_role_grants ADD COLUMN granted_by text NOT NULL DEFAULT '';

-- Deleted accounts keep their row (state 'deleted') so that their id is never reused.
CREATE TABLE service_accounts (
	tenant      text NOT NULL,
	id          text COLLATE "C" NOT NULL,
	name        text NOT NULL,
	description text NOT NULL,
	owner_id    text COLLATE "C" NOT NULL,
	state       text NOT NULL,
	flag        text NOT NULL,
	created     timestamptz NOT NULL,
	updated     timestamptz NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX service_accounts_owner ON service_accounts (tenant, owner_id);

CREATE TABLE nhi_keys (
	tenant      text NOT NULL,
	id          text COLLATE "C" NOT NULL,
	account_id  text COLLATE "C" NOT NULL,
	hash        bytea NOT NULL UNIQUE,
	created     timestamptz NOT NULL,
	expires     timestamptz,
	revoked     timestamptz,
	rotated     timestamptz,
	replaced_by text NOT NULL,
	last_used   timestamptz,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX nhi_keys_account ON nhi_keys (tenant, account_id);

CREATE TABLE nhi_policies (
	tenant         text PRIMARY KEY,
	owner_gone     text NOT NULL,
	max_key_age_us bigint NOT NULL,
	updated        timestamptz NOT NULL
);

CREATE TABLE token_scopes (
	token_id        text PRIMARY KEY,
	tenant          text NOT NULL,
	grantable_roles text NOT NULL,
	issue_tokens    boolean NOT NULL
);

-- +goose Down
DROP TABLE token_scopes;
DROP TABLE nhi_policies;
DROP TABLE nhi_keys;
DROP TABLE service_accounts;
ALTER TABLE app_role_grants DROP COLUMN granted_by;
