package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

// Non-human identities, NHI policies and token scopes (scimtrail.Access2ReadTx, Access2Tx).

const accountCols = `tenant, id, name, description, owner_id, state, flag, created, updated`

func scanAccount(row pgx.Row) (scimtrail.ServiceAccount, error) {
	var a scimtrail.ServiceAccount
	err := row.Scan(&a.Tenant, &a.ID, &a.Name, &a.Description, &a.OwnerID, &a.State, &a.Flag, &a.Created, &a.Updated)
	a.Created, a.Updated = a.Created.UTC(), a.Updated.UTC()
	return a, err
}

func (t *tx) ServiceAccount(ctx context.Context, tenant, id string) (scimtrail.ServiceAccount, error) {
	a, err := scanAccount(t.tx.QueryRow(ctx, `SELECT `+accountCols+` FROM service_accounts WHERE tenant = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, notFound("service account %q not found", id)
	}
	if err != nil {
		return a, fmt.Errorf("postgres: read service account: %w", err)
	}
	return a, nil
}

func (t *tx) ServiceAccounts(ctx context.Context, tenant, ownerID string) ([]scimtrail.ServiceAccount, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+accountCols+` FROM service_accounts
		WHERE tenant = $1 AND ($2 = '' OR owner_id = $2) ORDER BY id`, tenant, ownerID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list service accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.ServiceAccount, error) { return scanAccount(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list service accounts: %w", err)
	}
	return out, nil
}

func (t *tx) InsertServiceAccount(ctx context.Context, a scimtrail.ServiceAccount) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO service_accounts (`+accountCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.Tenant, a.ID, a.Name, a.Description, a.OwnerID, a.State, a.Flag, a.Created, a.Updated)
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "service account id %q is taken", a.ID)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert service account: %w", err)
	}
	return nil
}

func (t *tx) UpdateServiceAccount(ctx context.Context, a scimtrail.ServiceAccount) error {
	tag, err := t.tx.Exec(ctx, `UPDATE service_accounts SET name = $1, description = $2, owner_id = $3, state = $4, flag = $5, updated = $6
		WHERE tenant = $7 AND id = $8`, a.Name, a.Description, a.OwnerID, a.State, a.Flag, a.Updated, a.Tenant, a.ID)
	return oneRow(tag.RowsAffected(), err, "update service account", func() error { return notFound("service account %q not found", a.ID) })
}

const keyCols = `tenant, id, account_id, hash, created, expires, revoked, rotated, replaced_by, last_used`

func scanKey(row pgx.Row) (scimtrail.NHIKey, error) {
	var k scimtrail.NHIKey
	var expires, revoked, rotated, used *time.Time
	err := row.Scan(&k.Tenant, &k.ID, &k.AccountID, &k.Hash, &k.Created, &expires, &revoked, &rotated, &k.ReplacedBy, &used)
	k.Created = k.Created.UTC()
	k.Expires, k.Revoked, k.Rotated, k.LastUsed = fromNullTime(expires), fromNullTime(revoked), fromNullTime(rotated), fromNullTime(used)
	return k, err
}

