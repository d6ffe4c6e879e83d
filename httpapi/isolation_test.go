package httpapi_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/httpapi"
)

// isoRow says how the isolation matrix exercises one route beyond its path: the body to
// send (ref is the id of another resource the request names; nonce keeps creates distinct)
// and whether the route takes a SCIM filter in its query.
type isoRow struct {
	body   func(ref, nonce string) any
	filter bool // ?filter=id eq "<ref>"
}

func groupBody(ref, nonce string) any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "iso-" + nonce,
		"members":     []map[string]any{{"value": ref}},
	}
}

// userBody names ref as a group of the user: "groups" is read-only (RFC 7643 §4.1.2), so
// it must be ignored, never turned into a membership in any tenant.
func userBody(ref, nonce string) any {
	return map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "iso-" + nonce + "@acme.example",
		"groups":   []map[string]any{{"value": ref}},
	}
}

func addMemberPatch(ref, nonce string) any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "add", "path": "members", "value": []map[string]any{{"value": ref}}}},
	}
}

func agentBody(ref, nonce string) any {
	return map[string]any{
		"schemas":       []string{"urn:ietf:params:scim:schemas:core:2.0:Agent"},
		"agentUserName": "iso-" + nonce,
		"owners":        []map[string]any{{"value": ref}},
	}
}

func agentPatch(ref, nonce string) any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "owners", "value": []map[string]any{{"value": ref}}}},
	}
}

func userPatch(ref, nonce string) any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "displayName", "value": "iso-" + nonce}},
	}
}

func searchBody(ref, nonce string) any {
	return map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter":  `id eq "` + ref + `"`,
	}
}

// isoBulkBody names ref in every place a Bulk request can: the path of every method on
// both resource types, a new group's members (beside a bulkId reference), a PATCH's members (by value, through a bulkId path, and in a value
// filter of a remove).
func isoBulkBody(ref, nonce string) any {
	removeMember := map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "remove", "path": `members[value eq "` + ref + `"]`}},
	}
	return map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": []map[string]any{
			{"method": "POST", "path": "/Groups", "bulkId": "g" + nonce, "data": groupBody(ref, nonce)},
			{"method": "POST", "path": "/Groups", "bulkId": "h" + nonce, "data": map[string]any{
				"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
				"displayName": "iso-h-" + nonce,
				"members":     []map[string]any{{"value": "bulkId:g" + nonce}, {"value": ref}},
			}},
			{"method": "PATCH", "path": "/Groups/bulkId:g" + nonce, "data": addMemberPatch(ref, nonce)},
			{"method": "PATCH", "path": "/Groups/" + ref, "data": addMemberPatch(ref, nonce)},
			{"method": "PATCH", "path": "/Groups/" + ref, "data": removeMember},
			{"method": "PATCH", "path": "/Users/" + ref, "data": userPatch(ref, nonce)},
			{"method": "PUT", "path": "/Users/" + ref, "data": userBody(ref, nonce)},
			{"method": "PUT", "path": "/Groups/" + ref, "data": groupBody(ref, nonce)},
			{"method": "DELETE", "path": "/Users/" + ref},
			{"method": "DELETE", "path": "/Groups/" + ref},
		},
	}
}

// sinkBody is a webhook sink aimed at loopback: refused as private (SSRF) in this env, the
// same way for every tenant.
func sinkBody(ref, nonce string) any {
	return map[string]any{"type": "webhook", "url": "https://127.0.0.1:1/hook", "format": "native"}
}

