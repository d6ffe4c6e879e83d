package schema

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// Which scimType a validation error carries follows RFC 7644 §3.12, Table 9:
//
//   - invalidSyntax: "The request body message structure was invalid or did not conform to
//     the request schema." An attribute name the resource type does not define, or the same
//     attribute given twice under names differing only in case, is wrong structure, not a
//     wrong value, so both are invalidSyntax.
//   - invalidValue: "A required value was missing, or the value specified was not compatible
//     with the operation or attribute type (see Section 2.2 of [RFC7643]), or resource schema
//     (see Section 4 of [RFC7643])." Missing required attributes (including "schemas"),
//     values of the wrong type, a "schemas" list that does not match the resource type,
//     values outside enforced canonical values and two primary values are invalidValue.

// Normalize validates a client-supplied resource body for POST or PUT and returns a new
// document in canonical form. doc is what json.Decoder with UseNumber produced (numbers as
// json.Number; float64 is accepted too). The result:
//
//   - has every attribute name in the case the schema defines (RFC 7643 §2.1: names are
//     case-insensitive), and extension attributes under the extension's exact URN;
//   - has "schemas" set to the core URN followed by the URNs of the extensions present;
//   - leaves out readOnly attributes (id, meta, groups, members.display …), because RFC 7644
//     §3.3 says "attributes whose mutability is 'readOnly' … SHALL be ignored" in requests;
//   - leaves out null values, empty arrays and empty complex values, which RFC 7643 §2.5
//     makes equivalent to unassigned;
//   - keeps writeOnly values such as password: the caller decides what to do with them.
//
// Errors are *scimtrail.Error with code EINVALID and a message naming the attribute.
func (rt *ResourceType) Normalize(doc map[string]any) (map[string]any, error) {
	if doc == nil {
		return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax,
			"the request body must be a JSON object")
	}
	declared, err := rt.declaredSchemas(doc)
	if err != nil {
		return nil, err
	}

	// Extension attributes live in a JSON object under the extension's URN (RFC 7643 §3.3);
	// everything else belongs to the core schema or is common to all resources.
	core := make(map[string]any, len(doc))
	exts := make(map[string]any)
	var nested map[string]any // core attributes sent under the core schema's URN
	for _, key := range sortedKeys(doc) {
		if strings.EqualFold(key, "schemas") {
			continue
		}
		if strings.EqualFold(key, rt.Schema.ID) {
			m, ok := doc[key].(map[string]any)
			if !ok || nested != nil {
				return nil, invalidSyntax("attribute %q must be given once, as an object of core attributes", key)
			}
			nested = m
			continue
		}
		ext, ok := rt.extension(key)
		if !ok {
			core[key] = doc[key]
			continue
		}
		if !slices.Contains(declared, ext.Schema.ID) {
			return nil, invalidValue("attribute %q is an extension not listed in \"schemas\"", key)
		}
		if _, dup := exts[ext.Schema.ID]; dup {
			return nil, invalidSyntax("extension %q is given more than once", ext.Schema.ID)
		}
		exts[ext.Schema.ID] = doc[key]
	}

	// Core attributes may also be sent under the core schema's URN, as the URN-qualified
	// names of RFC 7644 §3.10 allow ("urn:…:core:2.0:User": {"userName": …}); some clients
	// do. They mean the same as at the top level, and one attribute given both ways is
	// ambiguous.
	for _, key := range sortedKeys(nested) {
		for k := range core {
			if strings.EqualFold(k, key) {
				return nil, invalidSyntax("attribute %q is given both at the top level and under %q", key, rt.Schema.ID)
			}
		}
		core[key] = nested[key]
	}

	out := make(map[string]any, len(doc))
	coreAttrs := attributesWithCommon(rt.Schema)
	if err := normalizeObject(coreAttrs, core, "", "", out); err != nil {
		return nil, err
	}
	schemas := []any{rt.Schema.ID}
	for _, ext := range rt.Extensions {
		v := exts[ext.Schema.ID]
		if v == nil {
			if ext.Required {
				return nil, invalidValue("extension %q is required", ext.Schema.ID)
			}
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalidValue("attribute %q must be an object, got %s", ext.Schema.ID, describe(v))
		}
		extOut := make(map[string]any, len(m))
		if err := normalizeObject(ext.Schema.Attributes, m, ext.Schema.ID+":", "", extOut); err != nil {
			return nil, err
		}
		if len(extOut) == 0 {
			if ext.Required {
				return nil, invalidValue("extension %q is required", ext.Schema.ID)
			}
			continue
		}
		out[ext.Schema.ID] = extOut
		schemas = append(schemas, ext.Schema.ID)
	}
	out["schemas"] = schemas
	return out, nil
}

