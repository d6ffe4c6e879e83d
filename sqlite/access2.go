package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Non-human identities, NHI policies and token scopes (scimtrail.Access2ReadTx, Access2Tx).

const accountCols = `tenant, id, name, description, owner_id, state, flag, created_us, updated_us`

func scanAccount(sc interface{ Scan(...any) error }) (scimtrail.ServiceAccount, error) {
	var a scimtrail.ServiceAccount
	var created, updated int64
	err := sc.Scan(&a.Tenant, &a.ID, &a.Name, &a.Description, &a.OwnerID, &a.State, &a.Flag, &created, &updated)
	a.Created, a.Updated = fromMicros(created), fromMicros(updated)
	return a, err
}

func (t *txn) ServiceAccount(ctx context.Context, tenant, id string) (scimtrail.ServiceAccount, error) {
	a, err := scanAccount(t.queryRow(ctx, `SELECT `+accountCols+` FROM service_accounts WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("service account %q not found", id)
	}
	return a, dbErr("reading a service account", err)
}

func (t *txn) ServiceAccounts(ctx context.Context, tenant, ownerID string) ([]scimtrail.ServiceAccount, error) {
	var rows *sql.Rows
	var err error
	if ownerID == "" {
		rows, err = t.query(ctx, `SELECT `+accountCols+` FROM service_accounts WHERE tenant = ? ORDER BY id`, tenant)
	} else {
		rows, err = t.query(ctx, `SELECT `+accountCols+` FROM service_accounts WHERE tenant = ? AND owner_id = ? ORDER BY id`, tenant, ownerID)
	}
	if err != nil {
		return nil, dbErr("listing service accounts", err)
	}
	return collect(rows, "listing service accounts", scanAccount)
}

func (t *txn) InsertServiceAccount(ctx context.Context, a scimtrail.ServiceAccount) error {
	_, err := t.exec(ctx, `INSERT INTO service_accounts (`+accountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Tenant, a.ID, a.Name, a.Description, a.OwnerID, a.State, a.Flag, micros(a.Created), micros(a.Updated))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "service account id %q is taken", a.ID)
	}
	return dbErr("inserting a service account", err)
}

func (t *txn) UpdateServiceAccount(ctx context.Context, a scimtrail.ServiceAccount) error {
	res, err := t.exec(ctx, `UPDATE service_accounts SET name = ?, description = ?, owner_id = ?, state = ?, flag = ?, updated_us = ?
		WHERE tenant = ? AND id = ?`, a.Name, a.Description, a.OwnerID, a.State, a.Flag, micros(a.Updated), a.Tenant, a.ID)
	return affectedOne(res, err, "updating a service account", func() error { return notFound("service account %q not found", a.ID) })
}

const keyCols = `tenant, id, account_id, hash, created_us, expires_us, revoked_us, rotated_us, replaced_by, last_used_us`

func scanKey(sc interface{ Scan(...any) error }) (scimtrail.NHIKey, error) {
	var k scimtrail.NHIKey
	var created int64
	var expires, revoked, rotated, used sql.NullInt64
	err := sc.Scan(&k.Tenant, &k.ID, &k.AccountID, &k.Hash, &created, &expires, &revoked, &rotated, &k.ReplacedBy, &used)
	k.Created, k.Expires, k.Revoked, k.Rotated, k.LastUsed = fromMicros(created), fromOptMicros(expires), fromOptMicros(revoked), fromOptMicros(rotated), fromOptMicros(used)
	return k, err
}

func (t *txn) NHIKey(ctx context.Context, tenant, id string) (scimtrail.NHIKey, error) {
	k, err := scanKey(t.queryRow(ctx, `SELECT `+keyCols+` FROM nhi_keys WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, notFound("key %q not found", id)
	}
	return k, dbErr("reading a key", err)
}

func (t *txn) NHIKeyByHash(ctx context.Context, tenant string, hash []byte) (scimtrail.NHIKey, error) {
	k, err := scanKey(t.queryRow(ctx, `SELECT `+keyCols+` FROM nhi_keys WHERE hash = ? AND tenant = ?`, hash, tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return k, notFound("no such key")
	}
	return k, dbErr("reading a key", err)
}

func (t *txn) NHIKeys(ctx context.Context, tenant, accountID string) ([]scimtrail.NHIKey, error) {
	var rows *sql.Rows
	var err error
	if accountID == "" {
		rows, err = t.query(ctx, `SELECT `+keyCols+` FROM nhi_keys WHERE tenant = ? ORDER BY id`, tenant)
	} else {
		rows, err = t.query(ctx, `SELECT `+keyCols+` FROM nhi_keys WHERE tenant = ? AND account_id = ? ORDER BY id`, tenant, accountID)
	}
	if err != nil {
		return nil, dbErr("listing keys", err)
	}
	return collect(rows, "listing keys", scanKey)
}

func (t *txn) InsertNHIKey(ctx context.Context, k scimtrail.NHIKey) error {
	_, err := t.exec(ctx, `INSERT INTO nhi_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.Tenant, k.ID, k.AccountID, k.Hash, micros(k.Created), optMicros(k.Expires), optMicros(k.Revoked), optMicros(k.Rotated), k.ReplacedBy, optMicros(k.LastUsed))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "key id %q is taken", k.ID)
	}
	return dbErr("inserting a key", err)
}

func (t *txn) UpdateNHIKey(ctx context.Context, k scimtrail.NHIKey) error {
	res, err := t.exec(ctx, `UPDATE nhi_keys SET expires_us = ?, revoked_us = ?, rotated_us = ?, replaced_by = ?, last_used_us = ?
		WHERE tenant = ? AND id = ?`, optMicros(k.Expires), optMicros(k.Revoked), optMicros(k.Rotated), k.ReplacedBy, optMicros(k.LastUsed), k.Tenant, k.ID)
	return affectedOne(res, err, "updating a key", func() error { return notFound("key %q not found", k.ID) })
}

func (t *txn) NHIPolicy(ctx context.Context, tenant string) (scimtrail.NHIPolicy, error) {
	p := scimtrail.NHIPolicy{Tenant: tenant}
	var age, updated int64
	err := t.queryRow(ctx, `SELECT owner_gone, max_key_age_us, updated_us FROM nhi_policies WHERE tenant = ?`, tenant).Scan(&p.OwnerGone, &age, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	p.MaxKeyAge, p.Updated = time.Duration(age)*time.Microsecond, fromMicros(updated)
	return p, dbErr("reading the NHI policy", err)
}

func (t *txn) PutNHIPolicy(ctx context.Context, p scimtrail.NHIPolicy) error {
	_, err := t.exec(ctx, `INSERT INTO nhi_policies (tenant, owner_gone, max_key_age_us, updated_us) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET owner_gone = excluded.owner_gone, max_key_age_us = excluded.max_key_age_us, updated_us = excluded.updated_us`,
		p.Tenant, p.OwnerGone, p.MaxKeyAge.Microseconds(), micros(p.Updated))
	return dbErr("storing the NHI policy", err)
}

func (t *txn) TokenScope(ctx context.Context, tokenID string) (scimtrail.TokenScope, error) {
	var s scimtrail.TokenScope
	var roles string
	var issue int
	err := t.queryRow(ctx, `SELECT grantable_roles, issue_tokens FROM token_scopes WHERE token_id = ?`, tokenID).Scan(&roles, &issue)
	if errors.Is(err, sql.ErrNoRows) {
		return s, notFound("token %q has no scope", tokenID)
	}
	if err != nil {
		return s, dbErr("reading a token scope", err)
	}
	s.IssueTokens = issue != 0
	return s, json.Unmarshal([]byte(roles), &s.GrantableRoles)
}

func (t *txn) InsertTokenScope(ctx context.Context, tenant, tokenID string, s scimtrail.TokenScope) error {
	_, err := t.exec(ctx, `INSERT INTO token_scopes (token_id, tenant, grantable_roles, issue_tokens) VALUES (?, ?, ?, ?)`,
		tokenID, tenant, jsonList(s.GrantableRoles), boolInt(s.IssueTokens))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "token %q already has a scope", tokenID)
	}
	return dbErr("storing a token scope", err)
}