// isolationMatrix has a row for every route of the server. TestIsolationMatrix fails when
// a route is registered without a row here: a new route must say how it is attacked.
var isolationMatrix = map[string]isoRow{
	"GET /healthz": {},
	"GET /readyz":  {},
	"GET /metrics": {},
	// The OpenAPI document: public, the same for every caller.
	"GET /api/v1/openapi.json": {},

	"POST /scim/v2/{tenant}/Users":         {body: userBody},
	"GET /scim/v2/{tenant}/Users":          {filter: true},
	"POST /scim/v2/{tenant}/Users/.search": {body: searchBody},
	"GET /scim/v2/{tenant}/Users/{id}":     {},
	"PUT /scim/v2/{tenant}/Users/{id}":     {body: userBody},
	"PATCH /scim/v2/{tenant}/Users/{id}":   {body: userPatch},
	"DELETE /scim/v2/{tenant}/Users/{id}":  {},
	"POST /scim/v2/{tenant}/Groups":        {body: groupBody},
	// Agents (scim_agents.go): the other tenant's user named as the owner, its ids in paths
	// and filters.
	"POST /scim/v2/{tenant}/Agents":                    {body: agentBody},
	"GET /scim/v2/{tenant}/Agents":                     {filter: true},
	"GET /scim/v2/{tenant}/Agents/{id}":                {},
	"PUT /scim/v2/{tenant}/Agents/{id}":                {body: agentBody},
	"PATCH /scim/v2/{tenant}/Agents/{id}":              {body: agentPatch},
	"DELETE /scim/v2/{tenant}/Agents/{id}":             {},
	"GET /scim/v2/{tenant}/Groups":                     {filter: true},
	"POST /scim/v2/{tenant}/Groups/.search":            {body: searchBody},
	"GET /scim/v2/{tenant}/Groups/{id}":                {},
	"PUT /scim/v2/{tenant}/Groups/{id}":                {body: groupBody},
	"PATCH /scim/v2/{tenant}/Groups/{id}":              {body: addMemberPatch},
	"DELETE /scim/v2/{tenant}/Groups/{id}":             {},
	"/scim/v2/{tenant}/Me":                             {},
	"/scim/v2/{tenant}/Me/{rest...}":                   {},
	"POST /scim/v2/{tenant}/.search":                   {body: searchBody},
	"POST /scim/v2/{tenant}/Bulk":                      {body: isoBulkBody},
	"GET /scim/v2/{tenant}/ServiceProviderConfig":      {},
	"GET /scim/v2/{tenant}/ResourceTypes":              {},
	"GET /scim/v2/{tenant}/ResourceTypes/{name}":       {},
	"GET /scim/v2/{tenant}/Schemas":                    {},
	"GET /scim/v2/{tenant}/Schemas/{urn}":              {},
	"POST /api/v1/tenants":                             {body: func(ref, nonce string) any { return map[string]any{"id": "iso-" + nonce, "name": "Iso"} }},
	"GET /api/v1/tenants":                              {},
	"GET /api/v1/tenants/{tenant}":                     {},
	"POST /api/v1/tenants/{tenant}/tokens":             {body: func(ref, nonce string) any { return map[string]any{"kind": "scim", "name": "iso-" + nonce} }},
	"GET /api/v1/tenants/{tenant}/tokens":              {},
	"DELETE /api/v1/tenants/{tenant}/tokens/{id}":      {},
	"POST /api/v1/tenants/{tenant}/tokens/{id}/rotate": {},
	// The access model (DESIGN.md §5): the other tenant's users and groups named in
	// grants, break-glass and mappings; its ids in the paths of roles, grants, mappings.
	"GET /api/v1/roles":                                 {},
	"POST /api/v1/roles":                                {body: func(ref, nonce string) any { return map[string]any{"id": "iso-" + nonce, "name": "Iso"} }},
	"PATCH /api/v1/roles/{id}":                          {body: func(ref, nonce string) any { return map[string]any{"name": "Iso " + nonce} }},
	"DELETE /api/v1/roles/{id}":                         {},
	"GET /api/v1/tenants/{tenant}/roles":                {},
	"POST /api/v1/tenants/{tenant}/roles":               {body: func(ref, nonce string) any { return map[string]any{"id": "iso-" + nonce, "name": "Iso"} }},
	"PATCH /api/v1/tenants/{tenant}/roles/{id}":         {body: func(ref, nonce string) any { return map[string]any{"name": "Iso " + nonce} }},
	"DELETE /api/v1/tenants/{tenant}/roles/{id}":        {},
	"GET /api/v1/tenants/{tenant}/roles/{role}/holders": {},
	"GET /api/v1/tenants/{tenant}/access":               {},
	"GET /api/v1/tenants/{tenant}/users/{id}/access":    {},
	"GET /api/v1/tenants/{tenant}/mappings":             {},
	"POST /api/v1/tenants/{tenant}/mappings":            {body: func(ref, nonce string) any { return map[string]any{"group_id": ref, "role": "iso-role"} }},
	"DELETE /api/v1/tenants/{tenant}/mappings/{id}":     {},
	"POST /api/v1/tenants/{tenant}/grants": {body: func(ref, nonce string) any {
		return map[string]any{"user_id": ref, "role": "iso-role", "reason": "iso"}
	}},
	"DELETE /api/v1/tenants/{tenant}/grants/{id}": {},
	"POST /api/v1/tenants/{tenant}/break-glass": {body: func(ref, nonce string) any {
		return map[string]any{"user_id": ref, "role": "iso-role", "justification": "iso", "duration": "1h"}
	}},
	"GET /api/v1/tenants/{tenant}/break-glass/requests":               {},
	"POST /api/v1/tenants/{tenant}/break-glass/requests/{id}/approve": {},
	"POST /api/v1/tenants/{tenant}/break-glass/requests/{id}/deny":    {body: func(ref, nonce string) any { return map[string]any{"reason": "iso"} }},
	// A tenant's settings and custom schemas (settings.go): paths name the tenant, bodies
	// no foreign id; {urn} gets the other tenant's ids, which must be 404.
	"GET /api/v1/tenants/{tenant}/settings":   {},
	"PATCH /api/v1/tenants/{tenant}/settings": {body: func(ref, nonce string) any { return map[string]any{"dialect": "strict"} }},
	"GET /api/v1/tenants/{tenant}/schemas":    {},
	"POST /api/v1/tenants/{tenant}/schemas": {body: func(ref, nonce string) any {
		return map[string]any{"id": "urn:example:iso:" + nonce, "resourceType": "User",
			"attributes": []any{map[string]any{"name": "ref", "type": "string"}}}
	}},
	"GET /api/v1/tenants/{tenant}/schemas/{urn}":    {},
	"DELETE /api/v1/tenants/{tenant}/schemas/{urn}": {},
	// App events (the app's own admin actions). Targets are the app's own ids, recorded
	// as sent, so the body names no foreign id; the cells check path isolation.
	"GET /api/v1/event-schemas":                           {},
	"GET /api/v1/event-schemas/{action}":                  {},
	"PUT /api/v1/event-schemas/{action}":                  {body: func(ref, nonce string) any { return map[string]any{} }},
	"GET /api/v1/tenants/{tenant}/event-schemas":          {},
	"GET /api/v1/tenants/{tenant}/event-schemas/{action}": {},
	"PUT /api/v1/tenants/{tenant}/event-schemas/{action}": {body: func(ref, nonce string) any { return map[string]any{} }},
	"GET /api/v1/tenants/{tenant}/event-settings":         {},
	"PUT /api/v1/tenants/{tenant}/event-settings":         {body: func(ref, nonce string) any { return map[string]any{"unknown_actions": "accept"} }},
	"GET /api/v1/tenants/{tenant}/app-role-grants":        {},
	// Non-human identities and reports (access2.go): the other tenant's user named as an
	// owner, its ids in the paths of accounts and keys.
	"POST /api/v1/tenants/{tenant}/service-accounts": {body: func(ref, nonce string) any {
		return map[string]any{"name": "iso-" + nonce, "owner_id": ref}
	}},
	"GET /api/v1/tenants/{tenant}/service-accounts":                         {},
	"POST /api/v1/tenants/{tenant}/service-accounts/verify":                 {body: func(ref, nonce string) any { return map[string]any{"key": ref} }},
	"GET /api/v1/tenants/{tenant}/service-accounts/{id}":                    {},
	"DELETE /api/v1/tenants/{tenant}/service-accounts/{id}":                 {},
	"POST /api/v1/tenants/{tenant}/service-accounts/{id}/disable":           {},
	"POST /api/v1/tenants/{tenant}/service-accounts/{id}/keys":              {},
	"POST /api/v1/tenants/{tenant}/service-accounts/{id}/keys/{key}/rotate": {},
	"DELETE /api/v1/tenants/{tenant}/service-accounts/{id}/keys/{key}":      {},
	"GET /api/v1/tenants/{tenant}/policies/nhi":                             {},
	"PUT /api/v1/tenants/{tenant}/policies/nhi":                             {body: func(ref, nonce string) any { return map[string]any{"on_owner_deprovisioned": "flag"} }},
	"GET /api/v1/tenants/{tenant}/reports/deprovisioning":                   {},
	"GET /api/v1/tenants/{tenant}/reports/credentials":                      {},
	"GET /api/v1/tenants/{tenant}/reports/access":                           {},
	"GET /api/v1/tenants/{tenant}/reports/privileged-changes":               {},
	"GET /api/v1/tenants/{tenant}/reports/stale":                            {},
	"GET /api/v1/tenants/{tenant}/reports/drift":                            {},
	// External-collaborator policy (external.go): the path names the tenant only.
	"GET /api/v1/tenants/{tenant}/policies/external": {},
	"PUT /api/v1/tenants/{tenant}/policies/external": {body: func(ref, nonce string) any { return map[string]any{"grant_days": 30} }},
	// Access reviews (reviews.go): the other tenant's review ids in the path, its user in a
	// decision's body.
	"POST /api/v1/tenants/{tenant}/access-reviews":     {body: func(ref, nonce string) any { return map[string]any{"scope": "all"} }},
	"GET /api/v1/tenants/{tenant}/access-reviews":      {},
	"GET /api/v1/tenants/{tenant}/access-reviews/{id}": {},
	"POST /api/v1/tenants/{tenant}/access-reviews/{id}/decisions": {body: func(ref, nonce string) any {
		return map[string]any{"user_id": ref, "role": "iso-role", "decision": "keep"}
	}},
	"PUT /api/v1/tenants/{tenant}/app-state": {body: func(ref, nonce string) any {
		return map[string]any{"snapshot": "s-" + nonce, "last": true, "users": []any{map[string]any{"user_id": "u-" + nonce, "roles": []string{"viewer"}}}}
	}},
	"POST /api/v1/tenants/{tenant}/events": {body: func(ref, nonce string) any {
		return map[string]any{"events": []map[string]any{{"id": "iso-" + nonce, "action": "iso.tested", "occurred_at": "2026-01-01T00:00:00Z", "actor": map[string]any{"id": "iso"}}}}
	}},
	// Export sinks and the pull API: sink ids in paths; a sink body names a receiver
	// address, never another tenant's id.
	"GET /api/v1/tenants/{tenant}/events":             {},
	"GET /api/v1/sinks":                               {},
	"POST /api/v1/sinks":                              {body: sinkBody},
	"GET /api/v1/sinks/{id}":                          {},
	"DELETE /api/v1/sinks/{id}":                       {},
	"POST /api/v1/sinks/{id}/retry":                   {},
	"POST /api/v1/sinks/{id}/rotate":                  {},
	"GET /api/v1/tenants/{tenant}/sinks":              {},
	"POST /api/v1/tenants/{tenant}/sinks":             {body: sinkBody},
	"GET /api/v1/tenants/{tenant}/sinks/{id}":         {},
	"DELETE /api/v1/tenants/{tenant}/sinks/{id}":      {},
	"POST /api/v1/tenants/{tenant}/sinks/{id}/retry":  {},
	"POST /api/v1/tenants/{tenant}/sinks/{id}/rotate": {},
	// The tenant's log as C2SP tiles (auditor tokens).
	"GET /logs/{tenant}/tile/{path...}":                    {},
	"GET /logs/{tenant}/checkpoint":                        {},
	"GET /api/v1/audit/keys":                               {},
	"GET /api/v1/tenants/{tenant}/audit/checkpoint":        {},
	"GET /api/v1/tenants/{tenant}/audit/proof/consistency": {},
	"GET /api/v1/tenants/{tenant}/audit/proof/inclusion":   {},
	// Retention and legal hold (tenant admins).
	"GET /api/v1/tenants/{tenant}/retention": {},
	"PUT /api/v1/tenants/{tenant}/retention": {body: func(ref, nonce string) any { return map[string]any{"retention": "400d", "legal_hold": false} }},
	// The console authenticates with its own session, not bearer tokens; its pages are
	// routed inside the console package and have rows in consoleMatrix
	// (console_isolation_test.go).
	"/console/":                          {},
	"GET /console":                       {},
	"GET /api/v1/tenants/{tenant}/audit": {},
}

