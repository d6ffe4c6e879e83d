// Package access is scimtrail's access model, pure over values: roles reach users through
// group→role mappings (across nested groups), direct grants, roles the IdP sends on the
// User, and break-glass grants. Effective computes every path by which a user holds each
// role (provenance), Diff turns the change between two states into grants and revocations,
// and History replays access.* ledger entries into intervals so any past instant can be
// answered from the log alone. No I/O, no clock: callers pass times.
package access

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Graph is a tenant's group nesting and its group→role mappings.
type Graph struct {
	parents  map[string][]string // group → groups that contain it directly
	children map[string][]string // group → groups it contains directly
	mapped   map[string][]string // group → roles mapped to it
}

// NewGraph builds the graph. Mappings to roles that live rejects (retired or unknown) are
// left out, so they grant nothing.
func NewGraph(edges []scimtrail.GroupEdge, mappings []scimtrail.RoleMapping, live func(role string) bool) *Graph {
	g := &Graph{parents: map[string][]string{}, children: map[string][]string{}, mapped: map[string][]string{}}
	for _, e := range edges {
		g.AddEdge(e.Parent, e.Child)
	}
	for _, m := range mappings {
		if live == nil || live(m.Role) {
			g.mapped[m.GroupID] = append(g.mapped[m.GroupID], m.Role)
		}
	}
	for k := range g.mapped {
		slices.Sort(g.mapped[k])
	}
	return g
}

// AddEdge records that parent contains child.
func (g *Graph) AddEdge(parent, child string) {
	if !slices.Contains(g.parents[child], parent) {
		g.parents[child] = append(g.parents[child], parent)
		g.children[parent] = append(g.children[parent], child)
	}
}

// AddMapping maps role onto group, as if the mapping were already stored; mapping it twice
// is mapping it once. The caller checks that the role is live.
func (g *Graph) AddMapping(group, role string) {
	if !slices.Contains(g.mapped[group], role) {
		g.mapped[group] = append(g.mapped[group], role)
		slices.Sort(g.mapped[group])
	}
}

// RemoveMapping unmaps role from group, as if the mapping were already deleted.
func (g *Graph) RemoveMapping(group, role string) {
	g.mapped[group] = slices.DeleteFunc(g.mapped[group], func(r string) bool { return r == role })
}

// RemoveGroup forgets a group and every edge and mapping it is part of.
func (g *Graph) RemoveGroup(id string) {
	for _, p := range g.parents[id] {
		g.children[p] = slices.DeleteFunc(g.children[p], func(c string) bool { return c == id })
	}
	for _, c := range g.children[id] {
		g.parents[c] = slices.DeleteFunc(g.parents[c], func(p string) bool { return p == id })
	}
	delete(g.parents, id)
	delete(g.children, id)
	delete(g.mapped, id)
}

