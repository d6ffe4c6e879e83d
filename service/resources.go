package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
	"github.com/scimtrail/scimtrail/scim/dialect"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/patch"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// Page sizes: DefaultCount when the client names none, MaxResults at most (advertised as
// filter.maxResults in ServiceProviderConfig).
const (
	DefaultCount = 100
	MaxResults   = 1000
)

// FoldUserName is the key userName uniqueness is decided on: Unicode NFC, then lower case,
// so "Alice", "ALICE" and a decomposed "Alicé" all collide (RFC 7643 §4.1.1: userName is
// caseExact false). Backends fold filter values the same way.
func FoldUserName(s string) string { return filter.Fold(s) }

func dialectOf(o Origin) dialect.Dialect {
	if o.Dialect == "" {
		return dialect.Auto
	}
	return o.Dialect
}

// decodeObject parses a JSON request body that must be one object. Numbers stay
// json.Number so integers are never rounded.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "the request body is not a valid JSON object: %s", jsonProblem(err))
	}
	if doc == nil {
		return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "the request body must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "the request body has data after its JSON object")
	}
	return doc, nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return syn.Error() + " (at byte " + itoa(syn.Offset) + ")"
	case errors.As(err, &typ):
		return "expected an object, got " + typ.Value
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	}
	return err.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// memberInput is a member as a client sent it.
type memberInput struct {
	Value string
	Type  string // "User", "Group" or ""
}

// takeMembers removes "members" from a normalised Group document and returns them: members
// are stored as rows, not in the document.
func takeMembers(doc map[string]any) ([]memberInput, bool) {
	raw, ok := doc["members"]
	delete(doc, "members")
	if !ok {
		return nil, false
	}
	list, _ := raw.([]any)
	out := make([]memberInput, 0, len(list))
	for _, m := range list {
		mm, _ := m.(map[string]any)
		v, _ := mm["value"].(string)
		t, _ := mm["type"].(string)
		if v == "" {
			ref, _ := mm["$ref"].(string)
			v, t = patch.MemberFromRef(ref, t)
		}
		out = append(out, memberInput{Value: v, Type: t})
	}
	return out, true
}

// takePassword removes a password from a normalised User document. scimtrail does not sign
// anyone in, so it never keeps a password in any form; the ledger records only that one was
// set.
func takePassword(doc map[string]any) bool {
	_, ok := doc["password"]
	delete(doc, "password")
	return ok
}

// defaultActive makes a User's implicit "active": true explicit, so the stored document,
// what GET returns and the ledger's old/new values all agree on it.
func defaultActive(typ scimtrail.ResourceType, doc map[string]any) {
	if _, ok := doc["active"]; !ok && typ == scimtrail.UserResource {
		doc["active"] = true
	}
}

// buildResource fills a Resource's indexed columns from a normalised document.
func buildResource(tenant string, typ scimtrail.ResourceType, id string, doc map[string]any) (scimtrail.Resource, error) {
	r := scimtrail.Resource{Tenant: tenant, Type: typ, ID: id, Active: true}
	for _, s := range doc["schemas"].([]any) {
		r.Schemas = append(r.Schemas, s.(string))
	}
	r.ExternalID, _ = doc["externalId"].(string)
	r.DisplayName, _ = doc["displayName"].(string)
	if typ == scimtrail.UserResource {
		r.UserName, _ = doc["userName"].(string)
		r.UserNameKey = FoldUserName(r.UserName)
		if a, ok := doc["active"].(bool); ok {
			r.Active = a
		}
		if emails, ok := doc["emails"].([]any); ok {
			for _, e := range emails {
				if em, ok := e.(map[string]any); ok {
					if v, ok := em["value"].(string); ok && v != "" {
						r.Emails = append(r.Emails, strings.ToLower(v))
					}
				}
			}
		}
	}
	attrs := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "schemas" {
			attrs[k] = v
		}
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return r, err
	}
	r.Attributes = b
	return r, nil
}

// display is how a resource is named in ledger targets.
func display(r scimtrail.Resource) string {
	if r.Type == scimtrail.UserResource {
		return r.UserName
	}
	return r.DisplayName
}

func target(r scimtrail.Resource) *scimtrail.Target {
	return &scimtrail.Target{Type: string(r.Type), ID: r.ID, Display: display(r)}
}

func action(typ scimtrail.ResourceType, verb string) string {
	return strings.ToLower(string(typ)) + "." + verb
}

