package filter_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// TestStringRoundTrip builds random ASTs of the shapes Parse can produce and checks that
// String prints them so that Parse returns the same tree. The fuzzer explores inputs;
// this explores trees, including strings full of characters that need escaping.
func TestStringRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genExpr(t, 0, false)
		out := filter.String(e)
		if len(out) > filter.MaxLength {
			t.Skip("longer than MaxLength")
		}
		got, err := filter.Parse(out)
		if err != nil {
			t.Fatalf("Parse(String(e) = %q): %v", out, err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Fatalf("Parse(%q) (-built +parsed):\n%s", out, diff)
		}
	})
}

var (
	genName = rapid.StringMatching(`[A-Za-z][A-Za-z0-9_-]{0,8}|\$ref`)
	genURN  = rapid.SampledFrom([]string{"", "", "urn:ietf:params:scim:schemas:core:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:acme:v1.2:Device"})
	genNumber = rapid.StringMatching(`-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,10})?([eE][+-]?[0-9]{1,4})?`)
	genOp     = rapid.SampledFrom([]filter.Op{filter.Eq, filter.Ne, filter.Co, filter.Sw, filter.Ew, filter.Gt, filter.Ge, filter.Lt, filter.Le})
)

func genPath(t *rapid.T, inValue bool) filter.AttrPath {
	if inValue {
		return filter.AttrPath{Attr: genName.Draw(t, "attr")}
	}
	p := filter.AttrPath{URN: genURN.Draw(t, "urn"), Attr: genName.Draw(t, "attr")}
	if rapid.Bool().Draw(t, "hasSub") {
		p.Sub = genName.Draw(t, "sub")
	}
	return p
}

func genCompare(t *rapid.T, inValue bool) filter.Expr {
	c := &filter.Compare{Path: genPath(t, inValue)}
	switch rapid.IntRange(0, 5).Draw(t, "valueKind") {
	case 0:
		c.Op = filter.Pr
		return c
	case 1:
		c.Value = rapid.Bool().Draw(t, "bool")
	case 2:
		c.Value = nil
	case 3:
		c.Value = json.Number(genNumber.Draw(t, "number"))
	default:
		c.Value = rapid.String().Draw(t, "string")
	}
	c.Op = genOp.Draw(t, "op")
	return c
}

func genExpr(t *rapid.T, depth int, inValue bool) filter.Expr {
	// Nesting is bounded well below MaxDepth: each level can add one parenthesis.
	if depth >= 6 {
		return genCompare(t, inValue)
	}
	switch rapid.IntRange(0, 5).Draw(t, "kind") {
	case 0, 1:
		return genCompare(t, inValue)
	case 2:
		return &filter.Logical{Op: "and", Left: genExpr(t, depth+1, inValue), Right: genExpr(t, depth+1, inValue)}
	case 3:
		return &filter.Logical{Op: "or", Left: genExpr(t, depth+1, inValue), Right: genExpr(t, depth+1, inValue)}
	case 4:
		return &filter.Not{X: genExpr(t, depth+1, inValue)}
	default:
		if inValue {
			return genCompare(t, inValue)
		}
		p := filter.AttrPath{URN: genURN.Draw(t, "urn"), Attr: genName.Draw(t, "attr")}
		return &filter.ValuePath{Path: p, Filter: genExpr(t, depth+1, true)}
	}
}
