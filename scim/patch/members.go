package patch

import (
	"net/url"
	"strings"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// isMembers reports whether t is a Group's members, which are rows, not document content.
func (a *applier) isMembers(t target) bool {
	return t.ext == "" && t.attr != nil && strings.EqualFold(a.rt.Schema.ID, schema.GroupSchema) &&
		t.attr.Name == "members"
}

// memberOp turns an operation on members into a MemberOp.
func (a *applier) memberOp(op string, t target, v any) error {
	if t.sub != nil {
		return invalid(scimtrail.ScimInvalidPath, "members.%s cannot be changed on its own; add or remove whole members", t.sub.Name)
	}
	if t.filter != nil && op != OpRemove {
		return invalid(scimtrail.ScimInvalidPath, "members[%s] can only be removed; to add members use path \"members\" with a list of {\"value\": id}", filter.String(t.filter))
	}
	switch op {
	case OpAdd:
		m, err := memberValues(v)
		if err != nil {
			return err
		}
		if len(m.Values) > 0 {
			m.Kind = MemberAdd
			a.members = append(a.members, m)
		}
	case OpReplace:
		m, err := memberValues(v)
		if err != nil {
			return err
		}
		m.Kind = MemberReplace
		if len(m.Values) == 0 {
			m = MemberOp{Kind: MemberRemoveAll}
		}
		a.members = append(a.members, m)
	case OpRemove:
		switch {
		case t.filter != nil:
			if ids, ok := valueEqs(t.filter); ok {
				a.members = append(a.members, MemberOp{Kind: MemberRemove, Values: ids, Types: make([]string, len(ids))})
			} else {
				a.members = append(a.members, MemberOp{Kind: MemberRemove, Filter: t.filter})
			}
		case v != nil:
			// Entra ID removes members with path "members" and a value listing them. Only
			// those go; a server that reads this as "remove all" empties the group.
			m, err := memberValues(v)
			if err != nil {
				return err
			}
			if len(m.Values) > 0 {
				m.Kind = MemberRemove
				a.members = append(a.members, m)
			}
		default:
			a.members = append(a.members, MemberOp{Kind: MemberRemoveAll})
		}
	}
	return nil
}

// memberValues reads a list of members ({"value": id, "type": "User"|"Group", …}), or one.
func memberValues(v any) (MemberOp, error) {
	var m MemberOp
	if v == nil {
		return m, nil
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	seen := make(map[string]bool, len(list))
	for i, el := range list {
		obj, ok := el.(map[string]any)
		if !ok {
			return m, invalid(scimtrail.ScimInvalidValue, "members[%d] must be an object such as {\"value\": \"<id>\"}, got %s", i, describe(el))
		}
		var id, typ, ref string
		for k, x := range obj {
			switch {
			case strings.EqualFold(k, "value"):
				s, ok := x.(string)
				if !ok || strings.TrimSpace(s) == "" {
					return m, invalid(scimtrail.ScimInvalidValue, "members[%d].value must be the member's id, a non-empty string", i)
				}
				id = s
			case strings.EqualFold(k, "type"):
				s, ok := x.(string)
				switch {
				case !ok && x != nil:
					return m, invalid(scimtrail.ScimInvalidValue, "members[%d].type must be \"User\" or \"Group\"", i)
				case strings.EqualFold(s, "User"):
					typ = "User"
				case strings.EqualFold(s, "Group"):
					typ = "Group"
				case s != "":
					return m, invalid(scimtrail.ScimInvalidValue, "members[%d].type is %q; it must be \"User\" or \"Group\"", i, s)
				}
			case strings.EqualFold(k, "$ref"):
				// $ref follows from value and is not stored; it stands in for a missing value.
				ref, _ = x.(string)
			case strings.EqualFold(k, "display"):
				// display is read-only: clients echo it from a GET.
			default:
				return m, invalid(scimtrail.ScimInvalidPath, "members[%d] has %q; a member has value, type, display and $ref", i, k)
			}
		}
		if id == "" {
			id, typ = MemberFromRef(ref, typ)
		}
		if id == "" {
			return m, invalid(scimtrail.ScimInvalidValue, "members[%d] has no \"value\": give the member's id", i)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		m.Values = append(m.Values, id)
		m.Types = append(m.Types, typ)
	}
	return m, nil
}

// valueEqs returns the ids of a filter made only of `value eq "id"` joined by "or".
func valueEqs(e filter.Expr) ([]string, bool) {
	switch e := e.(type) {
	case *filter.Logical:
		if e.Op != "or" {
			return nil, false
		}
		l, ok := valueEqs(e.Left)
		if !ok {
			return nil, false
		}
		r, ok := valueEqs(e.Right)
		return append(l, r...), ok
	case *filter.Compare:
		s, ok := e.Value.(string)
		if e.Op != filter.Eq || e.Path.Attr != "value" || !ok || s == "" {
			return nil, false
		}
		return []string{s}, true
	}
	return nil, false
}

// ElementSchema is the filter.Schema of one value of the multi-valued attribute attr, for
// evaluating a value filter against one value: Apply matches elements with it, and a
// caller runs MemberOp.Filter with ElementSchema of the Group's "members" against each
// current member as {"value": id, "type": "User", "display": name}.
func ElementSchema(attr *schema.Attribute) filter.Schema { return elementSchema{attr} }

// MemberFromRef reads a member's id and type from its "$ref" (RFC 7643 §4.2: "the URI
// corresponding to a SCIM resource that is a member of this Group"), for a member sent with
// a $ref and no value: the URI's path ends in /Users/{id} or /Groups/{id}. typ is the type
// the member already claimed; a $ref of another type, or of any other shape, gives "".
func MemberFromRef(ref, typ string) (id, refType string) {
	u, err := url.Parse(ref)
	if err != nil || ref == "" {
		return "", typ
	}
	parts := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	if len(parts) < 2 {
		return "", typ
	}
	switch kind := parts[len(parts)-2]; {
	case kind == "Users" && (typ == "" || strings.EqualFold(typ, "User")):
		refType = "User"
	case kind == "Groups" && (typ == "" || strings.EqualFold(typ, "Group")):
		refType = "Group"
	default:
		return "", typ
	}
	id, err = url.PathUnescape(parts[len(parts)-1])
	if err != nil || strings.TrimSpace(id) == "" {
		return "", typ
	}
	return id, refType
}