// diff lists attribute changes between two documents, descending into single-valued complex
// attributes and extensions so a change of name.givenName reads as exactly that.
func diff(old, new map[string]any) []scimtrail.Change {
	var out []scimtrail.Change
	diffInto(&out, "", old, new)
	slices.SortFunc(out, func(a, b scimtrail.Change) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func diffInto(out *[]scimtrail.Change, prefix string, old, new map[string]any) {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	for k := range keys {
		path := k
		if prefix != "" {
			sep := "."
			if isURN(prefix) {
				sep = ":"
			}
			path = prefix + sep + k
		}
		o, oOK := old[k]
		n, nOK := new[k]
		om, oIsMap := o.(map[string]any)
		nm, nIsMap := n.(map[string]any)
		if oIsMap && nIsMap {
			diffInto(out, path, om, nm)
			continue
		}
		if oOK && nOK && reflect.DeepEqual(o, n) {
			continue
		}
		c := scimtrail.Change{Path: path}
		if oOK {
			c.Old = o
		}
		if nOK {
			c.New = n
		}
		*out = append(*out, c)
	}
}

// isURN reports whether a diff prefix is an extension schema URN, whose attributes are
// written "urn:…:User:employeeNumber" rather than with a dot.
func isURN(prefix string) bool {
	return strings.HasPrefix(prefix, "urn:") && !strings.Contains(prefix, ".")
}

func toSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// resolveMembers checks that every member exists in the tenant (and has the type the
// client said, if it said one) and returns them as membership rows.
func resolveMembers(ctx context.Context, tx scimtrail.ReadTx, tenant, groupID string, in []memberInput) ([]scimtrail.Member, map[string]string, error) {
	ids := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, m := range in {
		if m.Value == "" {
			return nil, nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "every member needs a non-empty \"value\": the id of a User or Group")
		}
		if !seen[m.Value] {
			seen[m.Value] = true
			ids = append(ids, m.Value)
		}
	}
	refs, err := tx.LookupResources(ctx, tenant, ids)
	if err != nil {
		return nil, nil, err
	}
	found := make(map[string]scimtrail.MemberRef, len(refs))
	for _, r := range refs {
		found[r.Value] = r
	}
	displays := make(map[string]string, len(refs))
	out := make([]scimtrail.Member, 0, len(ids))
	for _, m := range in {
		ref, ok := found[m.Value]
		if !ok {
			return nil, nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "member %q does not exist in this tenant", m.Value)
		}
		if m.Type != "" && !strings.EqualFold(m.Type, string(ref.Type)) {
			return nil, nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "member %q is a %s, not a %s", m.Value, ref.Type, m.Type)
		}
		if m.Value == groupID {
			return nil, nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "a group cannot be a member of itself")
		}
		if seen[m.Value] {
			delete(seen, m.Value)
			out = append(out, scimtrail.Member{Value: m.Value, Type: ref.Type})
			displays[m.Value] = ref.Display
		}
	}
	return out, displays, nil
}

func memberEntry(g scimtrail.Resource, verb string, m scimtrail.Member, disp string) scimtrail.Entry {
	v := map[string]any{"value": m.Value, "type": string(m.Type)}
	if disp != "" {
		v["display"] = disp
	}
	c := scimtrail.Change{Path: "members"}
	if verb == "member_added" {
		c.New = v
	} else {
		c.Old = v
	}
	return scimtrail.Entry{Action: "group." + verb, Target: target(g), Changes: []scimtrail.Change{c}}
}

// applyMembers adds and removes membership rows and returns the ledger entries recording
// what really changed (set semantics: re-adding a member records nothing).
func applyMembers(ctx context.Context, tx scimtrail.Tx, g scimtrail.Resource, add []scimtrail.Member, displays map[string]string, remove []string) ([]scimtrail.Entry, error) {
	var entries []scimtrail.Entry
	if len(remove) > 0 {
		refs, err := tx.LookupResources(ctx, g.Tenant, remove)
		if err != nil {
			return nil, err
		}
		before := make(map[string]scimtrail.MemberRef, len(refs))
		for _, r := range refs {
			before[r.Value] = r
		}
		removed, err := tx.RemoveMembers(ctx, g.Tenant, g.ID, remove)
		if err != nil {
			return nil, err
		}
		slices.Sort(removed)
		for _, id := range removed {
			ref := before[id]
			entries = append(entries, memberEntry(g, "member_removed", scimtrail.Member{Value: id, Type: ref.Type}, ref.Display))
		}
	}
	if len(add) > 0 {
		added, err := tx.AddMembers(ctx, g.Tenant, g.ID, add)
		if err != nil {
			return nil, err
		}
		for _, m := range added {
			entries = append(entries, memberEntry(g, "member_added", m, displays[m.Value]))
		}
	}
	return entries, nil
}

func currentMemberIDs(ctx context.Context, tx scimtrail.ReadTx, tenant, groupID string) ([]scimtrail.MemberRef, error) {
	return tx.Members(ctx, tenant, groupID)
}

// userNameFree checks userName uniqueness inside the write transaction, so concurrent
// creates of "alice" and "ALICE" cannot both succeed.
func userNameFree(ctx context.Context, tx scimtrail.ReadTx, r scimtrail.Resource) error {
	if r.Type != scimtrail.UserResource {
		return nil
	}
	id, err := tx.UserIDByNameKey(ctx, r.Tenant, r.UserNameKey)
	if isNotFound(err) || (err == nil && id == r.ID) {
		return nil
	} else if err != nil {
		return err
	}
	return scimtrail.ScimErrorf(scimtrail.ECONFLICT, scimtrail.ScimUniqueness, "userName %q is already taken in tenant %s", r.UserName, r.Tenant)
}

func tenantExists(ctx context.Context, tx scimtrail.ReadTx, tenant string) error {
	if _, err := tx.Tenant(ctx, tenant); isNotFound(err) {
		return notFound("tenant", tenant)
	} else if err != nil {
		return err
	}
	return nil
}