// sourceRoutes returns every pattern the package registers, read from its source (see
// sourceRouteDecls).
func sourceRoutes(t *testing.T) []string {
	t.Helper()
	var routes []string
	for _, d := range sourceRouteDecls(t) {
		routes = append(routes, d.pattern)
	}
	return routes
}

// routeDecl is one registration of the routing table: its pattern and, when the handler is
// h.guard(area, …), the name of the area ("" for a route without authentication).
type routeDecl struct {
	pattern, area string
}

// sourceRouteDecls reads every call of HandleFunc or Handle whose first argument is the
// pattern from the package's source, sorted by pattern. A pattern that is not a string
// literal fails the test, since neither the isolation matrix nor the OpenAPI test could see it.
func sourceRouteDecls(t *testing.T) []routeDecl {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	// The console's pages are routed inside package console, mounted at /console/.
	consoleFiles, err := filepath.Glob("console/*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, consoleFiles...)
	fset := token.NewFileSet()
	var routes []routeDecl
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a route registered with a pattern that is not a string literal; the isolation matrix cannot see it", fset.Position(call.Pos()))
				return true
			}
			p, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			d := routeDecl{pattern: p}
			if g, ok := call.Args[1].(*ast.CallExpr); ok && len(g.Args) > 0 {
				if gs, ok := g.Fun.(*ast.SelectorExpr); ok && gs.Sel.Name == "guard" {
					if id, ok := g.Args[0].(*ast.Ident); ok {
						d.area = id.Name
					}
				}
			}
			routes = append(routes, d)
			return true
		})
	}
	slices.SortFunc(routes, func(a, b routeDecl) int { return strings.Compare(a.pattern, b.pattern) })
	return routes
}

