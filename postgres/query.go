package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/internal/listpos"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// cond writes one SQL boolean expression; nil stands for "no constraint" (TRUE). Conditions
// are kept as closures until the query is assembled so that a subtree the compiler drops
// (the operand of an OR whose other side is unconstrained) leaves no unused placeholder
// behind, which PostgreSQL would reject as a parameter of unknown type.
//
// A cond may evaluate to NULL where a column is NULL; in WHERE, AND and OR that behaves as
// FALSE, and the one place it would not, NOT, is written as IS NOT TRUE.
type cond func(b *sqlBuilder)

func and(l, r cond) cond {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	}
	return func(b *sqlBuilder) {
		b.WriteString("(")
		l(b)
		b.WriteString(" AND ")
		r(b)
		b.WriteString(")")
	}
}

func or(l, r cond) cond {
	if l == nil || r == nil {
		return nil
	}
	return func(b *sqlBuilder) {
		b.WriteString("(")
		l(b)
		b.WriteString(" OR ")
		r(b)
		b.WriteString(")")
	}
}

func not(x cond) cond {
	if x == nil {
		return func(b *sqlBuilder) { b.WriteString("FALSE") }
	}
	return func(b *sqlBuilder) {
		b.WriteString("(")
		x(b)
		b.WriteString(") IS NOT TRUE")
	}
}

// compileFilter turns the indexed part of e into a SQL condition on the resources table
// (alias r). The condition holds for every resource e matches; exact reports whether it
// holds for those only. Where the translation could disagree with the in-memory evaluator
// (ne on possibly absent values, a value of the wrong type, attributes not indexed), the
// node is left unconstrained and inexact, and Query.Match has the last word.
func compileFilter(e filter.Expr, typ scimtrail.ResourceType) (c cond, exact bool) {
	switch e := e.(type) {
	case *filter.Logical:
		l, le := compileFilter(e.Left, typ)
		r, re := compileFilter(e.Right, typ)
		switch strings.ToLower(e.Op) {
		case "and":
			return and(l, r), le && re
		case "or":
			return or(l, r), le && re
		}
		return nil, false
	case *filter.Not:
		x, xe := compileFilter(e.X, typ)
		if !xe {
			// The complement of a superset is not a superset of the complement.
			return nil, false
		}
		return not(x), true
	case *filter.Compare:
		return compileCompare(e, typ)
	case *filter.ValuePath:
		if typ != scimtrail.UserResource || !corePath(e.Path, typ) || !e.Path.Is("emails", "") {
			return nil, false
		}
		inner, ok := compileEmailFilter(e.Filter)
		if !ok {
			return nil, false
		}
		return emailExists(inner), true
	}
	return nil, false
}

// compileEmailFilter compiles the filter inside emails[…], whose paths name sub-attributes
// of one email. Only value is indexed, so anything else makes the whole value path inexact.
func compileEmailFilter(e filter.Expr) (c cond, ok bool) {
	switch e := e.(type) {
	case *filter.Logical:
		l, lok := compileEmailFilter(e.Left)
		r, rok := compileEmailFilter(e.Right)
		if !lok || !rok {
			return nil, false
		}
		switch strings.ToLower(e.Op) {
		case "and":
			return and(l, r), true
		case "or":
			return or(l, r), true
		}
	case *filter.Not:
		x, ok := compileEmailFilter(e.X)
		if !ok {
			return nil, false
		}
		return not(x), true
	case *filter.Compare:
		if e.Path.URN != "" || !e.Path.Is("value", "") {
			return nil, false
		}
		return compileString("e.value", e.Op, e.Value, true)
	}
	return nil, false
}

func emailExists(inner cond) cond {
	return func(b *sqlBuilder) {
		b.WriteString("EXISTS (SELECT 1 FROM resource_emails e WHERE e.tenant = r.tenant AND e.resource_id = r.id")
		if inner != nil {
			b.WriteString(" AND ")
			inner(b)
		}
		b.WriteString(")")
	}
}

// corePath reports whether p is in the core schema of typ, written with or without its URN.
func corePath(p filter.AttrPath, typ scimtrail.ResourceType) bool {
	return p.URN == "" || strings.EqualFold(p.URN, "urn:ietf:params:scim:schemas:core:2.0:"+string(typ))
}