// knownTenant is tenantExists for the hot write path: a tenant read once (by a write that
// then committed) is not read again, because no tenant is ever deleted. Each read is a
// statement inside the single SQLite writer, about 5% of a create's writer time.
func (s *Service) knownTenant(ctx context.Context, tx scimtrail.ReadTx, tenant string) error {
	if _, ok := s.tenants.Load(tenant); ok {
		return nil
	}
	return tenantExists(ctx, tx, tenant)
}

// tenantCommitted notes that a write to tenant committed, so the tenant exists for good.
func (s *Service) tenantCommitted(tenant string) {
	if _, ok := s.tenants.Load(tenant); !ok {
		s.tenants.Store(tenant, struct{}{})
	}
}

func loadResource(ctx context.Context, tx scimtrail.ReadTx, tenant string, typ scimtrail.ResourceType, id string) (scimtrail.Resource, error) {
	r, err := tx.Resource(ctx, tenant, typ, id)
	if isNotFound(err) {
		return r, notFound(string(typ), id)
	}
	return r, err
}

// view loads what rendering r needs beyond its row.
func view(ctx context.Context, tx scimtrail.ReadTx, r scimtrail.Resource) (View, error) {
	v := View{Resource: r}
	var err error
	switch r.Type {
	case scimtrail.GroupResource:
		v.Members, err = tx.Members(ctx, r.Tenant, r.ID)
	case scimtrail.UserResource:
		v.Groups, err = tx.MemberOf(ctx, r.Tenant, r.ID)
	}
	return v, err
}

// inWriteMembers is the most members a written group's response reads inside the write.
// Reading them there is cheapest for the usual group; reading 100k of them inside the
// SQLite writer, on every PATCH that adds one member, would hold every tenant's writes.
const inWriteMembers = 1000

// writtenView is the view a write returns, read inside its transaction: a user's groups
// (a few rows), a group's members when there are at most inWriteMembers; a bigger group's
// are left for withMembers, after the commit; none when the response leaves them out
// (WithoutMembers).
func writtenView(ctx context.Context, tx scimtrail.ReadTx, r scimtrail.Resource) (View, error) {
	if r.Type != scimtrail.GroupResource {
		return view(ctx, tx, r)
	}
	if !membersWanted(ctx) {
		return View{Resource: r}, nil
	}
	members, err := tx.MembersUpTo(ctx, r.Tenant, r.ID, inWriteMembers+1)
	if err != nil {
		return View{}, err
	}
	if len(members) > inWriteMembers {
		return View{Resource: r, membersLater: true}, nil
	}
	return View{Resource: r, Members: members}, nil
}

// createdMembers is a new group's members as Members reads them (ordered by value), or
// later = true when there are more than inWriteMembers.
func createdMembers(rows []scimtrail.Member, displays map[string]string) (refs []scimtrail.MemberRef, later bool) {
	if len(rows) > inWriteMembers {
		return nil, true
	}
	for _, m := range rows {
		refs = append(refs, scimtrail.MemberRef{Value: m.Value, Type: m.Type, Display: displays[m.Value]})
	}
	slices.SortFunc(refs, func(a, b scimtrail.MemberRef) int { return strings.Compare(a.Value, b.Value) })
	return refs, false
}

// withMembers completes a written group's view after the commit, from a read snapshot
// (which includes the commit). If the group changed again in between, the snapshot's newer
// version is returned whole, so a document always matches its ETag; if it was deleted in
// between, the view stays as written, without members.
func (s *Service) withMembers(ctx context.Context, v View, rc scimtrail.Receipt) (View, scimtrail.Receipt, error) {
	if !v.membersLater {
		return v, rc, nil
	}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		r, err := loadResource(ctx, tx, v.Resource.Tenant, v.Resource.Type, v.Resource.ID)
		if isNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		v, err = view(ctx, tx, r)
		return err
	})
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	return v, rc, nil
}