// declaredSchemas checks "schemas" (RFC 7643 §3: REQUIRED, and it lists the core schema and
// the extensions the body uses) and returns the URNs it lists, spelled as defined.
func (rt *ResourceType) declaredSchemas(doc map[string]any) ([]string, error) {
	var raw any
	found := false
	for k, v := range doc {
		if strings.EqualFold(k, "schemas") {
			if found {
				return nil, invalidSyntax("attribute \"schemas\" is given twice; attribute names are case-insensitive")
			}
			raw, found = v, true
		}
	}
	if !found || raw == nil {
		return nil, invalidValue("attribute \"schemas\" is required")
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, invalidValue("attribute \"schemas\" must be an array of schema URNs, got %s", describe(raw))
	}
	var urns []string
	hasCore := false
	for i, v := range list {
		s, ok := v.(string)
		if !ok {
			return nil, invalidValue("attribute \"schemas[%d]\" must be a string, got %s", i, describe(v))
		}
		switch ext, isExt := rt.extension(s); {
		case strings.EqualFold(s, rt.Schema.ID):
			hasCore = true
		case isExt:
			urns = append(urns, ext.Schema.ID)
		default:
			return nil, invalidValue("schema %q is not a schema of resource type %s", s, rt.Name)
		}
	}
	if !hasCore {
		return nil, invalidValue("attribute \"schemas\" must contain %q", rt.Schema.ID)
	}
	return urns, nil
}

// normalizeObject validates the attributes of in against attrs and stores the canonical
// ones in out. prefix qualifies names in messages ("emails[0]." or an extension URN and a
// colon); parent is the complex attribute in is a value of, or "".
func normalizeObject(attrs []Attribute, in map[string]any, prefix, parent string, out map[string]any) error {
	seen := make(map[string]string, len(in))
	for _, key := range sortedKeys(in) {
		a, ok := find(attrs, key)
		if !ok {
			return invalidSyntax("attribute %q is not defined for this resource type", prefix+key)
		}
		if first, dup := seen[a.Name]; dup {
			return invalidSyntax("attribute %q is given twice (as %q and %q); attribute names are case-insensitive",
				prefix+a.Name, first, key)
		}
		seen[a.Name] = key
		if a.Mutability == ReadOnly {
			continue
		}
		v, keep, err := normalizeValue(a, in[key], prefix+a.Name, parent)
		if err != nil {
			return err
		}
		if keep {
			out[a.Name] = v
		}
	}
	for i := range attrs {
		a := &attrs[i]
		if !a.Required || a.Mutability == ReadOnly {
			continue
		}
		if v, ok := out[a.Name]; !ok || v == "" {
			return invalidValue("attribute %q is required", prefix+a.Name)
		}
	}
	return nil
}

// normalizeValue checks one attribute's value, single- or multi-valued. keep is false when
// the value is unassigned (RFC 7643 §2.5) and the attribute should be left out.
func normalizeValue(a *Attribute, v any, path, parent string) (out any, keep bool, err error) {
	if v == nil {
		return nil, false, nil
	}
	arr, isArr := v.([]any)
	if !a.MultiValued {
		if isArr {
			return nil, false, invalidValue("attribute %q is single-valued, got an array", path)
		}
		return normalizeSingle(a, v, path, parent)
	}
	if !isArr {
		return nil, false, invalidValue("attribute %q is multi-valued and must be an array, got %s", path, describe(v))
	}
	values := make([]any, 0, len(arr))
	primary := -1
	for i, e := range arr {
		if e == nil {
			continue
		}
		elemPath := fmt.Sprintf("%s[%d]", path, i)
		ev, keep, err := normalizeSingle(a, e, elemPath, parent)
		if err != nil {
			return nil, false, err
		}
		if !keep {
			continue
		}
		// RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once."
		if m, ok := ev.(map[string]any); ok && m["primary"] == true {
			if primary >= 0 {
				return nil, false, invalidValue("attribute %q has more than one primary value (%s[%d] and %s)",
					path, path, primary, elemPath)
			}
			primary = i
		}
		values = append(values, ev)
	}
	if len(values) == 0 {
		return nil, false, nil
	}
	return values, true, nil
}

