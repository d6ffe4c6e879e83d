package sqlite

import (
	"bytes"
	"container/list"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/internal/listpos"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// querier is what txn needs of *sql.Tx; both the writer's and View's transactions are one.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// txn implements scimtrail.Tx (and so ReadTx) over one SQL transaction. In View the
// connection is query_only, so the write methods fail there even if someone type-asserts.
type txn struct {
	q     querier
	tx    *sql.Tx              // nil in the writer, whose q is its connection
	w     *writerConn          // the writer's connection and statements (nil in View)
	cache *stmtCache           // View's prepared statements
	local map[string]*sql.Stmt // see txn.repeated
	// peek: no transaction (DB.Peek); statements run on the read pool's own statements.
	peek bool
	// buf, in the writer's batch transaction, holds the ledger tiles and heads written by
	// the batch's commands until just before COMMIT (nil elsewhere): see ledgerBuffer.
	buf *ledgerBuffer
	// bctx, in the writer's batch transaction, replaces the callers' contexts for
	// statements: once the writer has claimed a command it runs to completion (Update waits
	// for the real outcome anyway), and a cancellable context costs the driver a goroutine
	// and a progress handler per statement.
	bctx context.Context
	// pos, in read transactions, is the DB's remembered list positions (see seekPosition).
	pos *listpos.Index
}

// stmtCache keeps prepared statements by query text. Parsing SQL was about a third of the
// writer's CPU time before it: every statement was prepared anew per call. It holds at most
// stmtCacheSize texts, least recently used out first, so texts built per request (filters,
// IN lists of a page's ids) can go through it too without growing it without bound.
//
// A miss never waits: the caller runs its statement unprepared and a goroutine prepares it
// for next time. Preparing needs a connection of the pool, and the writer's only connection
// is busy inside the very transaction that missed, so waiting would deadlock.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	m       map[string]*list.Element // of *cachedStmt; front = most recently used
	lru     list.List
	pending map[string]bool
	closed  bool
	wg      sync.WaitGroup
}

// stmtCacheSize bounds the prepared statements of one pool. The fixed texts are about a
// hundred; the rest is room for filter shapes.
const stmtCacheSize = 512

// cachedStmt counts the callers between acquire and release, so that an evicted statement
// is closed only when nobody is about to bind it to a transaction. (Once bound with
// Tx.StmtContext, database/sql keeps the parent open until the transaction ends.)
type cachedStmt struct {
	query   string
	st      *sql.Stmt
	refs    int
	evicted bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*list.Element{}, pending: map[string]bool{}}
}

// acquire returns the statement for query, or nil (and starts preparing it) on a miss.
// A non-nil statement must be given back with release.
func (c *stmtCache) acquire(query string) *cachedStmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[query]; ok {
		c.lru.MoveToFront(el)
		cs := el.Value.(*cachedStmt)
		cs.refs++
		return cs
	}
	if !c.pending[query] && !c.closed {
		c.pending[query] = true
		c.wg.Go(func() { c.prepare(query) })
	}
	return nil
}

func (c *stmtCache) release(cs *cachedStmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.refs--
	if cs.evicted && cs.refs == 0 {
		cs.st.Close()
	}
}

func (c *stmtCache) prepare(query string) {
	st, err := c.db.PrepareContext(context.Background(), query)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, query)
	if err != nil {
		return // the statement keeps running unprepared; a later miss retries
	}
	if c.closed {
		st.Close()
		return
	}
	if _, ok := c.m[query]; ok {
		st.Close()
		return
	}
	c.m[query] = c.lru.PushFront(&cachedStmt{query: query, st: st})
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.m, old.query)
		old.evicted = true
		if old.refs == 0 {
			old.st.Close()
		}
	}
}

// close waits for preparations in flight and closes every statement. It must run before
// the pool closes, so that no preparation waits forever for a connection.
func (c *stmtCache) close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, el := range c.m {
		errs = append(errs, el.Value.(*cachedStmt).st.Close())
		delete(c.m, q)
	}
	c.lru.Init()
	return errors.Join(errs...)
}

// prepared returns the cached prepared statement for query bound to this transaction, or
// nil when it is not prepared yet. The cache is bounded (stmtCacheSize), so texts built per
// request may go through it; texts that never repeat (chunks of odd sizes) should not, as
// they would only push useful statements out.
func (t *txn) prepared(ctx context.Context, query string) *sql.Stmt {
	if t.w != nil {
		st, err := t.w.stmt(ctx, query)
		if err != nil {
			return nil // run unprepared: the statement reports its own error
		}
		return st
	}
	if cs := t.cache.acquire(query); cs != nil {
		defer t.cache.release(cs)
		return t.tx.StmtContext(ctx, cs.st)
	}
	return nil
}

