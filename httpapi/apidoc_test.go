package httpapi_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// shellWords splits a command line as sh would for the quoting docs/api.md uses: single
// quotes, double quotes, backslash-newline continuations, and $VAR outside single quotes
// expanded by vars.
func shellWords(t *testing.T, line string, vars func(string) string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	varName := regexp.MustCompile(`^[A-Z_]+`)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated ' in %s", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				t.Fatalf("unterminated \" in %s", line)
			}
			inner := line[i+1 : i+1+j]
			cur.WriteString(regexp.MustCompile(`\$[A-Z_]+`).ReplaceAllStringFunc(inner, func(m string) string { return vars(m[1:]) }))
			i += j + 1
			inWord = true
		case c == '$':
			n := varName.FindString(line[i+1:])
			cur.WriteString(vars(n))
			i += len(n)
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// docCurls is every curl command of a Markdown file's indented code blocks, continuation
// lines joined.
func docCurls(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var cmds []string
	for _, line := range strings.Split(text, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(line, "    ") && strings.HasPrefix(l, "curl ") {
			cmds = append(cmds, l)
		}
	}
	return cmds
}

// TestAPIDocExamples runs every curl command of docs/api.md against a real server: the
// method, the Authorization header, the body and the path as written (tenant acme becomes a
// fresh tenant, since the test server already has one), and each must succeed.
func TestAPIDocExamples(t *testing.T) {
	e := newEnv(t, backends()[0], envOptions{keys: testKeyRing(t)})
	const tenant = "apidoc"
	vars := map[string]string{"OPERATOR": e.operator}
	lazy := map[string]func() string{
		"APP_TOKEN": func() string { return e.issue(tenant, "app") },
		"TOKEN_ID": func() string {
			id, _ := e.must(e.do("POST", "/api/v1/tenants/"+tenant+"/tokens", e.operator, map[string]any{"kind": "admin", "name": "to revoke"}), 201).json()["id"].(string)
			return id
		},
		"USER_ID": func() string {
			id, _ := e.must(e.do("POST", "/scim/v2/"+tenant+"/Users", e.operator, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bob@" + tenant + ".example"}), 201).json()["id"].(string)
			return id
		},
	}
	lazy["GROUP_ID"] = func() string {
		user := vars["USER_ID"]
		if user == "" {
			user = lazy["USER_ID"]()
			vars["USER_ID"] = user
		}
		id, _ := e.must(e.do("POST", "/scim/v2/"+tenant+"/Groups", e.operator, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Support", "members": []map[string]any{{"value": user}}}), 201).json()["id"].(string)
		return id
	}
	expand := func(name string) string {
		if v, ok := vars[name]; ok {
			return v
		}
		f := lazy[name]
		if f == nil {
			t.Fatalf("docs/api.md uses $%s, which the test does not know", name)
		}
		vars[name] = f()
		return vars[name]
	}
	cmds := docCurls(t, "../docs/api.md")
	if len(cmds) < 10 {
		t.Fatalf("found only %d curl commands in docs/api.md", len(cmds))
	}
	for _, cmd := range cmds {
		words := shellWords(t, strings.ReplaceAll(cmd, "acme", tenant), expand)
		method, token, url := "GET", "", ""
		var body any
		for i := 1; i < len(words); i++ {
			switch w := words[i]; {
			case w == "-X":
				i++
				method = words[i]
			case w == "-H":
				i++
				if v, ok := strings.CutPrefix(words[i], "Authorization: Bearer "); ok {
					token = v
				} else if words[i] != "Content-Type: application/json" {
					t.Errorf("%s: unexpected header %q", cmd, words[i])
				}
			case w == "-d":
				i++
				body = words[i]
				if method == "GET" {
					method = "POST"
				}
			case strings.HasPrefix(w, "http://127.0.0.1:8080/"):
				url = strings.TrimPrefix(w, "http://127.0.0.1:8080")
			default:
				t.Errorf("%s: unexpected argument %q", cmd, w)
			}
		}
		if url == "" {
			t.Errorf("%s: no URL", cmd)
			continue
		}
		r := e.do(method, url, token, body)
		if r.status/100 != 2 {
			t.Errorf("%s\n  → %d %s", cmd, r.status, r.body)
		}
	}
}