func (t *tx) NHIKey(ctx context.Context, tenant, id string) (scimtrail.NHIKey, error) {
	k, err := scanKey(t.tx.QueryRow(ctx, `SELECT `+keyCols+` FROM nhi_keys WHERE tenant = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, notFound("key %q not found", id)
	}
	if err != nil {
		return k, fmt.Errorf("postgres: read key: %w", err)
	}
	return k, nil
}

func (t *tx) NHIKeyByHash(ctx context.Context, tenant string, hash []byte) (scimtrail.NHIKey, error) {
	k, err := scanKey(t.tx.QueryRow(ctx, `SELECT `+keyCols+` FROM nhi_keys WHERE hash = $1 AND tenant = $2`, hash, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, notFound("no such key")
	}
	if err != nil {
		return k, fmt.Errorf("postgres: read key: %w", err)
	}
	return k, nil
}

func (t *tx) NHIKeys(ctx context.Context, tenant, accountID string) ([]scimtrail.NHIKey, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+keyCols+` FROM nhi_keys
		WHERE tenant = $1 AND ($2 = '' OR account_id = $2) ORDER BY id`, tenant, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.NHIKey, error) { return scanKey(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	return out, nil
}

func (t *tx) InsertNHIKey(ctx context.Context, k scimtrail.NHIKey) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO nhi_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.Tenant, k.ID, k.AccountID, k.Hash, k.Created, nullTime(k.Expires), nullTime(k.Revoked), nullTime(k.Rotated), k.ReplacedBy, nullTime(k.LastUsed))
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "key id %q is taken", k.ID)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert key: %w", err)
	}
	return nil
}

func (t *tx) UpdateNHIKey(ctx context.Context, k scimtrail.NHIKey) error {
	tag, err := t.tx.Exec(ctx, `UPDATE nhi_keys SET expires = $1, revoked = $2, rotated = $3, replaced_by = $4, last_used = $5
		WHERE tenant = $6 AND id = $7`, nullTime(k.Expires), nullTime(k.Revoked), nullTime(k.Rotated), k.ReplacedBy, nullTime(k.LastUsed), k.Tenant, k.ID)
	return oneRow(tag.RowsAffected(), err, "update key", func() error { return notFound("key %q not found", k.ID) })
}

func (t *tx) NHIPolicy(ctx context.Context, tenant string) (scimtrail.NHIPolicy, error) {
	p := scimtrail.NHIPolicy{Tenant: tenant}
	var age int64
	err := t.tx.QueryRow(ctx, `SELECT owner_gone, max_key_age_us, updated FROM nhi_policies WHERE tenant = $1`, tenant).Scan(&p.OwnerGone, &age, &p.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("postgres: read NHI policy: %w", err)
	}
	p.MaxKeyAge, p.Updated = time.Duration(age)*time.Microsecond, p.Updated.UTC()
	return p, nil
}

func (t *tx) PutNHIPolicy(ctx context.Context, p scimtrail.NHIPolicy) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO nhi_policies (tenant, owner_gone, max_key_age_us, updated) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant) DO UPDATE SET owner_gone = excluded.owner_gone, max_key_age_us = excluded.max_key_age_us, updated = excluded.updated`,
		p.Tenant, p.OwnerGone, p.MaxKeyAge.Microseconds(), p.Updated)
	if err != nil {
		return fmt.Errorf("postgres: store NHI policy: %w", err)
	}
	return nil
}

func (t *tx) TokenScope(ctx context.Context, tokenID string) (scimtrail.TokenScope, error) {
	var s scimtrail.TokenScope
	var roles string
	err := t.tx.QueryRow(ctx, `SELECT grantable_roles, issue_tokens FROM token_scopes WHERE token_id = $1`, tokenID).Scan(&roles, &s.IssueTokens)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("token %q has no scope", tokenID)
	}
	if err != nil {
		return s, fmt.Errorf("postgres: read token scope: %w", err)
	}
	return s, json.Unmarshal([]byte(roles), &s.GrantableRoles)
}

func (t *tx) InsertTokenScope(ctx context.Context, tenant, tokenID string, s scimtrail.TokenScope) error {
	roles := s.GrantableRoles
	if roles == nil {
		roles = []string{}
	}
	b, _ := json.Marshal(roles)
	_, err := t.tx.Exec(ctx, `INSERT INTO token_scopes (token_id, tenant, grantable_roles, issue_tokens) VALUES ($1, $2, $3, $4)`,
		tokenID, tenant, string(b), s.IssueTokens)
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "token %q already has a scope", tokenID)
	}
	if err != nil {
		return fmt.Errorf("postgres: store token scope: %w", err)
	}
	return nil
}