// WouldCycle reports whether making child a member of parent would make a group contain
// itself: child is parent, or child already contains parent, directly or transitively.
func (g *Graph) WouldCycle(parent, child string) bool {
	if parent == child {
		return true
	}
	seen := map[string]bool{}
	stack := []string{parent}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range g.parents[n] {
			if p == child {
				return true
			}
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false
}

// Descendants returns the groups given and every group nested in them at any depth,
// sorted, once each.
func (g *Graph) Descendants(groups []string) []string {
	seen := map[string]bool{}
	stack := slices.Clone(groups)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		stack = append(stack, g.children[n]...)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Held is one path by which a user holds a role.
type Held struct {
	Role    string
	Path    scimtrail.AccessPath
	Expires time.Time // break-glass, and direct grants that expire
}

func (h Held) key() string { return h.Role + "|" + h.Path.Key() }

// Subject is what a user's effective access depends on besides the graph.
type Subject struct {
	Active    bool
	Groups    []string                 // direct groups
	SCIMRoles []string                 // roles[].value the IdP sent
	Grants    []scimtrail.Grant        // direct and break-glass grants not revoked
	AppGrants []scimtrail.AppRoleGrant // roles the vendor's app granted itself
}

// Effective returns every path by which the subject holds a live role at the instant at,
// sorted by role then path. A deactivated user holds nothing. Group paths list the user's
// own group first and the mapped group last; a group reached along two routes yields two
// paths, so removing one route never hides the other.
func Effective(g *Graph, s Subject, live func(role string) bool, at time.Time) []Held {
	if !s.Active {
		return nil
	}
	ok := func(role string) bool { return live == nil || live(role) }
	var out []Held
	var walk func(via []string)
	walk = func(via []string) {
		cur := via[len(via)-1]
		for _, r := range g.mapped[cur] {
			out = append(out, Held{Role: r, Path: scimtrail.AccessPath{Kind: scimtrail.PathGroup, Via: slices.Clone(via)}})
		}
		for _, p := range g.parents[cur] {
			if !slices.Contains(via, p) {
				walk(append(via, p))
			}
		}
	}
	for _, grp := range s.Groups {
		walk([]string{grp})
	}
	for _, r := range s.SCIMRoles {
		if ok(r) {
			out = append(out, Held{Role: r, Path: scimtrail.AccessPath{Kind: scimtrail.PathSCIM, Via: []string{}}})
		}
	}
	for _, gr := range s.Grants {
		if !gr.Revoked.IsZero() || !ok(gr.Role) {
			continue
		}
		switch gr.Kind {
		case scimtrail.GrantDirect:
			if gr.Expires.IsZero() || gr.Expires.After(at) {
				out = append(out, Held{Role: gr.Role, Path: scimtrail.AccessPath{Kind: scimtrail.PathDirect, Via: []string{}, Grant: gr.ID, By: gr.By}, Expires: gr.Expires})
			}
		case scimtrail.GrantBreakGlass:
			if gr.Expires.After(at) {
				out = append(out, Held{Role: gr.Role, Path: scimtrail.AccessPath{Kind: scimtrail.PathBreakGlass, Via: []string{}, Grant: gr.ID}, Expires: gr.Expires})
			}
		}
	}
	for _, ag := range s.AppGrants {
		if ok(ag.Role) {
			out = append(out, Held{Role: ag.Role, Path: AppGrantPath(ag)})
		}
	}
	slices.SortFunc(out, func(a, b Held) int { return strings.Compare(a.key(), b.key()) })
	return slices.CompactFunc(out, func(a, b Held) bool { return a.key() == b.key() })
}

// AppGrantPath is the path of a role the app granted itself: the grant is named by the seq
// of its app.role_granted entry, and By is who in the app granted it.
func AppGrantPath(g scimtrail.AppRoleGrant) scimtrail.AccessPath {
	return scimtrail.AccessPath{Kind: scimtrail.PathAppGrant, Via: []string{}, Grant: strconv.FormatInt(g.Seq, 10), By: g.By}
}

// SCIMRoles returns the roles[].value of a stored User document, once each.
func SCIMRoles(doc []byte) []string {
	if !mayHaveKey(doc, "roles") {
		return nil
	}
	var d struct {
		Roles []struct {
			Value string `json:"value"`
		} `json:"roles"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return nil
	}
	var out []string
	for _, r := range d.Roles {
		if r.Value != "" && !slices.Contains(out, r.Value) {
			out = append(out, r.Value)
		}
	}
	return out
}

// Diff compares a user's open intervals with the paths the user should hold and returns
// the paths to grant and the intervals to close.
func Diff(open []scimtrail.AccessInterval, want []Held) (grant []Held, revoke []scimtrail.AccessInterval) {
	have := map[string]bool{}
	for _, iv := range open {
		have[iv.Role+"|"+iv.Path.Key()] = true
	}
	wanted := map[string]bool{}
	for _, h := range want {
		wanted[h.key()] = true
		if !have[h.key()] {
			grant = append(grant, h)
		}
	}
	for _, iv := range open {
		if !wanted[iv.Role+"|"+iv.Path.Key()] {
			revoke = append(revoke, iv)
		}
	}
	return grant, revoke
}

// RoleAccess is one role a user holds, with every path that grants it.
type RoleAccess struct {
	Role  string                 `json:"role"`
	Paths []scimtrail.AccessPath `json:"paths"`
	Since time.Time              `json:"since"` // the earliest start among the paths held
}

// UserAccess is a user's effective access.
type UserAccess struct {
	UserID string       `json:"user_id"`
	Access []RoleAccess `json:"access"`
}

// Summarize groups intervals by user and role, sorted by user, role, then path key.
func Summarize(ivs []scimtrail.AccessInterval) []UserAccess {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b scimtrail.AccessInterval) int {
		if c := strings.Compare(a.UserID, b.UserID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Role, b.Role); c != 0 {
			return c
		}
		return strings.Compare(a.Path.Key(), b.Path.Key())
	})
	var out []UserAccess
	for _, iv := range ivs {
		if len(out) == 0 || out[len(out)-1].UserID != iv.UserID {
			out = append(out, UserAccess{UserID: iv.UserID, Access: []RoleAccess{}})
		}
		u := &out[len(out)-1]
		if len(u.Access) == 0 || u.Access[len(u.Access)-1].Role != iv.Role {
			u.Access = append(u.Access, RoleAccess{Role: iv.Role, Since: iv.From})
		}
		ra := &u.Access[len(u.Access)-1]
		p := iv.Path
		if p.Via == nil {
			p.Via = []string{}
		}
		ra.Paths = append(ra.Paths, p)
		if iv.From.Before(ra.Since) {
			ra.Since = iv.From
		}
	}
	return out
}