// normalizeSingle checks one value against the attribute's type (RFC 7643 §2.3).
func normalizeSingle(a *Attribute, v any, path, parent string) (any, bool, error) {
	if v == nil {
		return nil, false, nil
	}
	switch a.Type {
	case filter.TypeString, filter.TypeReference:
		s, ok := v.(string)
		if !ok {
			return nil, false, typeError(path, "a string", v)
		}
		if a.EnforceCanonical || enforcedCanonical(parent, a.Name) {
			i := slices.IndexFunc(a.CanonicalValues, func(c string) bool { return strings.EqualFold(c, s) })
			if i < 0 {
				return nil, false, invalidValue("attribute %q must be one of %s, got %q",
					path, strings.Join(a.CanonicalValues, ", "), s)
			}
			s = a.CanonicalValues[i]
		}
		return s, true, nil
	case filter.TypeBoolean:
		if _, ok := v.(bool); !ok {
			return nil, false, typeError(path, "a boolean", v)
		}
		return v, true, nil
	case filter.TypeInteger:
		if !isInteger(v) {
			return nil, false, typeError(path, "an integer", v)
		}
		return v, true, nil
	case filter.TypeDecimal:
		if !isDecimal(v) {
			return nil, false, typeError(path, "a decimal number", v)
		}
		return v, true, nil
	case filter.TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, false, typeError(path, "a dateTime string", v)
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return nil, false, typeError(path, "a dateTime (RFC 3339, e.g. 2008-01-23T04:56:22Z)", v)
		}
		return s, true, nil
	case filter.TypeBinary:
		s, ok := v.(string)
		if !ok {
			return nil, false, typeError(path, "a base64 string", v)
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return nil, false, typeError(path, "base64-encoded binary", v)
		}
		return s, true, nil
	case filter.TypeComplex:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false, typeError(path, "an object", v)
		}
		out := make(map[string]any, len(m))
		if err := normalizeObject(a.SubAttributes, m, path+".", a.Name, out); err != nil {
			return nil, false, err
		}
		return out, len(out) > 0, nil
	}
	return nil, false, scimtrail.Errorf(scimtrail.EINTERNAL, "attribute %q has unknown type %q", path, a.Type)
}

// enforcedCanonical reports whether an attribute's canonical values are the only values
// accepted. RFC 7643 §2.3.x lets service providers accept values beyond the canonical ones
// (IdPs do send other email and phone types), but a group member's type must name a
// resource type we serve, because membership rows are keyed by it.
func enforcedCanonical(parent, name string) bool {
	return parent == "members" && name == "type"
}

func isInteger(v any) bool {
	switch n := v.(type) {
	case json.Number:
		_, err := strconv.ParseInt(string(n), 10, 64)
		return err == nil
	case float64:
		return n == math.Trunc(n) && math.Abs(n) < 1<<63
	case int, int64:
		return true
	}
	return false
}

func isDecimal(v any) bool {
	switch n := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return err == nil && !math.IsInf(f, 0)
	case float64, int, int64:
		return true
	}
	return false
}

func typeError(path, want string, got any) error {
	return invalidValue("attribute %q must be %s, got %s", path, want, describe(got))
}

// describe renders a value for an error message, short and without echoing big objects.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 64 {
			x = x[:64] + "…"
		}
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return string(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

func invalidValue(format string, args ...any) error {
	return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, format, args...)
}

func invalidSyntax(format string, args ...any) error {
	return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, format, args...)
}

// sortedKeys makes validation visit attributes in a fixed order, so that a body with two
// faults always reports the same one.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
