package httpapi_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/httpapi"
)

// openAPI fetches the served document, without a token, and parses it.
func openAPI(t *testing.T, e *env) map[string]any {
	t.Helper()
	r := e.must(e.do("GET", "/api/v1/openapi.json", "", nil), 200)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return doc
}

// docOps is every operation of the document by "METHOD path", the form of a route pattern.
func docOps(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	ops := map[string]map[string]any{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			ops[strings.ToUpper(method)+" "+path] = op.(map[string]any)
		}
	}
	return ops
}

// areaValues reads the area constants (auth.go) from the source: name → value, by iota.
func areaValues(t *testing.T) map[string]int {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	out := map[string]int{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST || len(gd.Specs) == 0 {
				continue
			}
			first := gd.Specs[0].(*ast.ValueSpec)
			if id, ok := first.Type.(*ast.Ident); !ok || id.Name != "area" {
				continue
			}
			for i, s := range gd.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					out[n.Name] = i
				}
			}
		}
	}
	if len(out) < 3 {
		t.Fatalf("found only %d area constants in the source: %v", len(out), out)
	}
	return out
}

// TestOpenAPICoversEveryRoute fails when a registered /api/v1 route has no operation in the
// served document, when the document has an operation for a route that does not exist, or
// when an operation's token kinds are not those of the area its route is guarded with.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t, backends()[0], envOptions{})
	doc := openAPI(t, e)
	if got := doc["openapi"]; got != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", got)
	}
	ops := docOps(t, doc)
	areas := areaValues(t)
	var routes []string
	for _, d := range sourceRouteDecls(t) {
		if !strings.Contains(d.pattern, "/api/v1/") {
			continue
		}
		routes = append(routes, d.pattern)
		op, ok := ops[d.pattern]
		if !ok {
			t.Errorf("route %q has no operation in the OpenAPI document (httpapi/openapi.go apiOps)", d.pattern)
			continue
		}
		var got []string
		for _, k := range op["x-scimtrail-token-kinds"].([]any) {
			got = append(got, k.(string))
		}
		sec, _ := op["security"].([]any)
		if d.area == "" {
			if len(got) != 0 || len(sec) != 0 {
				t.Errorf("%s needs no token, but the document says it takes %v (security %v)", d.pattern, got, sec)
			}
			continue
		}
		v, ok := areas[d.area]
		if !ok {
			t.Errorf("%s is guarded with %s, which is not an area constant", d.pattern, d.area)
			continue
		}
		if want := httpapi.AreaKinds(v); !slices.Equal(got, want) {
			t.Errorf("%s: the document lists token kinds %v, the route (%s) admits %v", d.pattern, got, d.area, want)
		}
		if len(sec) != 1 {
			t.Errorf("%s: security = %v, want the bearer scheme", d.pattern, sec)
		}
	}
	if len(routes) < 40 {
		t.Fatalf("found only %d /api/v1 routes in the source", len(routes))
	}
	for p := range ops {
		if !slices.Contains(routes, p) {
			t.Errorf("the OpenAPI document has an operation %q, which is not a route", p)
		}
	}
}

var allowedRefusal = regexp.MustCompile(`does not exist in tenant|is not a user of tenant|of the sink does not resolve`)

var docPathParam = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

// TestOpenAPIDocumentIsWellFormed checks what a client generator relies on: unique
// operation ids, a declared parameter for every path parameter, a success response and
// resolvable references everywhere, and the admin API's error shape.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	e := newEnv(t, backends()[0], envOptions{})
	doc := openAPI(t, e)
	ids := map[string]string{}
	for name, op := range docOps(t, doc) {
		id, _ := op["operationId"].(string)
		if id == "" || ids[id] != "" {
			t.Errorf("%s: operationId %q is empty or also %s's", name, id, ids[id])
		}
		ids[id] = name
		declared := map[string]bool{}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			pm := p.(map[string]any)
			if pm["in"] == "path" {
				declared[pm["name"].(string)] = true
			}
		}
		for _, m := range docPathParam.FindAllStringSubmatch(name, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", name, m[1])
			}
		}
		if rb, ok := op["requestBody"].(map[string]any); ok {
			media := rb["content"].(map[string]any)["application/json"].(map[string]any)
			if ex, ok := media["example"]; ok {
				if err := validate(doc, media["schema"].(map[string]any), ex, name+" example"); err != nil {
					t.Errorf("the request example does not match its own schema: %v", err)
				}
			}
		}
		success := 0
		for status := range op["responses"].(map[string]any) {
			if strings.HasPrefix(status, "2") {
				success++
			}
		}
		if success != 1 {
			t.Errorf("%s: %d success responses, want 1", name, success)
		}
		if name != "GET /api/v1/openapi.json" && name != "GET /api/v1/audit/keys" {
			if _, ok := op["responses"].(map[string]any)["401"]; !ok {
				t.Errorf("%s: no 401 response", name)
			}
		}
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if resolve(doc, ref) == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(doc)
	// The error shape is the one the server writes.
	r := e.do("GET", "/api/v1/tenants", "", nil)
	apiError(t, r, 401, "unauthorized")
	var body any
	json.Unmarshal(r.body, &body)
	if err := validate(doc, resolve(doc, "#/components/schemas/Error"), body, "error"); err != nil {
		t.Errorf("a real error response does not match the Error schema: %v", err)
	}
}