// statementCtx is the context a statement runs with: the batch's in the writer.
func (t *txn) statementCtx(ctx context.Context) context.Context {
	if t.bctx != nil {
		return t.bctx
	}
	return ctx
}

func (t *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.statementCtx(ctx)
	if t.peek {
		return t.q.ExecContext(ctx, query, args...) // fails: the read pool is query_only
	}
	if st := t.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.q.ExecContext(ctx, query, args...)
}

func (t *txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.statementCtx(ctx)
	if t.peek {
		// Peek: the pool's statement, held until the call returns so that an eviction
		// cannot close it meanwhile (open rows keep it alive after that).
		if cs := t.cache.acquire(query); cs != nil {
			defer t.cache.release(cs)
			return cs.st.QueryContext(ctx, args...)
		}
		return t.q.QueryContext(ctx, query, args...)
	}
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.q.QueryContext(ctx, query, args...)
}

func (t *txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.statementCtx(ctx)
	if t.peek {
		if cs := t.cache.acquire(query); cs != nil { // as in query
			defer t.cache.release(cs)
			return cs.st.QueryRowContext(ctx, args...)
		}
		return t.q.QueryRowContext(ctx, query, args...)
	}
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.q.QueryRowContext(ctx, query, args...)
}

var _ scimtrail.Tx = (*txn)(nil)

// fold is the key case-insensitive attributes are compared and sorted by: filter.Fold, the
// same function callers use for UserNameKey and Emails and in-memory filters use.
func fold(s string) string { return filter.Fold(s) }

func micros(t time.Time) int64 { return t.UnixMicro() }

// ceilMicros rounds up, so "time >= Since" and "time < Until" stay exact on microsecond
// columns when the bound has a finer fraction.
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// optMicros stores a zero time as NULL, so "never" is not a date in year 1.
func optMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromOptMicros(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return fromMicros(us.Int64)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// uniqueViolation reports whether err is SQLite refusing a duplicate key.
func uniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

func dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	// A cancelled caller is not a database failure; keep it recognisable.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return internal("database error while "+what, err)
}

func notFound(format string, args ...any) error {
	return scimtrail.Errorf(scimtrail.ENOTFOUND, format, args...)
}

// Tenants.

func (t *txn) Tenant(ctx context.Context, id string) (scimtrail.Tenant, error) {
	tn := scimtrail.Tenant{ID: id}
	var created int64
	err := t.queryRow(ctx, `SELECT name, created_us FROM tenants WHERE id = ?`, id).Scan(&tn.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return scimtrail.Tenant{}, notFound("tenant %q does not exist", id)
	}
	if err != nil {
		return scimtrail.Tenant{}, dbErr("reading a tenant", err)
	}
	tn.Created = fromMicros(created)
	return tn, nil
}

func (t *txn) Tenants(ctx context.Context) ([]scimtrail.Tenant, error) {
	rows, err := t.query(ctx, `SELECT id, name, created_us FROM tenants ORDER BY id`)
	if err != nil {
		return nil, dbErr("listing tenants", err)
	}
	defer rows.Close()
	var out []scimtrail.Tenant
	for rows.Next() {
		var tn scimtrail.Tenant
		var created int64
		if err := rows.Scan(&tn.ID, &tn.Name, &created); err != nil {
			return nil, dbErr("listing tenants", err)
		}
		tn.Created = fromMicros(created)
		out = append(out, tn)
	}
	return out, dbErr("listing tenants", rows.Err())
}

func (t *txn) InsertTenant(ctx context.Context, tn scimtrail.Tenant) error {
	_, err := t.exec(ctx, `INSERT INTO tenants (id, name, created_us) VALUES (?, ?, ?)`,
		tn.ID, tn.Name, micros(tn.Created))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "tenant %q already exists", tn.ID)
	}
	return dbErr("creating a tenant", err)
}

// Tokens.

const tokenCols = `id, tenant, kind, name, hash, created_us, expires_us, revoked_us, rotated_us`