func compileCompare(e *filter.Compare, typ scimtrail.ResourceType) (cond, bool) {
	p := e.Path
	if !corePath(p, typ) {
		return nil, false
	}
	user := typ == scimtrail.UserResource
	switch {
	case p.Is("id", ""):
		return compileString("r.id", e.Op, e.Value, false)
	case p.Is("externalId", ""):
		return compileString("r.external_id", e.Op, e.Value, false)
	case p.Is("userName", "") && user:
		return compileString("r.user_name_key", e.Op, e.Value, true)
	case p.Is("displayName", ""):
		return compileString("r.display_name_key", e.Op, e.Value, true)
	case (p.Is("emails", "value") || p.Is("emails", "") && e.Value != nil && !ordering(e.Op)) && user:
		// emails compared without a sub-attribute compares their values (RFC 7644
		// §3.4.2.2); ordering operators on the whole attribute match nothing, so Match
		// gets those.
		return compileEmails(e.Op, e.Value)
	case p.Is("active", "") && user:
		v, ok := e.Value.(bool)
		if !ok || e.Op != filter.Eq {
			return nil, false
		}
		// The column holds the default (true) even when the document has no "active",
		// where the evaluator finds no value: the column narrows, Match decides.
		return func(b *sqlBuilder) {
			b.WriteString("r.active = ")
			b.arg(v)
		}, false
	case p.Is("meta", "lastModified"):
		return compileTime("r.last_modified", e.Op, e.Value)
	case p.Is("meta", "created"):
		return compileTime("r.created", e.Op, e.Value)
	}
	return nil, false
}

func ordering(op filter.Op) bool {
	switch filter.Op(strings.ToLower(string(op))) {
	case filter.Gt, filter.Ge, filter.Lt, filter.Le:
		return true
	}
	return false
}

// never is a condition no row meets.
func never(b *sqlBuilder) { b.WriteString("FALSE") }

// compileEmails compares the multi-valued emails.value: a comparison holds when any value
// meets it, and "ne" also holds when there is no value at all, as in the evaluator.
func compileEmails(op filter.Op, value any) (cond, bool) {
	present, _ := compileString("e.value", filter.Pr, nil, true)
	switch op := filter.Op(strings.ToLower(string(op))); {
	case op == filter.Eq && value == nil:
		return not(emailExists(present)), true
	case op == filter.Ne && value == nil:
		return emailExists(present), true
	case op == filter.Ne:
		v, ok := value.(string)
		if !ok {
			return nil, false
		}
		differs := func(b *sqlBuilder) {
			b.WriteString("e.value <> ")
			b.arg(fold(v))
		}
		return or(not(emailExists(present)), emailExists(differs)), true
	}
	c, ok := compileString("e.value", op, value, true)
	if !ok {
		return nil, false
	}
	return emailExists(c), true
}

// compileString compares a single-valued text column, NULL when the attribute is absent.
// Folded columns hold the NFC + lower-case key, so the operand is folded the same way;
// comparisons use the "C" collation, which orders UTF-8 by bytes exactly as Go compares
// strings, whatever the database's default collation is.
//
// As in the evaluator, "ne" holds for an absent value, "eq null" means absent and "ne null"
// present.
func compileString(col string, op filter.Op, value any, folded bool) (cond, bool) {
	op = filter.Op(strings.ToLower(string(op)))
	present := cond(func(b *sqlBuilder) { b.WriteString(col + " <> ''") })
	if op == filter.Pr {
		return present, true
	}
	if value == nil {
		switch op {
		case filter.Eq:
			return not(present), true
		case filter.Ne:
			return present, true
		}
		return never, true
	}
	v, ok := value.(string)
	if !ok {
		return nil, false
	}
	if folded {
		v = fold(v)
	}
	switch op {
	case filter.Eq:
		return func(b *sqlBuilder) {
			b.WriteString(col + " = ")
			b.arg(v)
		}, true
	case filter.Ne:
		eq, _ := compileString(col, filter.Eq, v, false)
		return not(eq), true
	case filter.Co:
		return func(b *sqlBuilder) {
			b.WriteString("strpos(" + col + ", ")
			b.arg(v)
			b.WriteString("::text) > 0")
		}, true
	case filter.Sw:
		return func(b *sqlBuilder) {
			b.WriteString("starts_with(" + col + ", ")
			b.arg(v)
			b.WriteString("::text)")
		}, true
	case filter.Ew:
		return func(b *sqlBuilder) {
			b.WriteString("right(" + col + ", ")
			b.arg(len([]rune(v)))
			b.WriteString("::integer) = ")
			b.arg(v)
		}, true
	}
	sqlOp, ok := orderOps[op]
	if !ok {
		return nil, false
	}
	return func(b *sqlBuilder) {
		b.WriteString(col + ` COLLATE "C" ` + sqlOp + " ")
		b.arg(v)
	}, true
}