// CreateResource creates a User or Group from a SCIM body. Returns EINVALID (with the SCIM
// scimType) for a body that breaks the schema, ECONFLICT/uniqueness for a taken userName.
func (s *Service) CreateResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, body []byte) (View, scimtrail.Receipt, error) {
	tc, rt, err := s.writeConfig(ctx, tenant, typ)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	in, err := decodeObject(body)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	doc, err := rt.Normalize(dialect.NormalizeResource(dialectOf(o), rt, in))
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	if err := tc.checkPassword(doc); err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	passwordSet := takePassword(doc)
	members, _ := takeMembers(doc)
	defaultActive(typ, doc)
	r, err := buildResource(tenant, typ, newID(), doc)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	changes := diff(nil, attributesOf(doc))
	if passwordSet {
		changes = append(changes, scimtrail.Change{Path: "password"})
	}
	// Worked out here, outside the single writer: whether the new user is external, and
	// whether it can hold any access at all. A user created just now, under a new id, is in
	// no group and has no grant, so only its SCIM roles can give it access; without them
	// the recompute (which reads the tenant's roles) has nothing to do.
	var ext scimtrail.ExternalChange
	var isExternal, mayHold bool
	if typ == scimtrail.UserResource {
		ext, isExternal = externalChange(tc, nil, r)
		mayHold = len(access.SCIMRoles(r.Attributes)) > 0
	}
	var v View
	var rc scimtrail.Receipt
	err = s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := s.knownTenant(ctx, tx, tenant); err != nil {
			return err
		}
		// A taken userName needs no read first: the store's unique index refuses the
		// insert with the same ECONFLICT/uniqueness error.
		if err := checkDoc(ctx, tx, tc, rt, r, doc); err != nil {
			return err
		}
		at := s.stamp()
		r.Created, r.LastModified, r.Version = at, at, 1
		rows, displays, err := resolveMembers(ctx, tx, tenant, r.ID, members)
		if err != nil {
			return err
		}
		if err := tx.InsertResource(ctx, r); err != nil {
			return err
		}
		if err := storeUniqueValues(ctx, tx, rt, r, doc); err != nil {
			return err
		}
		entries := []scimtrail.Entry{{Action: action(typ, "created"), Target: target(r), Changes: changes}}
		memberEntries, err := applyMembers(ctx, tx, r, rows, displays, nil)
		if err != nil {
			return err
		}
		if isExternal { // external.go
			ext.At = at
			if err := tx.InsertExternalChanges(ctx, []scimtrail.ExternalChange{ext}); err != nil {
				return err
			}
		}
		if typ == scimtrail.GroupResource || mayHold {
			derived, err := s.accessAfterChange(ctx, tx, at, r, rows, nil)
			if err != nil {
				return err
			}
			memberEntries = append(memberEntries, derived...)
		}
		if rc, err = appendEntries(ctx, tx, tenant, o, at, append(entries, memberEntries...)...); err != nil {
			return err
		}
		// A user created just now, under a new id, is in no group yet: no MemberOf read. A
		// group's members are the rows just written, unless there are too many to render
		// inside the write.
		v = View{Resource: r}
		if typ == scimtrail.GroupResource {
			v.Members, v.membersLater = createdMembers(rows, displays)
		}
		return nil
	})
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	s.tenantCommitted(tenant)
	return s.withMembers(ctx, v, rc)
}

// attributesOf is doc without "schemas", for diffs.
func attributesOf(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "schemas" {
			out[k] = v
		}
	}
	return out
}

// Resource returns one resource with its members or groups. Returns ENOTFOUND, also for a
// resource of another tenant or type.
func (s *Service) Resource(ctx context.Context, tenant string, typ scimtrail.ResourceType, id string) (View, error) {
	if _, err := s.resourceType(ctx, tenant, typ); err != nil {
		return View{}, err
	}
	var v View
	if typ == scimtrail.UserResource {
		// A user and its groups in one statement, so no transaction is needed.
		err := s.store.Peek(ctx, func(tx scimtrail.ReadTx) error {
			r, groups, err := tx.UserWithGroups(ctx, tenant, id)
			if isNotFound(err) {
				return notFound(string(typ), id)
			}
			v = View{Resource: r, Groups: groups}
			return err
		})
		return v, err
	}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		r, err := loadResource(ctx, tx, tenant, typ, id)
		if err != nil {
			return err
		}
		v, err = view(ctx, tx, r)
		return err
	})
	return v, err
}

// updateAction names an update: deactivation and reactivation are called out because
// reviews look for exactly those.
func updateAction(old, new scimtrail.Resource) string {
	if old.Type == scimtrail.UserResource && old.Active != new.Active {
		if new.Active {
			return action(old.Type, "reactivated")
		}
		return action(old.Type, "deactivated")
	}
	return action(old.Type, "updated")
}