func scanToken(sc interface{ Scan(...any) error }) (scimtrail.Token, error) {
	var tk scimtrail.Token
	var kind string
	var created int64
	var expires, revoked, rotated sql.NullInt64
	if err := sc.Scan(&tk.ID, &tk.Tenant, &kind, &tk.Name, &tk.Hash, &created, &expires, &revoked, &rotated); err != nil {
		return scimtrail.Token{}, err
	}
	tk.Kind = scimtrail.TokenKind(kind)
	tk.Created = fromMicros(created)
	tk.Expires = fromOptMicros(expires)
	tk.Revoked = fromOptMicros(revoked)
	tk.Rotated = fromOptMicros(rotated)
	return tk, nil
}

func (t *txn) TokenByHash(ctx context.Context, hash []byte) (scimtrail.Token, error) {
	tk, err := scanToken(t.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return scimtrail.Token{}, notFound("no such token")
	}
	return tk, dbErr("reading a token", err)
}

func (t *txn) Token(ctx context.Context, id string) (scimtrail.Token, error) {
	tk, err := scanToken(t.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return scimtrail.Token{}, notFound("token %q does not exist", id)
	}
	return tk, dbErr("reading a token", err)
}

func (t *txn) Tokens(ctx context.Context, tenant string) ([]scimtrail.Token, error) {
	rows, err := t.query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE tenant = ? ORDER BY created_us, id`, tenant)
	if err != nil {
		return nil, dbErr("listing tokens", err)
	}
	return collect(rows, "listing tokens", scanToken)
}

func (t *txn) InsertToken(ctx context.Context, tk scimtrail.Token) error {
	_, err := t.exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tk.ID, tk.Tenant, string(tk.Kind), tk.Name, tk.Hash, micros(tk.Created),
		optMicros(tk.Expires), optMicros(tk.Revoked), optMicros(tk.Rotated))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "token %q already exists", tk.ID)
	}
	return dbErr("storing a token", err)
}

func (t *txn) UpdateToken(ctx context.Context, tk scimtrail.Token) error {
	res, err := t.exec(ctx, `UPDATE tokens SET hash = ?, name = ?, expires_us = ?, revoked_us = ?, rotated_us = ? WHERE id = ?`,
		tk.Hash, tk.Name, optMicros(tk.Expires), optMicros(tk.Revoked), optMicros(tk.Rotated), tk.ID)
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "token secret collides with another token")
	}
	return affectedOne(res, err, "updating a token", func() error { return notFound("token %q does not exist", tk.ID) })
}

func affectedOne(res sql.Result, err error, what string, missing func() error) error {
	if err != nil {
		return dbErr(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(what, err)
	}
	if n == 0 {
		return missing()
	}
	return nil
}

// Resources.

const resourceCols = `tenant, id, type, external_id, user_name, user_name_key, display_name, active,
	emails, schemas, attributes, created_us, last_modified_us, version`

func scanResource(sc interface{ Scan(...any) error }) (scimtrail.Resource, error) {
	var r scimtrail.Resource
	var typ string
	var active int
	var emails, schemas string
	var attrs []byte
	var created, modified int64
	err := sc.Scan(&r.Tenant, &r.ID, &typ, &r.ExternalID, &r.UserName, &r.UserNameKey, &r.DisplayName, &active,
		&emails, &schemas, &attrs, &created, &modified, &r.Version)
	if err != nil {
		return scimtrail.Resource{}, err
	}
	r.Type = scimtrail.ResourceType(typ)
	r.Active = active != 0
	var err2 error
	if r.Emails, err2 = decodeStrings(emails); err2 != nil {
		return scimtrail.Resource{}, fmt.Errorf("emails of %s: %w", r.ID, err2)
	}
	if r.Schemas, err2 = decodeStrings(schemas); err2 != nil {
		return scimtrail.Resource{}, fmt.Errorf("schemas of %s: %w", r.ID, err2)
	}
	if len(attrs) > 0 {
		r.Attributes = json.RawMessage(attrs)
	}
	r.Created = fromMicros(created)
	r.LastModified = fromMicros(modified)
	return r, nil
}

// decodeStrings decodes a JSON array of strings as jsonList wrote it. The usual value (a
// few plain strings: no escapes, no spaces) is split directly: json.Unmarshal of the
// schemas and emails columns was half of scanning a row, and a list page scans 100.
// Anything else goes to json.Unmarshal, so the result is always what it would give.
func decodeStrings(s string) ([]string, error) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && plainJSON(s) && utf8.ValidString(s) {
		body := s[1 : len(s)-1]
		if body == "" {
			return []string{}, nil
		}
		if len(body) >= 2 && body[0] == '"' && body[len(body)-1] == '"' {
			parts := strings.Split(body[1:len(body)-1], `","`)
			if !slices.ContainsFunc(parts, func(p string) bool { return strings.ContainsRune(p, '"') }) {
				return parts, nil
			}
		}
	}
	var out []string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}

// plainJSON reports whether s has no escapes, no whitespace and no control characters.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '\\' {
			return false
		}
	}
	return true
}

func jsonList(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ss) // a []string always marshals
	return string(b)
}

// resourceArgs are r's values in the order of resourceCols plus display_key.
func resourceArgs(r scimtrail.Resource) []any {
	attrs := []byte(r.Attributes)
	if attrs == nil {
		attrs = []byte{}
	}
	return []any{r.Tenant, r.ID, string(r.Type), r.ExternalID, r.UserName, r.UserNameKey, r.DisplayName,
		boolInt(r.Active), jsonList(r.Emails), jsonList(r.Schemas), attrs, micros(r.Created),
		micros(r.LastModified), r.Version, fold(r.DisplayName)}
}

func (t *txn) resourceConflict(err error, r scimtrail.Resource) error {
	if strings.Contains(err.Error(), "user_name_key") {
		return scimtrail.ScimErrorf(scimtrail.ECONFLICT, scimtrail.ScimUniqueness,
			"userName %q is already taken in tenant %s", r.UserName, r.Tenant)
	}
	return scimtrail.ScimErrorf(scimtrail.ECONFLICT, scimtrail.ScimUniqueness,
		"a resource with id %q already exists in tenant %s", r.ID, r.Tenant)
}

func (t *txn) Resource(ctx context.Context, tenant string, typ scimtrail.ResourceType, id string) (scimtrail.Resource, error) {
	r, err := scanResource(t.queryRow(ctx,
		`SELECT `+resourceCols+` FROM resources WHERE tenant = ? AND id = ? AND type = ?`, tenant, id, string(typ)))
	if errors.Is(err, sql.ErrNoRows) {
		return scimtrail.Resource{}, notFound("%s %q not found", typ, id)
	}
	return r, dbErr("reading a resource", err)
}

func (t *txn) UserIDByNameKey(ctx context.Context, tenant, key string) (string, error) {
	var id string
	err := t.queryRow(ctx,
		`SELECT id FROM resources WHERE tenant = ? AND user_name_key = ? AND type = 'User'`, tenant, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("no user with that userName")
	}
	return id, dbErr("looking up a userName", err)
}

// lookupChunk keeps IN lists well under SQLite's limit on host parameters.
const lookupChunk = 500

func (t *txn) LookupResources(ctx context.Context, tenant string, ids []string) ([]scimtrail.MemberRef, error) {
	var out []scimtrail.MemberRef
	for start := 0; start < len(ids); start += lookupChunk {
		chunk := ids[start:min(start+lookupChunk, len(ids))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, tenant)
		for _, id := range chunk {
			args = append(args, id)
		}
		// A few ids (a member PATCH's one or two, again and again) go through the statement
		// cache and, in the writer, the batch's context: preparing the text anew was most
		// of the lookup's cost. Longer lists are rarer and would crowd the cache.
		run := t.queryIn
		if len(chunk) <= 16 {
			run = t.query
		}
		rows, err := run(ctx, `SELECT id, type, CASE type WHEN 'User' THEN user_name ELSE display_name END
			FROM resources WHERE tenant = ? AND id IN (`+placeholders(len(chunk))+`) ORDER BY id`, args...)
		if err != nil {
			return nil, dbErr("looking up resources", err)
		}
		for rows.Next() {
			var ref scimtrail.MemberRef
			var typ string
			if err := rows.Scan(&ref.Value, &typ, &ref.Display); err != nil {
				rows.Close()
				return nil, dbErr("looking up resources", err)
			}
			ref.Type = scimtrail.ResourceType(typ)
			out = append(out, ref)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, dbErr("looking up resources", err)
		}
	}
	return out, nil
}

func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func (t *txn) InsertResource(ctx context.Context, r scimtrail.Resource) error {
	_, err := t.exec(ctx, `INSERT INTO resources (`+resourceCols+`, display_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, resourceArgs(r)...)
	if uniqueViolation(err) {
		return t.resourceConflict(err, r)
	}
	if err != nil {
		return dbErr("storing a resource", err)
	}
	return t.insertEmails(ctx, r)
}