// orderOps are the SQL operators of the SCIM ordering comparisons.
var orderOps = map[filter.Op]string{filter.Gt: ">", filter.Ge: ">=", filter.Lt: "<", filter.Le: "<="}

// compileTime compares a timestamptz column with an RFC 3339 operand. PostgreSQL keeps
// microseconds, so an operand with finer precision is left to Match rather than rounded.
func compileTime(col string, op filter.Op, value any) (cond, bool) {
	s, ok := value.(string)
	if !ok {
		return nil, false
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || v.Nanosecond()%1000 != 0 {
		return nil, false
	}
	op = filter.Op(strings.ToLower(string(op)))
	sqlOp, ok := orderOps[op]
	if op == filter.Eq {
		sqlOp, ok = "=", true
	}
	if !ok {
		return nil, false
	}
	return func(b *sqlBuilder) {
		b.WriteString(col + " " + sqlOp + " ")
		b.arg(v)
		b.WriteString("::timestamptz")
	}, true
}

// sortKeys are the orderings SortBy may name, each ending in id so that pages never
// overlap. Absent values are NULL, which PostgreSQL puts last ascending and first
// descending, as RFC 7644 §3.4.2.3 asks; descending is the exact reverse of ascending.
var sortKeys = []struct {
	attr, sub string
	typ       scimtrail.ResourceType // "" for both
	keys      []string
}{
	{"id", "", "", []string{`r.id`}},
	{"externalId", "", "", []string{`r.external_id`, `r.id`}},
	{"userName", "", scimtrail.UserResource, []string{`r.user_name_key`, `r.id`}},
	{"displayName", "", "", []string{`r.display_name_key`, `r.id`}},
	{"active", "", scimtrail.UserResource, []string{`r.active`, `r.id`}},
	{"meta", "created", "", []string{`r.created`, `r.id`}},
	{"meta", "lastModified", "", []string{`r.last_modified`, `r.id`}},
	// The least value stands for a multi-valued attribute, as in the sqlite backend.
	{"emails", "value", scimtrail.UserResource,
		[]string{`(SELECT min(e.value) FROM resource_emails e WHERE e.tenant = r.tenant AND e.resource_id = r.id)`, `r.id`}},
}

// keyset is the condition that seeks past q.After through the (tenant, type, created, id)
// index or the primary key; nil when q is not a keyset page.
func keyset(q scimtrail.Query) (cond, error) {
	if q.After == nil {
		return nil, nil
	}
	op := " > "
	if q.Descending {
		op = " < "
	}
	after := *q.After
	switch q.Keyset() {
	case "created":
		return func(b *sqlBuilder) {
			b.WriteString(" AND (r.created, r.id)" + op + "(")
			b.arg(after.Created)
			b.WriteString(", ")
			b.arg(after.ID)
			b.WriteString(")")
		}, nil
	case "id":
		return func(b *sqlBuilder) {
			b.WriteString(" AND r.id" + op)
			b.arg(after.ID)
		}, nil
	}
	return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
		"cursor pagination is in creation order or by id; sortBy %q needs startIndex pagination", q.SortBy)
}

// orderBy returns the ORDER BY clause for q: creation order when SortBy is empty.
func orderBy(q scimtrail.Query) (string, error) {
	keys := []string{`r.created`, `r.id`}
	if q.SortBy != "" {
		attr, sub, _ := strings.Cut(q.SortBy, ".")
		found := false
		for _, sk := range sortKeys {
			if strings.EqualFold(sk.attr, attr) && strings.EqualFold(sk.sub, sub) && (sk.typ == "" || sk.typ == q.Type) {
				keys, found = sk.keys, true
				break
			}
		}
		if !found {
			return "", scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "cannot sort %ss by %q", q.Type, q.SortBy)
		}
	}
	if q.Descending {
		keys = slices.Clone(keys)
		for i := range keys {
			keys[i] += " DESC"
		}
	}
	return " ORDER BY " + strings.Join(keys, ", "), nil
}