// commitUpdate stores next as the new state of cur when anything changed, applies member
// changes, and appends the entries. It is shared by PUT and PATCH. oldDoc is cur's stored
// document when the caller has decoded it already (PATCH), else nil.
func (s *Service) commitUpdate(ctx context.Context, tx scimtrail.Tx, o Origin, tc *tenantConfig, rt *schema.ResourceType, cur scimtrail.Resource, oldDoc, doc map[string]any, passwordSet bool,
	addMembers []scimtrail.Member, displays map[string]string, removeMembers []string) (View, scimtrail.Receipt, error) {
	next, err := buildResource(cur.Tenant, cur.Type, cur.ID, doc)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	if next.UserNameKey != cur.UserNameKey {
		if err := userNameFree(ctx, tx, next); err != nil {
			return View{}, scimtrail.Receipt{}, err
		}
	}
	if err := checkDoc(ctx, tx, tc, rt, next, doc); err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	if oldDoc == nil {
		if oldDoc, err = storedDoc(cur); err != nil {
			return View{}, scimtrail.Receipt{}, err
		}
	}
	changes := diff(attributesOf(oldDoc), attributesOf(doc))
	if !slices.Equal(cur.Schemas, next.Schemas) {
		changes = append(changes, scimtrail.Change{Path: "schemas", Old: cur.Schemas, New: next.Schemas})
	}
	if passwordSet {
		changes = append(changes, scimtrail.Change{Path: "password"})
	}
	at := s.stamp()
	next.Created, next.LastModified, next.Version = cur.Created, at, cur.Version+1
	memberEntries, err := applyMembers(ctx, tx, next, addMembers, displays, removeMembers)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	var entries []scimtrail.Entry
	if len(changes) > 0 {
		entries = append(entries, scimtrail.Entry{Action: updateAction(cur, next), Target: target(next), Changes: changes})
	}
	entries = append(entries, memberEntries...)
	if len(entries) == 0 {
		// Nothing changed (IdPs re-send the same state all the time): no new version, no
		// entry; the receipt names the log position the unchanged state is covered by.
		rc, err := appendEntries(ctx, tx, cur.Tenant, o, at)
		if err != nil {
			return View{}, scimtrail.Receipt{}, err
		}
		v, err := writtenView(ctx, tx, cur)
		return v, rc, err
	}
	if err := tx.UpdateResource(ctx, next); err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	if err := storeUniqueValues(ctx, tx, rt, next, doc); err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	// A change of the user's external status moves access when externals are barred.
	externalChanged, err := s.trackExternal(ctx, tx, at, &cur, next) // external.go
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	var derived []scimtrail.Entry
	if externalChanged || accessRelevant(cur, next, addMembers, removeMembers) {
		if derived, err = s.accessAfterChange(ctx, tx, at, next, addMembers, removeMembers); err != nil {
			return View{}, scimtrail.Receipt{}, err
		}
	}
	entries = append(entries, derived...)
	if derived, err = s.deprovisioned(ctx, tx, o, cur, &next, at, &entries[0]); err != nil { // nhi.go
		return View{}, scimtrail.Receipt{}, err
	}
	entries = append(entries, derived...)
	rc, err := appendEntries(ctx, tx, cur.Tenant, o, at, entries...)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	v, err := writtenView(ctx, tx, next)
	return v, rc, err
}

// accessRelevant reports whether updating cur to next can change anyone's effective access:
// a group's membership, or a user's active flag or SCIM roles. Names, emails, titles and
// the like never do, and skipping the recompute for them saves reading the tenant's roles
// and, when a role is live, its whole group graph and mappings on every such write.
// (Expiry does not depend on writes: ExpireAccess ends expired access on its own.)
func accessRelevant(cur, next scimtrail.Resource, added []scimtrail.Member, removed []string) bool {
	if len(added) > 0 || len(removed) > 0 {
		return true
	}
	if next.Type != scimtrail.UserResource {
		return false
	}
	return cur.Active != next.Active || !slices.Equal(access.SCIMRoles(cur.Attributes), access.SCIMRoles(next.Attributes))
}

// ReplaceResource replaces a resource with a SCIM PUT body (RFC 7644 §3.5.1): attributes
// left out are cleared, readOnly ones are ignored, a Group's members become exactly those
// sent. Returns ENOTFOUND, EPRECONDITION on an If-Match mismatch, EINVALID, ECONFLICT.
func (s *Service) ReplaceResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, body []byte, ifMatch string) (View, scimtrail.Receipt, error) {
	tc, rt, err := s.writeConfig(ctx, tenant, typ)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	in, err := decodeObject(body)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	if bodyID, ok := in["id"].(string); ok && bodyID != id {
		return View{}, scimtrail.Receipt{}, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimMutability, "id %q in the body does not match %q in the URL; id is immutable", bodyID, id)
	}
	doc, err := rt.Normalize(dialect.NormalizeResource(dialectOf(o), rt, in))
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	if err := tc.checkPassword(doc); err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	passwordSet := takePassword(doc)
	members, _ := takeMembers(doc)
	defaultActive(typ, doc)
	var v View
	var rc scimtrail.Receipt
	err = s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		cur, err := loadResource(ctx, tx, tenant, typ, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur); err != nil {
			return err
		}
		var add []scimtrail.Member
		var displays map[string]string
		var remove []string
		if typ == scimtrail.GroupResource {
			if add, displays, err = resolveMembers(ctx, tx, tenant, id, members); err != nil {
				return err
			}
			current, err := currentMemberIDs(ctx, tx, tenant, id)
			if err != nil {
				return err
			}
			want := map[string]bool{}
			for _, m := range add {
				want[m.Value] = true
			}
			for _, m := range current {
				if !want[m.Value] {
					remove = append(remove, m.Value)
				}
			}
		}
		v, rc, err = s.commitUpdate(ctx, tx, o, tc, rt, cur, nil, doc, passwordSet, add, displays, remove)
		return err
	})
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	return s.withMembers(ctx, v, rc)
}