var pathParam = regexp.MustCompile(`\{([a-zA-Z]+)(\.\.\.)?\}`)

// splitPattern is a pattern's method ("" for any, which the matrix sends as GET and POST)
// and path.
func splitPattern(p string) (methods []string, path string) {
	m, path, ok := strings.Cut(p, " ")
	if !ok {
		return []string{"GET", "POST"}, p
	}
	return []string{m}, path
}

// TestIsolationMatrixCoversEveryRoute fails when a route has no row in isolationMatrix, and
// checks that every route found in the source is really registered under that pattern.
func TestIsolationMatrixCoversEveryRoute(t *testing.T) {
	routes := sourceRoutes(t)
	if len(routes) < 20 {
		t.Fatalf("found only %d routes in the source: %v", len(routes), routes)
	}
	for _, p := range routes {
		methods, path := splitPattern(p)
		concrete := pathParam.ReplaceAllString(strings.TrimSuffix(path, "{$}"), "x")
		if _, ok := consoleMatrix[p]; ok {
			// A console page: the server routes it to the console's mount.
			for _, method := range methods {
				req := httptest.NewRequest(method, concrete, nil)
				if got := httpapi.RegisteredPattern(req); got != "/console/" {
					t.Errorf("%s %s is routed to %q, want the console's /console/", method, concrete, got)
				}
			}
			continue
		}
		if _, ok := isolationMatrix[p]; !ok {
			t.Errorf("route %q has no row in isolationMatrix or consoleMatrix (httpapi/isolation_test.go): say how another tenant's ids reach it", p)
			continue
		}
		for _, method := range methods {
			req := httptest.NewRequest(method, concrete, nil)
			if got := httpapi.RegisteredPattern(req); got != p {
				t.Errorf("%s %s is routed to %q, want %q", method, concrete, got, p)
			}
		}
	}
	for p := range isolationMatrix {
		if !slices.Contains(routes, p) {
			t.Errorf("isolationMatrix has a row for %q, which is not a route", p)
		}
	}
	for p := range consoleMatrix {
		if !slices.Contains(routes, p) {
			t.Errorf("consoleMatrix has a row for %q, which is not a console route", p)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// victim is what the other tenant (globex) has; the attacker (acme) has its own user and
// group so that requests about its own resources can name the victim's.
type victim struct {
	userID, groupID, tokenID string
	userName, groupName      string
}

// snapshot is everything an attack could change about a tenant.
// accessLine is the access log's line of one request.
type accessLine struct {
	Msg       string `json:"msg"`
	RequestID string `json:"request_id"`
	Route     string `json:"route"`
	Status    int    `json:"status"`
	TokenID   string `json:"token_id"`
}

func (e *env) snapshot(tenant string) string {
	e.t.Helper()
	var b strings.Builder
	for _, p := range []string{
		"/api/v1/tenants/" + tenant + "/audit?limit=1000",
		"/api/v1/tenants/" + tenant + "/tokens",
		"/scim/v2/" + tenant + "/Users?count=1000",
		"/scim/v2/" + tenant + "/Groups?count=1000",
		"/api/v1/tenants/" + tenant,
	} {
		r := e.must(e.do("GET", p, e.operator, nil), 200)
		b.Write(r.body)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestIsolationMatrix sends every route, with every kind of token, requests naming another
// tenant's ids — in the path, in the body, in filters — and checks that each gets exactly
// the response that a random id gets, that the other tenant's state and audit log do not
// change, that no response carries its data, and that every request is in the access log.
func TestIsolationMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		// The victim.
		v := victim{userName: "victim-" + randomHex(4) + "@globex.example", groupName: "Victims " + randomHex(4)}
		v.userID, _ = e.must(e.do("POST", "/scim/v2/globex/Users", e.scim["globex"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": v.userName}), 201).json()["id"].(string)
		v.groupID, _ = e.must(e.do("POST", "/scim/v2/globex/Groups", e.scim["globex"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": v.groupName, "members": []map[string]any{{"value": v.userID}}}), 201).json()["id"].(string)
		tr := e.must(e.do("POST", "/api/v1/tenants/globex/tokens", e.operator, map[string]any{"kind": "admin", "name": "victim admin"}), 201)
		v.tokenID, _ = tr.json()["id"].(string)
		if v.userID == "" || v.groupID == "" || v.tokenID == "" {
			t.Fatalf("victim fixture incomplete: %+v", v)
		}
		// The attacker's own resources.
		ownUser, _ := e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "own@acme.example"}), 201).json()["id"].(string)
		ownGroup, _ := e.must(e.do("POST", "/scim/v2/acme/Groups", e.scim["acme"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Own"}), 201).json()["id"].(string)
		ownTok, _ := e.must(e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "scim", "name": "own"}), 201).json()["id"].(string)

		// The attacker's tokens, one of each kind.
		kinds := []struct{ name, secret string }{
			{"operator", e.operator},
			{"admin", e.issue("acme", "admin")},
			{"scim", e.issue("acme", "scim")},
			{"auditor", e.issue("acme", "auditor")},
			{"app", e.issue("acme", "app")},
		}
		expiring, _ := e.must(e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "admin", "name": "expiring", "expires_in": "1h"}), 201).json()["token"].(string)
		rv := e.must(e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "admin", "name": "revoked"}), 201).json()
		revokedID, _ := rv["id"].(string)
		revoked, _ := rv["token"].(string)
		e.must(e.do("DELETE", "/api/v1/tenants/acme/tokens/"+revokedID, e.operator, nil), 204)
		e.clock.Advance(2 * 3600e9)
		kinds = append(kinds, struct{ name, secret string }{"expired", expiring},
			struct{ name, secret string }{"revoked", revoked}, struct{ name, secret string }{"none", ""})

		before := e.snapshot("globex")
		secrets := []string{v.userName, v.groupName}

		// fill turns a pattern into a path: the tenant, and for each {param} the victim's
		// resource (foreign) or a fresh random id, or the attacker's own one.
		fill := func(pattern, tenant, which string) string {
			_, path := splitPattern(pattern)
			path = strings.ReplaceAll(path, "{tenant}", tenant)
			return pathParam.ReplaceAllStringFunc(path, func(m string) string {
				switch m {
				case "{name}":
					return "User"
				case "{urn}":
					return "urn:ietf:params:scim:schemas:core:2.0:User"
				case "{rest...}":
					return "x"
				case "{path...}":
					return "0/000"
				case "{action}":
					return "iso.tested"
				case "{role}":
					if which == "foreign" {
						return v.userID // another tenant's id where a role id goes
					}
					return which
				case "{id}", "{key}":
				default:
					t.Fatalf("%s: the matrix does not know how to fill %s", pattern, m)
				}
				var foreign, own string
				switch {
				case strings.Contains(path, "/Users/"):
					foreign, own = v.userID, ownUser
				case strings.Contains(path, "/Groups/"):
					foreign, own = v.groupID, ownGroup
				case strings.Contains(path, "/tokens/"):
					foreign, own = v.tokenID, ownTok
				case strings.Contains(path, "/users/"):
					foreign, own = v.userID, ownUser
				case strings.Contains(path, "/roles/"), strings.Contains(path, "/grants/"), strings.Contains(path, "/mappings/"), strings.Contains(path, "/sinks/"), strings.Contains(path, "/service-accounts/"),
					strings.Contains(path, "/access-reviews/"), strings.Contains(path, "/break-glass/requests/"), strings.Contains(path, "/Agents/"):
					// The victim has none of these; its user id is a foreign id all the same.
					foreign, own = v.userID, "iso-none"
				default:
					t.Fatalf("%s: the matrix does not know whose {id} this is", pattern)
				}
				switch which {
				case "foreign":
					return foreign
				case "own":
					return own
				default:
					return which // a random id
				}
			})
		}

		var requestIDs []string
		statuses := map[string]int{} // request id → the status it got
		send := func(kind, method, path string, body any) resp {
			id := "iso-" + randomHex(8)
			requestIDs = append(requestIDs, id)
			r := e.do(method, path, kind, body, "X-Request-Id", id)
			statuses[id] = r.status
			for _, s := range secrets {
				if strings.Contains(string(r.body), s) {
					t.Errorf("%s %s leaked the other tenant's %q: %s", method, path, s, r.body)
				}
			}
			return r
		}
		// same checks that two responses are equal once the names that must differ
		// (tenant, the id named, nonces) are replaced by placeholders.
		same := func(what string, a, b resp, aNames, bNames []string) {
			t.Helper()
			na, nb := normalize(a, aNames), normalize(b, bNames)
			if na != nb {
				t.Errorf("%s: the other tenant's id got a different response than a random id:\n  foreign: %s\n  random:  %s", what, na, nb)
			}
		}

		cells := 0
		for _, pattern := range sourceRoutes(t) {
			if _, ok := consoleMatrix[pattern]; ok {
				continue // console pages use sessions, not bearer tokens: TestConsoleIsolation
			}
			row := isolationMatrix[pattern]
			methods, _ := splitPattern(pattern)
			for _, method := range methods {
				hasTenant := strings.Contains(pattern, "{tenant}")
				hasID := strings.Contains(pattern, "{id}")
				for _, k := range kinds {
					label := pattern + " as " + k.name
					rnd := randomHex(16)
					n1, n2 := randomHex(4), randomHex(4)
					body := func(ref, nonce string) any {
						if row.body == nil {
							return nil
						}
						return row.body(ref, nonce)
					}
					// 1. The other tenant in the path, with its ids, versus a tenant that does not
					// exist. An operator may reach every tenant, so this cell is not its.
					if hasTenant && k.name != "operator" {
						ghost := "ghost" + randomHex(4)
						a := send(k.secret, method, fill(pattern, "globex", "foreign"), body(v.userID, n1))
						b := send(k.secret, method, fill(pattern, ghost, rnd), body(rnd, n2))
						same(label+" [foreign tenant in path]", a, b,
							[]string{"globex", v.userID, v.groupID, v.tokenID, n1}, []string{ghost, rnd, rnd, rnd, n2})
						cells++
					}
					if !hasTenant {
						continue
					}
					// 2. Its own tenant in the path, the other tenant's id.
					if hasID {
						a := send(k.secret, method, fill(pattern, "acme", "foreign"), body(v.userID, n1))
						b := send(k.secret, method, fill(pattern, "acme", rnd), body(rnd, n2))
						same(label+" [foreign id in own path]", a, b,
							[]string{v.userID, v.groupID, v.tokenID, n1}, []string{rnd, rnd, rnd, n2})
						cells++
					}
					// 3. Its own tenant and resource, the other tenant's ids in the body.
					if row.body != nil {
						for _, ref := range []string{v.userID, v.groupID} {
							r2 := randomHex(16)
							a := send(k.secret, method, fill(pattern, "acme", "own"), row.body(ref, n1))
							b := send(k.secret, method, fill(pattern, "acme", "own"), row.body(r2, n2))
							same(label+" [foreign id in body]", a, b, []string{ref, n1}, []string{r2, n2})
							cells++
							n1, n2 = randomHex(4), randomHex(4)
						}
					}
					// 4. Its own tenant, a filter naming the other tenant's ids.
					if row.filter {
						for _, ref := range []string{v.userID, v.groupID} {
							r2 := randomHex(16)
							q := func(id string) string { return "?filter=" + urlQueryEscape(`id eq "`+id+`"`) }
							a := send(k.secret, method, fill(pattern, "acme", "own")+q(ref), nil)
							b := send(k.secret, method, fill(pattern, "acme", "own")+q(r2), nil)
							same(label+" [foreign id in filter]", a, b, []string{ref}, []string{r2})
							cells++
						}
					}
				}
			}
		}
		if after := e.snapshot("globex"); after != before {
			t.Errorf("the matrix changed the other tenant:\nbefore: %s\nafter:  %s", before, after)
		}
		// The attacker's own log must not name the victim's resources either: nothing of
		// theirs became a member, a group, or a target in acme.
		acme := e.snapshot("acme")
		for _, id := range []string{v.userID, v.groupID, v.tokenID} {
			for _, line := range strings.Split(acme, "\n") {
				if i := strings.Index(line, id); i >= 0 {
					t.Errorf("the attacker's tenant state or log names the other tenant's id %s: …%s…", id, line[max(0, i-300):min(len(line), i+100)])
				}
			}
		}
		// Every request is in the access log with the status it got and, when its token
		// was valid (anything but 401), the id of the token that asked: foreign access
		// writes nothing to any ledger, so this line is where it is seen.
		logged := map[string]accessLine{}
		for line := range strings.Lines(e.logs.String()) {
			var l accessLine
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "http request" {
				logged[l.RequestID] = l
			}
		}
		for _, id := range requestIDs {
			l, ok := logged[id]
			switch {
			case !ok:
				t.Errorf("request %s is not in the access log", id)
			case l.Status != statuses[id]:
				t.Errorf("request %s: access log status %d, response %d", id, l.Status, statuses[id])
			case l.Status != 401 && l.TokenID == "":
				t.Errorf("request %s (%s, %d): the access log does not say which token asked", id, l.Route, l.Status)
			}
			if t.Failed() {
				break
			}
		}
		t.Logf("%d matrix cells, %d requests", cells, len(requestIDs))
		if cells < 150 {
			t.Errorf("only %d matrix cells ran", cells)
		}
	})
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "%20", `"`, "%22", "&", "%26", "+", "%2B", "#", "%23")
	return r.Replace(s)
}

// normalize is a response as text with the names that legitimately differ replaced, and
// with what differs between any two responses (ids, timestamps, versions) dropped.
func normalize(r resp, names []string) string {
	body := string(r.body)
	for _, n := range names {
		if n != "" {
			body = strings.ReplaceAll(body, n, "NAME")
		}
	}
	var v any
	if json.Unmarshal([]byte(body), &v) == nil {
		v = scrub(v)
		b, _ := json.Marshal(v)
		body = string(b)
	}
	return fmt.Sprintf("%d %s retry=%q auth=%q %s", r.status, r.header.Get("Content-Type"),
		r.header.Get("Retry-After"), r.header.Get("WWW-Authenticate"), body)
}

func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		// An access review's ledger_size and started_seq: the log grows between the two requests.
		for _, k := range []string{"id", "meta", "created", "token", "expires", "last_used", "lastModified", "time",
			"ledger_size", "started_seq"} {
			delete(x, k)
		}
		for k, val := range x {
			x[k] = scrub(val)
		}
	case []any:
		for i := range x {
			x[i] = scrub(x[i])
		}
	}
	return v
}