// uniqueEquality reports whether q's filter is an equality on a key unique per tenant: id,
// or a user's userName.
func uniqueEquality(q scimtrail.Query) bool {
	c, ok := q.Filter.(*filter.Compare)
	if !ok || !strings.EqualFold(string(c.Op), string(filter.Eq)) || !corePath(c.Path, q.Type) {
		return false
	}
	if _, ok := c.Value.(string); !ok {
		return false
	}
	return c.Path.Is("id", "") || c.Path.Is("userName", "") && q.Type == scimtrail.UserResource
}

// queryUnique answers a filter that is an equality on a key unique per tenant: one lookup
// by tenant and key, the type and the page applied to the row here. With neither ORDER BY
// nor the type in the SQL, the only index whose columns all match is the unique one, so the
// planner cannot walk resources_by_created instead, as it did on a table not yet analyzed
// (every equality then has the same default selectivity): 36 ms instead of 0.04 ms at
// 10k users.
func (t *tx) queryUnique(ctx context.Context, tenant string, q scimtrail.Query, where cond, start, count int) (scimtrail.Page, error) {
	var b sqlBuilder
	b.WriteString("SELECT " + resourceColumns + " FROM resources r WHERE r.tenant = ")
	b.arg(tenant)
	b.WriteString(" AND ")
	where(&b)
	rows, err := t.tx.Query(ctx, b.String(), b.args...)
	if err != nil {
		return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
	}
	defer rows.Close()
	var page scimtrail.Page
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
		}
		if r.Type != q.Type {
			continue
		}
		page.Total++
		if page.Total >= start && len(page.Resources) < count && q.IsAfter(r) {
			page.Resources = append(page.Resources, r)
		}
	}
	if err := rows.Err(); err != nil {
		return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
	}
	return page, nil
}