// PatchResource applies a SCIM PATCH (RFC 7644 §3.5.2) atomically: every operation or none.
// Group member operations touch only the named membership rows. Returns ENOTFOUND,
// EPRECONDITION, EINVALID (invalidPath, noTarget, mutability, invalidValue…), ECONFLICT.
func (s *Service) PatchResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, body []byte, ifMatch string) (View, scimtrail.Receipt, error) {
	tc, rt, err := s.writeConfig(ctx, tenant, typ)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	ops, err := patch.ParseRequest(body)
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	// IdP dialects are normalised here, once, so the strict engine below sees only
	// standard SCIM (DESIGN.md §3, scim/dialect).
	if ops, err = dialect.NormalizePatch(dialectOf(o), rt, ops); err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	var v View
	var rc scimtrail.Receipt
	err = s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		cur, err := loadResource(ctx, tx, tenant, typ, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur); err != nil {
			return err
		}
		doc, err := storedDoc(cur)
		if err != nil {
			return err
		}
		res, err := patch.Apply(rt, doc, ops)
		if err != nil {
			return err
		}
		next, err := rt.Normalize(res.Doc)
		if err != nil {
			return err
		}
		if err := tc.checkPassword(next); err != nil {
			return err
		}
		passwordSet := takePassword(next)
		add, displays, remove, err := s.memberOps(ctx, tx, rt, cur, res.Members)
		if err != nil {
			return err
		}
		// patch.Apply worked on a deep copy, so doc is still cur's document.
		v, rc, err = s.commitUpdate(ctx, tx, o, tc, rt, cur, doc, next, passwordSet, add, displays, remove)
		return err
	})
	if err != nil {
		return View{}, scimtrail.Receipt{}, err
	}
	return s.withMembers(ctx, v, rc)
}

// memberOps turns PATCH member operations, in order, into one set of rows to add and ids
// to remove. Current members are loaded only for operations that need them (replace,
// remove all, remove by a filter other than value eq), so adding one member to a group of
// 100k reads nothing but that member.
func (s *Service) memberOps(ctx context.Context, tx scimtrail.ReadTx, rt *schema.ResourceType, g scimtrail.Resource, ops []patch.MemberOp) ([]scimtrail.Member, map[string]string, []string, error) {
	if len(ops) == 0 {
		return nil, nil, nil, nil
	}
	// state: id → present after the ops so far (true), removed (false); absent from the
	// map means unchanged from the stored set.
	state := map[string]bool{}
	types := map[string]string{}
	membersAttr, _ := rt.Lookup("", "members", "")
	memberSchema := patch.ElementSchema(membersAttr)
	var current []scimtrail.MemberRef
	loaded := false
	load := func() error {
		if loaded {
			return nil
		}
		var err error
		current, err = tx.Members(ctx, g.Tenant, g.ID)
		loaded = true
		return err
	}
	for _, op := range ops {
		switch op.Kind {
		case "add":
			for i, id := range op.Values {
				state[id] = true
				if i < len(op.Types) {
					types[id] = op.Types[i]
				}
			}
		case "remove":
			if op.Filter != nil {
				if err := load(); err != nil {
					return nil, nil, nil, err
				}
				for _, m := range current {
					if present, touched := state[m.Value]; touched && !present {
						continue
					}
					doc := map[string]any{"value": m.Value, "type": string(m.Type), "display": m.Display}
					if filter.Match(op.Filter, doc, memberSchema) {
						state[m.Value] = false
					}
				}
				for id, present := range state {
					if present && !slices.ContainsFunc(current, func(m scimtrail.MemberRef) bool { return m.Value == id }) {
						ref := map[string]any{"value": id, "type": types[id]}
						if filter.Match(op.Filter, ref, memberSchema) {
							state[id] = false
						}
					}
				}
				continue
			}
			for _, id := range op.Values {
				state[id] = false
			}
		case "remove_all", "replace":
			if err := load(); err != nil {
				return nil, nil, nil, err
			}
			for _, m := range current {
				state[m.Value] = false
			}
			for id := range state {
				state[id] = false
			}
			if op.Kind == "replace" {
				for i, id := range op.Values {
					state[id] = true
					if i < len(op.Types) {
						types[id] = op.Types[i]
					}
				}
			}
		default:
			return nil, nil, nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "unsupported members operation %q", op.Kind)
		}
	}
	var in []memberInput
	var remove []string
	for id, present := range state {
		if present {
			in = append(in, memberInput{Value: id, Type: types[id]})
		} else {
			remove = append(remove, id)
		}
	}
	slices.SortFunc(in, func(a, b memberInput) int { return strings.Compare(a.Value, b.Value) })
	slices.Sort(remove)
	add, displays, err := resolveMembers(ctx, tx, g.Tenant, g.ID, in)
	if err != nil {
		return nil, nil, nil, err
	}
	return add, displays, remove, nil
}

// DeleteResource deletes a resource and its memberships. Returns ENOTFOUND or EPRECONDITION.
func (s *Service) DeleteResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, ifMatch string) (scimtrail.Receipt, error) {
	if _, err := s.resourceType(ctx, tenant, typ); err != nil {
		return scimtrail.Receipt{}, err
	}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		cur, err := loadResource(ctx, tx, tenant, typ, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur); err != nil {
			return err
		}
		e := scimtrail.Entry{Action: action(typ, "deleted"), Target: target(cur)}
		// A deleted user's group memberships end with it; naming them keeps access
		// history answerable from the ledger alone.
		if typ == scimtrail.UserResource {
			groups, err := tx.MemberOf(ctx, tenant, id)
			if err != nil {
				return err
			}
			if len(groups) > 0 {
				ids := make([]any, len(groups))
				for i, g := range groups {
					ids[i] = g.Value
				}
				e.Changes = []scimtrail.Change{{Path: "groups", Old: ids}}
			}
		}
		at := s.stamp()
		afterDelete, err := s.accessBeforeDelete(ctx, tx, at, cur)
		if err != nil {
			return err
		}
		if err := tx.DeleteResource(ctx, tenant, typ, id); err != nil {
			return err
		}
		derived, err := afterDelete()
		if err != nil {
			return err
		}
		nhi, err := s.deprovisioned(ctx, tx, o, cur, nil, at, &e) // nhi.go
		if err != nil {
			return err
		}
		derived = append(derived, nhi...)
		rc, err = appendEntries(ctx, tx, tenant, o, at, append([]scimtrail.Entry{e}, derived...)...)
		return err
	})
	return rc, err
}

