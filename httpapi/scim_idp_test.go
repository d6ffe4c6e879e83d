package httpapi_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/internal/idprecord"
)

// idpRequest is one file of testdata/idp (format in testdata/idp/README.md).
type idpRequest = idprecord.Request

// TestIdPReplay replays each IdP's recorded request sequence, in order, over real HTTP on
// every backend, and checks every expectation the recording states. To make "others" and
// "absent" checks able to fail, the harness puts a bystander member (never named by any
// request) and every member a request is expected to remove into the group before that
// request, through a plain strict-SCIM PATCH.
func TestIdPReplay(t *testing.T) {
	for _, idp := range []string{"entra", "okta"} {
		t.Run(idp, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join("..", "testdata", "idp", idp, "*.json"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no recorded requests for %s: %v", idp, err)
			}
			slices.Sort(files)
			forEachBackend(t, func(t *testing.T, e *env) { replayIdP(t, e, files) })
		})
	}
}

func replayIdP(t *testing.T, e *env, files []string) {
	tok := e.scim["acme"]
	base := "/scim/v2/acme"
	ids := map[string]string{}
	// {userId2} and the bystander exist before the sequence starts.
	ids["{userId2}"] = e.must(e.do("POST", base+"/Users", tok, newUser("second.user@example.com")), 201).json()["id"].(string)
	bystander := e.must(e.do("POST", base+"/Users", tok, newUser("bystander@example.com")), 201).json()["id"].(string)
	bind := func(s string) string {
		for k, v := range ids {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	addMembers := func(groupID string, members ...string) {
		t.Helper()
		var vals []any
		for _, m := range members {
			vals = append(vals, map[string]any{"value": m})
		}
		e.must(e.do("PATCH", base+"/Groups/"+groupID, tok, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": vals}},
		}), 200)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var req idpRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		exp := req.Expect
		groupID := ids["{groupId}"]
		if exp.Members != nil && groupID != "" {
			pre := []string{bystander}
			for _, a := range exp.Members.Absent {
				pre = append(pre, bind(a))
			}
			addMembers(groupID, pre...)
		}
		path := base + bind(req.Path)
		if req.Query != "" {
			path += "?" + bind(req.Query)
		}
		var body any
		if len(req.Body) > 0 && string(req.Body) != "null" {
			body = bind(string(req.Body))
		}
		var hdrs []string
		for k, v := range req.Headers {
			hdrs = append(hdrs, k, v)
		}
		r := e.do(req.Method, path, tok, body, hdrs...)
		if r.status != exp.Status {
			t.Fatalf("%s: status %d, want %d; body: %s", name, r.status, exp.Status, r.body)
		}
		doc := r.json()
		endpoint := strings.Split(strings.TrimPrefix(req.Path, "/"), "/")[0]
		// The resource the request was about: the one it created, or the one in its path.
		id := bind(strings.TrimPrefix(strings.TrimPrefix(req.Path, "/"+endpoint), "/"))
		if req.Method == "POST" {
			id, _ = doc["id"].(string)
			key := map[string]string{"Users": "{userId}", "Groups": "{groupId}"}[endpoint]
			if _, ok := ids[key]; !ok {
				ids[key] = id
			}
		}
		if exp.TotalResults != nil {
			if got, _ := doc["totalResults"].(float64); int(got) != *exp.TotalResults {
				t.Errorf("%s: totalResults %v, want %d; body: %s", name, doc["totalResults"], *exp.TotalResults, r.body)
			}
		}
		if req.Method == "GET" && id == "" && exp.Status == 200 {
			if _, ok := doc["Resources"].([]any); !ok {
				t.Errorf("%s: a list response without Resources: %s", name, r.body)
			}
		}
		for _, m := range exp.Match {
			f := `id eq "` + id + `" and (` + bind(m) + `)`
			lr := e.must(e.do("GET", base+"/"+endpoint+"?filter="+url.QueryEscape(f), tok, nil), 200)
			if got, _ := lr.json()["totalResults"].(float64); got != 1 {
				cur := e.do("GET", base+"/"+endpoint+"/"+id, tok, nil)
				t.Errorf("%s: the resource does not match %s; it is %s", name, m, cur.body)
			}
		}
		if exp.Members != nil {
			g := e.must(e.do("GET", base+"/Groups/"+groupID, tok, nil), 200).json()
			have := map[string]bool{}
			list, _ := g["members"].([]any)
			for _, m := range list {
				have[m.(map[string]any)["value"].(string)] = true
			}
			for _, p := range exp.Members.Present {
				if !have[bind(p)] {
					t.Errorf("%s: member %s missing after the request; members %v", name, p, list)
				}
			}
			for _, a := range exp.Members.Absent {
				if have[bind(a)] {
					t.Errorf("%s: member %s still present after the request", name, a)
				}
			}
			if want := exp.Members.Others == "kept"; have[bystander] != want {
				t.Errorf("%s: bystander member present %v, want %v (others %q): data loss", name, have[bystander], want, exp.Members.Others)
			}
		}
		if req.Method == "DELETE" {
			e.must(e.do("GET", base+"/"+endpoint+"/"+id, tok, nil), 404)
		}
	}
	// Every step was recorded in the tenant's ledger without a gap.
	if seqs := e.auditSeqs("acme"); len(seqs) < len(files)/2 {
		t.Errorf("only %d ledger entries after %d requests", len(seqs), len(files))
	}
}