// resolve is the value at a local JSON pointer ("#/components/…"), or nil.
func resolve(doc map[string]any, ref string) map[string]any {
	var v any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	m, _ := v.(map[string]any)
	return m
}

// validate checks v against the subset of JSON Schema the document uses: $ref, oneOf, type,
// properties (no others allowed where properties are listed), required and items.
func validate(doc, s map[string]any, v any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		return validate(doc, resolve(doc, ref), v, at)
	}
	if one, ok := s["oneOf"].([]any); ok {
		var errs []string
		for _, o := range one {
			err := validate(doc, o.(map[string]any), v, at)
			if err == nil {
				return nil
			}
			errs = append(errs, err.Error())
		}
		return fmt.Errorf("%s matches no oneOf: %s", at, strings.Join(errs, "; "))
	}
	var types []string
	switch ty := s["type"].(type) {
	case string:
		types = []string{ty}
	case []any:
		for _, x := range ty {
			types = append(types, x.(string))
		}
	}
	if len(types) > 0 && !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
		return fmt.Errorf("%s is %s, want %v", at, jsonType(v), types)
	}
	switch x := v.(type) {
	case map[string]any:
		props, hasProps := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, k := range req {
				if _, ok := x[k.(string)]; !ok {
					return fmt.Errorf("%s lacks required %q", at, k)
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				if err := validate(doc, ps, x[k], at+"."+k); err != nil {
					return err
				}
			} else if hasProps {
				return fmt.Errorf("%s has %q, which the schema does not list", at, k)
			}
			if ap, ok := s["additionalProperties"].(map[string]any); ok {
				if err := validate(doc, ap, x[k], at+"."+k); err != nil {
					return err
				}
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, y := range x {
				if err := validate(doc, items, y, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// opSchemas is an operation's request example and its success status and response schema.
func opSchemas(t *testing.T, doc map[string]any, pattern string) (example any, status int, schema map[string]any) {
	t.Helper()
	op := docOps(t, doc)[pattern]
	if op == nil {
		t.Fatalf("no operation %s", pattern)
	}
	if rb, ok := op["requestBody"].(map[string]any); ok {
		example = rb["content"].(map[string]any)["application/json"].(map[string]any)["example"]
	}
	for code, r := range op["responses"].(map[string]any) {
		if strings.HasPrefix(code, "2") {
			fmt.Sscan(code, &status)
			if c, ok := r.(map[string]any)["content"].(map[string]any); ok {
				schema, _ = c["application/json"].(map[string]any)["schema"].(map[string]any)
			}
		}
	}
	return example, status, schema
}

// TestOpenAPIExamplesAgainstServer sends the document's own request examples of the key
// operations to a real server and checks that each gets the documented status and a body
// that matches the documented schema; then every GET operation's real response is checked
// against its schema, so that a renamed or added response field fails here.
func TestOpenAPIExamplesAgainstServer(t *testing.T) {
	e := newEnv(t, backends()[0], envOptions{})
	doc := openAPI(t, e)
	// call sends pattern's example (with fields replaced by set) to path and validates the answer.
	call := func(pattern, path string, set map[string]any) map[string]any {
		t.Helper()
		example, status, schema := opSchemas(t, doc, pattern)
		if example != nil && set != nil {
			m := example.(map[string]any)
			cp := map[string]any{}
			for k, v := range m {
				cp[k] = v
			}
			for k, v := range set {
				if _, ok := cp[k]; !ok {
					t.Fatalf("%s: the example has no %q to replace", pattern, k)
				}
				cp[k] = v
			}
			example = cp
		}
		method, _, _ := strings.Cut(pattern, " ")
		r := e.must(e.do(method, path, e.operator, example), status)
		if schema == nil {
			return nil
		}
		var body any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		if err := validate(doc, schema, body, pattern); err != nil {
			t.Errorf("the response does not match the document: %v\n%s", err, r.body)
		}
		m, _ := body.(map[string]any)
		return m
	}

	tenant := call("POST /api/v1/tenants", "/api/v1/tenants", nil)
	tid, _ := tenant["id"].(string)
	if tid == "" || tid == "acme" {
		t.Fatalf("created tenant %v", tenant)
	}
	tok := call("POST /api/v1/tenants/{tenant}/tokens", "/api/v1/tenants/"+tid+"/tokens", nil)
	if s, _ := tok["token"].(string); !strings.HasPrefix(s, "stk_scim_") {
		t.Errorf("issued token %v", tok)
	}
	call("POST /api/v1/roles", "/api/v1/roles", nil)
	role := call("POST /api/v1/tenants/{tenant}/roles", "/api/v1/tenants/acme/roles", nil)
	user, _ := e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@acme.example"}), 201).json()["id"].(string)
	group, _ := e.must(e.do("POST", "/scim/v2/acme/Groups", e.scim["acme"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Support", "members": []map[string]any{{"value": user}}}), 201).json()["id"].(string)
	mapping := call("POST /api/v1/tenants/{tenant}/mappings", "/api/v1/tenants/acme/mappings", map[string]any{"group_id": group})
	if mapping["role"] != role["id"] {
		t.Errorf("mapping %v is not to the example role %v", mapping, role["id"])
	}
	call("POST /api/v1/tenants/{tenant}/grants", "/api/v1/tenants/acme/grants", map[string]any{"user_id": user})
	call("POST /api/v1/tenants/{tenant}/break-glass", "/api/v1/tenants/acme/break-glass", map[string]any{"user_id": user})
	acc := call("GET /api/v1/tenants/{tenant}/users/{id}/access", "/api/v1/tenants/acme/users/"+user+"/access", nil)
	if b, _ := json.Marshal(acc); !strings.Contains(string(b), `"kind":"group"`) || !strings.Contains(string(b), group) {
		t.Errorf("the user's access does not show the mapping through %s: %s", group, b)
	}
	page := call("GET /api/v1/tenants/{tenant}/audit", "/api/v1/tenants/acme/audit?limit=1000", nil)
	if n := len(page["entries"].([]any)); n < 5 {
		t.Errorf("audit page has %d entries", n)
	}
	call("POST /api/v1/tenants/{tenant}/events", "/api/v1/tenants/acme/events", nil)
	call("PUT /api/v1/tenants/{tenant}/event-settings", "/api/v1/tenants/acme/event-settings", nil)

	// Every GET that needs no ids and no required query, against a tenant with data.
	for name, op := range docOps(t, doc) {
		method, path, _ := strings.Cut(name, " ")
		if method != "GET" || name == "GET /api/v1/openapi.json" {
			continue
		}
		path = strings.ReplaceAll(path, "{tenant}", "acme")
		path = strings.ReplaceAll(path, "{role}", "support")
		path = strings.ReplaceAll(path, "{action}", "app.project.deleted")
		if strings.Contains(path, "{") || strings.Contains(fmt.Sprint(op["parameters"]), "required:true") {
			continue
		}
		if strings.HasSuffix(path, "/events") {
			path += "?wait=0s"
		}
		_, status, schema := opSchemas(t, doc, name)
		r := e.do("GET", path, e.operator, nil)
		if r.status == 404 && strings.Contains(path, "event-schemas/") {
			continue // no such schema registered: the 404 is documented
		}
		if r.status != status {
			t.Errorf("%s: status %d, want %d: %s", path, r.status, status, r.body)
			continue
		}
		var body any
		json.Unmarshal(r.body, &body)
		if err := validate(doc, schema, body, name); err != nil {
			t.Errorf("%v\n%s", err, r.body)
		}
	}
}

// TestOpenAPIRequestExamplesDecode sends every request example in the document to its route
// with an operator token: none may be refused as malformed, which would mean the document
// names a field the handler does not take.
func TestOpenAPIRequestExamplesDecode(t *testing.T) {
	e := newEnv(t, backends()[0], envOptions{})
	doc := openAPI(t, e)
	n := 0
	for name := range docOps(t, doc) {
		example, _, _ := opSchemas(t, doc, name)
		if example == nil {
			continue
		}
		method, path, _ := strings.Cut(name, " ")
		path = docPathParam.ReplaceAllStringFunc(path, func(m string) string {
			switch m {
			case "{tenant}":
				return "acme"
			case "{action}":
				return "app.project.deleted"
			}
			return "missing-" + randomHex(4)
		})
		r := e.do(method, path, e.operator, example)
		n++
		// The ids in paths and bodies are made up, and the example hosts do not resolve here:
		// those refusals are expected; any other 400 is the example's fault.
		if r.status == 400 && !allowedRefusal.Match(r.body) {
			t.Errorf("%s refused its own example: %s", name, r.body)
		}
		if r.status >= 500 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if n < 15 {
		t.Errorf("only %d request examples", n)
	}
}