// sortable maps the sortBy names clients may use to the indexed attributes backends sort on.
var sortable = map[string]string{
	"id": "id", "externalid": "externalId", "username": "userName", "displayname": "displayName",
	"meta.created": "meta.created", "meta.lastmodified": "meta.lastModified",
}

// ListResources returns one page of a tenant's resources (RFC 7644 §3.4.2). Returns EINVALID
// with invalidFilter for a bad filter and invalidValue for an unsupported sortBy.
func (s *Service) ListResources(ctx context.Context, tenant string, typ scimtrail.ResourceType, q ListQuery) (ListResult, error) {
	rt, err := s.resourceType(ctx, tenant, typ)
	if err != nil {
		return ListResult{}, err
	}
	query := scimtrail.Query{Type: typ, StartIndex: max(q.StartIndex, 1), Count: q.Count}
	if query.Count < 0 {
		query.Count = DefaultCount
	}
	query.Count = min(query.Count, MaxResults)
	if q.Filter != "" {
		expr, err := parseFilter(q.Filter, rt)
		if err != nil {
			return ListResult{}, err
		}
		query.Filter = expr
		query.Match = func(r scimtrail.Resource) bool { return filter.Match(expr, filterDoc(r), rt) }
	}
	// memSort is set when sortBy names an attribute no backend indexes: the filtered set
	// is then sorted here, in memory, up to MaxSortMatches.
	var memSort *sortKey
	if q.SortBy != "" {
		name := strings.ToLower(q.SortBy)
		name = strings.TrimPrefix(name, strings.ToLower(rt.Schema.ID)+":")
		if sortBy, ok := sortable[name]; ok {
			query.SortBy = sortBy
		} else if memSort, err = parseSortKey(rt, q.SortBy); err != nil {
			return ListResult{}, err
		}
	}
	switch strings.ToLower(q.SortOrder) {
	case "", "ascending":
	case "descending":
		query.Descending = true
	default:
		return ListResult{}, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "sortOrder must be \"ascending\" or \"descending\", not %q", q.SortOrder)
	}
	if name, ok := userNameEq(query.Filter); ok && typ == scimtrail.UserResource && q.Cursor == nil && q.SortBy == "" &&
		query.StartIndex == 1 && query.Count > 0 {
		return s.userByName(ctx, tenant, name, q)
	}
	// Cursor pagination (RFC 9865): a keyset page of one more than asked for, so that
	// whether a next page exists is known without another query.
	var cur *cursorState
	qh := ""
	want := query.Count
	if q.Cursor != nil {
		if query.Keyset() == "" || memSort != nil {
			return ListResult{}, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
				"cursor pagination sorts by creation (no sortBy), meta.created or id; sortBy %q needs startIndex pagination", q.SortBy)
		}
		qh = queryHash(typ, q)
		if *q.Cursor != "" {
			st, err := s.decodeCursor(tenant, typ, qh, *q.Cursor)
			if err != nil {
				return ListResult{}, err
			}
			cur = &st
			query.After = &scimtrail.Position{Created: time.UnixMicro(st.Created).UTC(), ID: st.ID}
			if st.Backward {
				query.Descending = !query.Descending
			}
		}
		query.StartIndex = 1
		if want > 0 {
			query.Count = want + 1
		}
	}
	query.KeysOnly = q.Rendered != nil && memSort == nil
	res := ListResult{StartIndex: query.StartIndex}
	if q.Cursor != nil {
		res.StartIndex = 0
	}
	err = s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var page scimtrail.Page
		var err error
		if memSort != nil {
			page, err = sortedPage(ctx, tx, tenant, query, memSort, q.SortBy, s.maxSort)
		} else {
			page, err = tx.QueryResources(ctx, tenant, query)
		}
		if err != nil {
			return err
		}
		res.Total = page.Total
		if q.Cursor != nil {
			page.Resources = s.cursorPage(tenant, typ, qh, cur, want, page.Resources, &res)
		}
		if res.Views, err = viewPage(ctx, tx, tenant, typ, page.Resources, q); err != nil || !page.KeysOnly {
			return err
		}
		return completeViews(ctx, tx, tenant, typ, res.Views, q.Rendered, func() ([]scimtrail.Resource, error) {
			full := query
			full.KeysOnly = false
			p, err := tx.QueryResources(ctx, tenant, full)
			return p.Resources, err
		})
	})
	return res, err
}