func (t *tx) QueryResources(ctx context.Context, tenant string, q scimtrail.Query) (scimtrail.Page, error) {
	where, exact := cond(nil), true
	if q.Filter != nil {
		where, exact = compileFilter(q.Filter, q.Type)
	}
	if q.Match == nil {
		// Nothing finer to apply: the SQL narrowing is all there is.
		exact = true
	}
	start := max(q.StartIndex, 1)
	count := max(q.Count, 0)
	if q.After != nil {
		start = 1
	}
	seek, err := keyset(q)
	if err != nil {
		return scimtrail.Page{}, err
	}

	from := func(b *sqlBuilder) {
		b.WriteString(" FROM resources r WHERE r.tenant = ")
		b.arg(tenant)
		b.WriteString(" AND r.type = ")
		b.arg(string(q.Type))
		if where != nil {
			b.WriteString(" AND ")
			where(b)
		}
	}
	order, err := orderBy(q)
	if err != nil {
		return scimtrail.Page{}, err
	}
	if exact && where != nil && uniqueEquality(q) {
		return t.queryUnique(ctx, tenant, q, where, start, count)
	}

	var page scimtrail.Page
	if exact {
		countQuery := func() (sqlBuilder, bool) {
			var b sqlBuilder
			if q.Filter == nil {
				// Every resource of the type: the trigger-kept count (migration 00013).
				b.WriteString("SELECT COALESCE((SELECT n FROM resource_counts WHERE tenant = ")
				b.arg(tenant)
				b.WriteString(" AND type = ")
				b.arg(string(q.Type))
				b.WriteString("), 0)")
				return b, true
			}
			b.WriteString("SELECT count(*)")
			from(&b)
			return b, false
		}
		// A filtered first page is read before counting: when it comes back short it is
		// every match, and the count(*) is not needed (see pageIsAll).
		counted := false
		offset := start - 1
		if q.Filter == nil {
			// With the count comes the insert/delete counter that remembered list
			// positions are valid for (migration 00023, package listpos).
			var changes int64
			err := t.tx.QueryRow(ctx, `SELECT n, changes FROM resource_counts WHERE tenant = $1 AND type = $2`,
				tenant, string(q.Type)).Scan(&page.Total, &changes)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
			}
			counted = true
			if count == 0 || page.Total < start {
				return page, nil
			}
			if q.After == nil && q.SortBy == "" && !q.Descending && start > 1 {
				after, skip, ok, err := t.seekPosition(ctx, tenant, q.Type, changes, start, page.Total)
				if err != nil {
					return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
				}
				if ok {
					offset = skip
					seek = func(b *sqlBuilder) {
						b.WriteString(" AND (r.created, r.id) > (")
						b.arg(time.UnixMicro(after.Created).UTC())
						b.WriteString(", ")
						b.arg(after.ID)
						b.WriteString(")")
					}
				}
			}
		} else if b, _ := countQuery(); count == 0 {
			if err := t.tx.QueryRow(ctx, b.String(), b.args...).Scan(&page.Total); err != nil {
				return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
			}
			return page, nil // count 0: only totalResults was asked for
		}
		b := sqlBuilder{}
		b.WriteString("SELECT " + resourceColumns)
		if offset > 0 {
			// OFFSET fetches every skipped row from the heap. Skipping in a subquery that
			// selects only the key lets PostgreSQL skip with an index-only scan and fetch
			// just the page: 370 ms → 88 ms at OFFSET 80,000 of 100k users.
			b.WriteString(" FROM resources r WHERE (r.tenant, r.id) IN (SELECT r.tenant, r.id")
		}
		from(&b)
		if seek != nil {
			seek(&b)
		}
		b.WriteString(order + " LIMIT ")
		b.arg(count)
		b.WriteString(" OFFSET ")
		b.arg(offset)
		if offset > 0 {
			b.WriteString(")" + order)
		}
		rows, err := t.tx.Query(ctx, b.String(), b.args...)
		if err != nil {
			return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanResource(rows)
			if err != nil {
				return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
			}
			page.Resources = append(page.Resources, r)
		}
		if err := rows.Err(); err != nil {
			return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
		}
		rows.Close() // the connection serves one statement at a time
		if !counted {
			if start == 1 && q.After == nil && len(page.Resources) < count {
				page.Total = len(page.Resources)
			} else {
				b, _ := countQuery()
				if err := t.tx.QueryRow(ctx, b.String(), b.args...).Scan(&page.Total); err != nil {
					return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
				}
			}
		}
		return page, nil
	}

	// Part of the filter is beyond SQL: read the narrowed rows in order as they stream in,
	// keep those Match accepts, and hold on only to the page.
	var b sqlBuilder
	b.WriteString("SELECT " + resourceColumns)
	from(&b)
	b.WriteString(order)
	rows, err := t.tx.Query(ctx, b.String(), b.args...)
	if err != nil {
		return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
		}
		if !q.Match(r) {
			continue
		}
		page.Total++
		if page.Total >= start && len(page.Resources) < count && q.IsAfter(r) {
			page.Resources = append(page.Resources, r)
		}
	}
	if err := rows.Err(); err != nil {
		return scimtrail.Page{}, fmt.Errorf("postgres: query %s: %w", q.Type, err)
	}
	return page, nil
}

// seekPosition finds the remembered position closest before start in creation order
// (package listpos), rebuilding the remembered positions in this snapshot when that has
// become worth it; ok=false leaves the page to a plain OFFSET. changes and n are the
// resource_counts row read in this transaction (View is REPEATABLE READ, one snapshot).
func (t *tx) seekPosition(ctx context.Context, tenant string, typ scimtrail.ResourceType, changes int64, start, n int) (listpos.Key, int, bool, error) {
	if t.pos == nil {
		return listpos.Key{}, 0, false, nil
	}
	after, skip, ok := t.pos.Seek(tenant, string(typ), changes, start)
	if ok || !t.pos.Stepped(tenant, string(typ), changes, start-1, n) {
		return after, skip, ok, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT created, id FROM resources WHERE tenant = $1 AND type = $2 ORDER BY created, id`,
		tenant, string(typ))
	if err != nil {
		return listpos.Key{}, 0, false, err
	}
	c := listpos.Collector{Step: listpos.Step(n)}
	var created time.Time
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&created, &id}, func() error {
		c.Add(listpos.Key{Created: created.UnixMicro(), ID: id})
		return nil
	}); err != nil {
		return listpos.Key{}, 0, false, err
	}
	t.pos.Store(tenant, string(typ), changes, c.Step, c.Keys)
	after, skip, ok = t.pos.Seek(tenant, string(typ), changes, start)
	return after, skip, ok, nil
}