func (t *txn) insertEmails(ctx context.Context, r scimtrail.Resource) error {
	for _, e := range r.Emails {
		// Duplicate values of one resource collapse into one index row.
		if _, err := t.exec(ctx, `INSERT INTO resource_emails (tenant, resource_id, value) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, r.Tenant, r.ID, e); err != nil {
			return dbErr("storing emails", err)
		}
	}
	return nil
}

func (t *txn) UpdateResource(ctx context.Context, r scimtrail.Resource) error {
	args := resourceArgs(r)
	// Most updates (active, a name part, the members of a group) leave every indexed
	// column and the emails alone. SQLite rewrites the entries of every index whose column
	// is SET, whatever the value, and the emails below are deleted and inserted again: a
	// dozen pages written to the WAL per update where one does. So first try an UPDATE that
	// sets only unindexed columns and matches only when the indexed ones and the emails are
	// unchanged; only if it matches nothing is the full update below needed.
	res, err := t.exec(ctx, `UPDATE resources SET user_name = ?, display_name = ?, active = ?, schemas = ?,
		attributes = ?, last_modified_us = ?, version = ?
		WHERE tenant = ? AND id = ? AND type = ? AND external_id = ? AND user_name_key = ? AND display_key = ?
			AND created_us = ? AND emails = ?`,
		args[4], args[6], args[7], args[9], args[10], args[12], args[13],
		args[0], args[1], args[2], args[3], args[5], args[14], args[11], args[8])
	if err != nil {
		return dbErr("updating a resource", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("updating a resource", err)
	} else if n == 1 {
		return nil
	}
	// SET every column but the key (tenant, id, type), which the WHERE clause matches.
	res, err = t.exec(ctx, `UPDATE resources SET external_id = ?, user_name = ?, user_name_key = ?,
		display_name = ?, active = ?, emails = ?, schemas = ?, attributes = ?, created_us = ?, last_modified_us = ?,
		version = ?, display_key = ? WHERE tenant = ? AND id = ? AND type = ?`,
		append(args[3:], args[0], args[1], args[2])...)
	if uniqueViolation(err) {
		return t.resourceConflict(err, r)
	}
	if err := affectedOne(res, err, "updating a resource", func() error { return notFound("%s %q not found", r.Type, r.ID) }); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM resource_emails WHERE tenant = ? AND resource_id = ?`, r.Tenant, r.ID); err != nil {
		return dbErr("updating emails", err)
	}
	return t.insertEmails(ctx, r)
}

func (t *txn) DeleteResource(ctx context.Context, tenant string, typ scimtrail.ResourceType, id string) error {
	res, err := t.exec(ctx, `DELETE FROM resources WHERE tenant = ? AND id = ? AND type = ?`, tenant, id, string(typ))
	if err := affectedOne(res, err, "deleting a resource", func() error { return notFound("%s %q not found", typ, id) }); err != nil {
		return err
	}
	for _, stmt := range []string{
		`DELETE FROM resource_emails WHERE tenant = ? AND resource_id = ?`,
		`DELETE FROM memberships WHERE tenant = ? AND group_id = ?`,
		`DELETE FROM memberships WHERE tenant = ? AND member_id = ?`,
		`DELETE FROM unique_values WHERE tenant = ? AND resource_id = ?`,
	} {
		if _, err := t.exec(ctx, stmt, tenant, id); err != nil {
			return dbErr("deleting a resource", err)
		}
	}
	return nil
}

// Memberships.

func (t *txn) Members(ctx context.Context, tenant, groupID string) ([]scimtrail.MemberRef, error) {
	return t.MembersUpTo(ctx, tenant, groupID, -1)
}

const membersSQL = `SELECT member_id, member_type, member_display FROM memberships
	WHERE tenant = ? AND group_id = ? ORDER BY member_id LIMIT ?`

// MembersUpTo reads at most limit members; a negative limit is no limit (SQLite's LIMIT -1).
func (t *txn) MembersUpTo(ctx context.Context, tenant, groupID string, limit int) ([]scimtrail.MemberRef, error) {
	return t.memberRefs(ctx, membersSQL, tenant, groupID, limit)
}

// memberOfSQL says INDEXED BY: without a join to resources, the planner (no ANALYZE
// statistics) preferred the primary key for its group_id order, scanning every membership
// of the tenant, 5,000 rows per GET of a user at 10k users (TestMembershipPlans).
const memberOfSQL = `SELECT group_id, 'Group', group_display FROM memberships INDEXED BY memberships_member
	WHERE tenant = ? AND member_id = ? ORDER BY group_id`

func (t *txn) MemberOf(ctx context.Context, tenant, memberID string) ([]scimtrail.MemberRef, error) {
	return t.memberRefs(ctx, memberOfSQL, tenant, memberID)
}

// userWithGroups reads a user and, in a correlated subquery of the same statement, its
// groups as MemberOf orders them, as a JSON array of [id, displayName] pairs.
const userWithGroups = `SELECT ` + resourceCols + `,
	(SELECT json_group_array(json_array(m.group_id, COALESCE(g.display_name, '')) ORDER BY m.group_id)
		FROM memberships m LEFT JOIN resources g ON g.tenant = m.tenant AND g.id = m.group_id
		WHERE m.tenant = r.tenant AND m.member_id = r.id)
	FROM resources r WHERE r.tenant = ? AND r.type = 'User' AND `

func (t *txn) UserWithGroups(ctx context.Context, tenant, id string) (scimtrail.Resource, []scimtrail.MemberRef, error) {
	r, groups, err := scanUserWithGroups(t.queryRow(ctx, userWithGroups+`r.id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil, notFound("User %q not found", id)
	}
	return r, groups, dbErr("reading a user", err)
}

func (t *txn) UserWithGroupsByName(ctx context.Context, tenant, key string) (scimtrail.Resource, []scimtrail.MemberRef, error) {
	r, groups, err := scanUserWithGroups(t.queryRow(ctx, userWithGroups+`r.user_name_key = ?`, tenant, key))
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil, notFound("no user with that userName")
	}
	return r, groups, dbErr("reading a user", err)
}

func scanUserWithGroups(row *sql.Row) (scimtrail.Resource, []scimtrail.MemberRef, error) {
	var groups []byte
	r, err := scanResource(scanFunc(func(dest ...any) error { return row.Scan(append(dest, &groups)...) }))
	if err != nil {
		return scimtrail.Resource{}, nil, err
	}
	refs, err := groupRefs(groups)
	if err != nil {
		return scimtrail.Resource{}, nil, fmt.Errorf("groups of %s: %w", r.ID, err)
	}
	return r, refs, nil
}

// scanFunc lets a function stand in for a row, so scanToken and scanResource can read
// their columns out of a wider row.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// tokenAndUser is the token by hash and, joined to it, userWithGroups's columns for one
// id. Without the user the join leaves NULLs, which COALESCE turns into values
// scanResource accepts; the user_found column tells the two cases apart.
const tokenAndUser = `SELECT t.id, t.tenant, t.kind, t.name, t.hash, t.created_us, t.expires_us, t.revoked_us, t.rotated_us,
	r.id IS NOT NULL,
	COALESCE(r.tenant, ''), COALESCE(r.id, ''), COALESCE(r.type, ''), COALESCE(r.external_id, ''), COALESCE(r.user_name, ''),
	COALESCE(r.user_name_key, ''), COALESCE(r.display_name, ''), COALESCE(r.active, 0), COALESCE(r.emails, '[]'),
	COALESCE(r.schemas, '[]'), COALESCE(r.attributes, x''), COALESCE(r.created_us, 0), COALESCE(r.last_modified_us, 0),
	COALESCE(r.version, 0),
	(SELECT json_group_array(json_array(m.group_id, COALESCE(g.display_name, '')) ORDER BY m.group_id)
		FROM memberships m LEFT JOIN resources g ON g.tenant = m.tenant AND g.id = m.group_id
		WHERE m.tenant = r.tenant AND m.member_id = r.id)
	FROM tokens t LEFT JOIN resources r ON r.tenant = ? AND r.type = 'User' AND r.id = ?
	WHERE t.hash = ?`

func (t *txn) TokenAndUser(ctx context.Context, hash []byte, tenant, id string) (tk scimtrail.Token, u scimtrail.Resource, groups []scimtrail.MemberRef, found bool, err error) {
	row := t.queryRow(ctx, tokenAndUser, tenant, id, hash)
	var groupsJSON []byte
	// scanToken's Scan runs scanResource, whose Scan reads the whole row.
	tk, err = scanToken(scanFunc(func(tokenDest ...any) error {
		var err error
		u, err = scanResource(scanFunc(func(userDest ...any) error {
			dest := append(append(append(tokenDest, &found), userDest...), &groupsJSON)
			return row.Scan(dest...)
		}))
		return err
	}))
	if errors.Is(err, sql.ErrNoRows) {
		return scimtrail.Token{}, scimtrail.Resource{}, nil, false, notFound("no such token")
	} else if err != nil {
		return scimtrail.Token{}, scimtrail.Resource{}, nil, false, dbErr("reading a token and a user", err)
	}
	if !found {
		return tk, scimtrail.Resource{}, nil, false, nil
	}
	if groups, err = groupRefs(groupsJSON); err != nil {
		return scimtrail.Token{}, scimtrail.Resource{}, nil, false, dbErr("reading a token and a user", fmt.Errorf("groups of %s: %w", u.ID, err))
	}
	return tk, u, groups, true, nil
}

// groupRefs decodes the [[id, displayName], …] array of userWithGroups. Most users are
// in no group or a few, so the empty array is not handed to encoding/json.
func groupRefs(b []byte) ([]scimtrail.MemberRef, error) {
	if len(b) == 0 || string(b) == "[]" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(b, &pairs); err != nil {
		return nil, err
	}
	refs := make([]scimtrail.MemberRef, len(pairs))
	for i, p := range pairs {
		refs[i] = scimtrail.MemberRef{Value: p[0], Type: scimtrail.GroupResource, Display: p[1]}
	}
	return refs, nil
}

func (t *txn) memberRefs(ctx context.Context, query string, args ...any) ([]scimtrail.MemberRef, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, dbErr("listing members", err)
	}
	defer rows.Close()
	var out []scimtrail.MemberRef
	for rows.Next() {
		var ref scimtrail.MemberRef
		var typ string
		if err := rows.Scan(&ref.Value, &typ, &ref.Display); err != nil {
			return nil, dbErr("listing members", err)
		}
		ref.Type = scimtrail.ResourceType(typ)
		out = append(out, ref)
	}
	return out, dbErr("listing members", rows.Err())
}

// AddMembers copies both sides' displays and the member's creation time into the row
// (migration 00023); the triggers there keep the displays current.
func (t *txn) AddMembers(ctx context.Context, tenant, groupID string, members []scimtrail.Member) ([]scimtrail.Member, error) {
	var added []scimtrail.Member
	for _, m := range members {
		res, err := t.exec(ctx, `INSERT INTO memberships (tenant, group_id, member_id, member_type, member_display, member_created_us, group_display)
			VALUES (?1, ?2, ?3, ?4,
				COALESCE((SELECT CASE type WHEN 'User' THEN user_name ELSE display_name END FROM resources WHERE tenant = ?1 AND id = ?3), ''),
				COALESCE((SELECT created_us FROM resources WHERE tenant = ?1 AND id = ?3), 0),
				COALESCE((SELECT display_name FROM resources WHERE tenant = ?1 AND id = ?2), ''))
			ON CONFLICT DO NOTHING`, tenant, groupID, m.Value, string(m.Type))
		if err != nil {
			return nil, dbErr("adding members", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, dbErr("adding members", err)
		} else if n > 0 {
			added = append(added, m)
		}
	}
	return added, nil
}

func (t *txn) RemoveMembers(ctx context.Context, tenant, groupID string, ids []string) ([]string, error) {
	var removed []string
	for _, id := range ids {
		res, err := t.exec(ctx, `DELETE FROM memberships WHERE tenant = ? AND group_id = ? AND member_id = ?`,
			tenant, groupID, id)
		if err != nil {
			return nil, dbErr("removing members", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, dbErr("removing members", err)
		} else if n > 0 {
			removed = append(removed, id)
		}
	}
	return removed, nil
}

// Ledger.

func (t *txn) LedgerHead(ctx context.Context, tenant string) (scimtrail.LedgerHead, error) {
	if h, ok := t.buf.head(tenant); ok {
		h.Range = bytes.Clone(h.Range)
		return h, nil
	}
	h := scimtrail.LedgerHead{Tenant: tenant}
	err := t.queryRow(ctx, `SELECT size, compact_range FROM ledger_heads WHERE tenant = ?`, tenant).Scan(&h.Size, &h.Range)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err == nil && t.buf != nil {
		t.buf.read[tenant] = scimtrail.LedgerHead{Tenant: tenant, Size: h.Size, Range: bytes.Clone(h.Range)}
	}
	return h, dbErr("reading the ledger head", err)
}

// AppendEntries checks that entries continue the stored head without a gap before writing:
// a wrong seq here would break every proof after it, so it is refused as ECONFLICT.
func (t *txn) AppendEntries(ctx context.Context, entries []scimtrail.StoredEntry, head scimtrail.LedgerHead) error {
	cur, err := t.LedgerHead(ctx, head.Tenant)
	if err != nil {
		return err
	}
	next := cur.Size + 1
	for _, e := range entries {
		if e.Tenant != head.Tenant || e.Seq != next {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "ledger entry %s/%d does not follow %s/%d", e.Tenant, e.Seq, head.Tenant, next-1)
		}
		next++
	}
	if head.Size != next-1 {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "ledger head size %d does not match the last appended seq %d", head.Size, next-1)
	}
	if _, err := t.execRows(ctx, `INSERT INTO ledger_entries
			(tenant, seq, time_us, action, actor_id, target_id, body, leaf_hash) VALUES `, `(?, ?, ?, ?, ?, ?, ?, ?)`, ``,
		len(entries), func(i int, args []any) []any {
			e := entries[i]
			return append(args, e.Tenant, e.Seq, micros(e.Time), e.Action, e.ActorID, e.TargetID, e.Body, e.LeafHash)
		}); err != nil {
		if uniqueViolation(err) {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "ledger entries %s/%d–%d already exist", head.Tenant, entries[0].Seq, head.Size)
		}
		return dbErr("appending ledger entries", err)
	}
	if t.buf != nil {
		t.buf.cmdHeads[head.Tenant] = scimtrail.LedgerHead{Tenant: head.Tenant, Size: head.Size, Range: bytes.Clone(head.Range)}
		return nil
	}
	return t.storeHead(ctx, head)
}

// storeHead writes a log's head row.
func (t *txn) storeHead(ctx context.Context, head scimtrail.LedgerHead) error {
	rng := head.Range
	if rng == nil {
		rng = []byte{}
	}
	_, err := t.exec(ctx, `INSERT INTO ledger_heads (tenant, size, compact_range) VALUES (?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET size = excluded.size, compact_range = excluded.compact_range`,
		head.Tenant, head.Size, rng)
	return dbErr("advancing the ledger head", err)
}

// Entries treats limit <= 0 as no limit.
func (t *txn) Entries(ctx context.Context, tenant string, after int64, limit int, f scimtrail.EntryFilter) ([]scimtrail.StoredEntry, error) {
	var b strings.Builder
	b.WriteString(`SELECT seq, time_us, action, actor_id, target_id, body, leaf_hash
		FROM ledger_entries WHERE tenant = ? AND seq > ?`)
	args := []any{tenant, after}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			// A prefix "user." is the half-open range ["user.", "user/"): '/' follows '.'.
			b.WriteString(` AND action >= ? AND action < ?`)
			args = append(args, f.Action, f.Action[:len(f.Action)-1]+"/")
		} else {
			b.WriteString(` AND action = ?`)
			args = append(args, f.Action)
		}
	}
	if f.ActorID != "" {
		b.WriteString(` AND actor_id = ?`)
		args = append(args, f.ActorID)
	}
	if f.TargetID != "" {
		b.WriteString(` AND target_id = ?`)
		args = append(args, f.TargetID)
	}
	if !f.Since.IsZero() {
		b.WriteString(` AND time_us >= ?`)
		args = append(args, ceilMicros(f.Since))
	}
	if !f.Until.IsZero() {
		b.WriteString(` AND time_us < ?`)
		args = append(args, ceilMicros(f.Until))
	}
	b.WriteString(` ORDER BY seq`)
	if limit > 0 {
		b.WriteString(` LIMIT ?`)
		args = append(args, limit)
	}
	rows, err := t.q.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, dbErr("reading ledger entries", err)
	}
	defer rows.Close()
	var out []scimtrail.StoredEntry
	for rows.Next() {
		if out == nil && limit > 0 {
			// Verify and export read pages of thousands: size the page once, not by growing.
			out = make([]scimtrail.StoredEntry, 0, min(limit, 4096))
		}
		// Every row is the tenant's (WHERE tenant = ?): no need to read the column back.
		e := scimtrail.StoredEntry{Tenant: tenant}
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Action, &e.ActorID, &e.TargetID, &e.Body, &e.LeafHash); err != nil {
			return nil, dbErr("reading ledger entries", err)
		}
		e.Time = fromMicros(at)
		if len(e.Body) == 0 {
			e.Body = nil // pruned: stored as an empty blob (migration 00009)
		}
		out = append(out, e)
	}
	return out, dbErr("reading ledger entries", rows.Err())
}

// collect scans every row with scan, closes rows, and names what in errors: the sqlite
// counterpart of pgx.CollectRows.
func collect[T any](rows *sql.Rows, what string, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, dbErr(what, err)
		}
		out = append(out, v)
	}
	return out, dbErr(what, rows.Err())
}