// userNameEq returns the value of a filter that is exactly userName eq "value".
func userNameEq(e filter.Expr) (string, bool) {
	c, ok := e.(*filter.Compare)
	if !ok || c.Op != filter.Eq || !c.Path.Is("userName", "") || (c.Path.URN != "" && !strings.EqualFold(c.Path.URN, schema.UserSchema)) {
		return "", false
	}
	v, ok := c.Value.(string)
	return v, ok
}

// userByName answers filter=userName eq "…", the query every IdP sends to find out whether
// a user exists, with one statement and no transaction: userName is unique in a tenant
// (compared folded, as the filter compiler does), so the page is that user or nothing.
func (s *Service) userByName(ctx context.Context, tenant, name string, q ListQuery) (ListResult, error) {
	res := ListResult{StartIndex: 1}
	err := s.store.Peek(ctx, func(tx scimtrail.ReadTx) error {
		r, groups, err := tx.UserWithGroupsByName(ctx, tenant, FoldUserName(name))
		if isNotFound(err) {
			return tenantExists(ctx, tx, tenant) // no tenant is ENOTFOUND, not an empty page
		} else if err != nil {
			return err
		}
		if !shown("groups", q.Attributes, q.ExcludedAttributes) {
			groups = nil // as viewPage leaves them
		}
		res.Total, res.Views = 1, []View{{Resource: r, Groups: groups}}
		return nil
	})
	return res, err
}

// sortedPage answers a query sorted by an attribute that is not indexed: it counts the
// matches, refuses more than MaxSortMatches, reads them all in creation order, sorts them by
// k and cuts the page out. Cursor pagination never gets here (it needs a keyset).
func sortedPage(ctx context.Context, tx scimtrail.ReadTx, tenant string, q scimtrail.Query, k *sortKey, sortBy string, limit int) (scimtrail.Page, error) {
	all := q
	all.SortBy, all.Descending, all.StartIndex, all.Count = "", false, 1, 0
	counted, err := tx.QueryResources(ctx, tenant, all)
	if err != nil {
		return scimtrail.Page{}, err
	}
	if counted.Total > limit {
		return scimtrail.Page{}, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
			"sortBy %q is sorted in memory, which is offered for at most %d matches; this query matches %d. Add a filter that narrows it, or sort by id, externalId, userName, displayName, meta.created or meta.lastModified",
			sortBy, limit, counted.Total)
	}
	if q.Count == 0 {
		return counted, nil
	}
	all.Count = counted.Total
	page, err := tx.QueryResources(ctx, tenant, all)
	if err != nil {
		return scimtrail.Page{}, err
	}
	k.sortInMemory(page.Resources, q.Descending)
	start := min(max(q.StartIndex, 1)-1, len(page.Resources))
	end := min(start+q.Count, len(page.Resources))
	return scimtrail.Page{Total: page.Total, Resources: page.Resources[start:end]}, nil
}

// cursorPage trims a keyset page fetched with one extra row, puts a backward page back in
// the query's order, and sets the page's next and previous cursors.
func (s *Service) cursorPage(tenant string, typ scimtrail.ResourceType, qh string, cur *cursorState, want int, rows []scimtrail.Resource, res *ListResult) []scimtrail.Resource {
	more := len(rows) > want
	if more {
		rows = rows[:want]
	}
	backward := cur != nil && cur.Backward
	if backward {
		slices.Reverse(rows)
	}
	if len(rows) == 0 {
		return rows
	}
	mk := func(r scimtrail.Resource, back bool) string {
		p := scimtrail.PositionOf(r)
		return s.encodeCursor(cursorState{Tenant: tenant, Type: string(typ), Query: qh,
			Created: p.Created.UnixMicro(), ID: p.ID, Backward: back, Issued: s.now().Unix()})
	}
	// Going forward, a next page exists when the extra row came back, and a previous one
	// whenever this is not the first page; going backward, the other way round.
	if (!backward && more) || backward {
		res.NextCursor = mk(rows[len(rows)-1], false)
	}
	if (backward && more) || (!backward && cur != nil) {
		res.PreviousCursor = mk(rows[0], true)
	}
	return rows
}

// AuditEntries reads a tenant's ledger forward from after. limit ≤ 0 means 100; at most 1000.
func (s *Service) AuditEntries(ctx context.Context, tenant string, after int64, limit int, f scimtrail.EntryFilter) ([]scimtrail.StoredEntry, error) {
	if limit <= 0 {
		limit = DefaultCount
	}
	limit = min(limit, MaxResults)
	if after < 0 {
		return nil, scimtrail.Errorf(scimtrail.EINVALID, "after must not be negative")
	}
	var out []scimtrail.StoredEntry
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if tenant != scimtrail.SystemLog {
			if err := tenantExists(ctx, tx, tenant); err != nil {
				return err
			}
		}
		var err error
		out, err = tx.Entries(ctx, tenant, after, limit, f)
		return err
	})
	return out, err
}

// parseFilter parses and checks a SCIM filter against the resource type; errors are
// EINVALID with scimType invalidFilter.
func parseFilter(text string, rt *schema.ResourceType) (filter.Expr, error) {
	expr, err := filter.Parse(text)
	if err != nil {
		return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidFilter, "%s", err.Error())
	}
	if err := filter.Validate(expr, rt); err != nil {
		return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidFilter, "%s", err.Error())
	}
	return expr, nil
}
