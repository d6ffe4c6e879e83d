package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// serveFlags reads the names of the flags runServe defines from serve.go's source, so
// that the list cannot drift from the real flag set.
func serveFlags(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, "serve.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range af.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "runServe" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Var") {
				return true
			}
			if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				names = append(names, name)
			}
			return true
		})
	}
	return names
}

// TestOperationsDocListsEveryServeFlag fails when a serve flag, or its SCIMTRAIL_ variable,
// has no row in docs/operations.md's table, or the table has a row for a flag that is gone.
func TestOperationsDocListsEveryServeFlag(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	flags := serveFlags(t)
	if len(flags) < 10 {
		t.Fatalf("found only %d serve flags in serve.go: %v", len(flags), flags)
	}
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\| `([A-Z_]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = m[2]
	}
	for _, f := range flags {
		env, ok := rows[f]
		if !ok {
			t.Errorf("serve flag --%s has no row in docs/operations.md", f)
		} else if env != envName(f) {
			t.Errorf("docs/operations.md says --%s is %s, want %s", f, env, envName(f))
		}
		delete(rows, f)
	}
	for f := range rows {
		t.Errorf("docs/operations.md documents --%s, which serve does not have", f)
	}
	// The environment variables read directly, not through a flag.
	src, _ := os.ReadFile("serve.go")
	for _, m := range regexp.MustCompile(`Getenv\("(SCIMTRAIL_[A-Z_]+)"\)`).FindAllStringSubmatch(string(src), -1) {
		if !strings.Contains(string(b), "`"+m[1]+"`") {
			t.Errorf("docs/operations.md does not mention %s", m[1])
		}
	}
}
