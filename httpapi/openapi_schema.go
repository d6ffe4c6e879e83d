package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// schemaOf is the JSON Schema (2020-12, as OpenAPI 3.1 uses it) of the JSON encoding of
// values of type t, read from the type itself by reflection, so that the document's shapes
// follow the Go types the handlers render rather than a second, hand-kept copy of them.
// Fields without omitempty or omitzero are listed as required: encoding/json always writes
// them.
func schemaOf(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[time.Time]():
		return map[string]any{"type": "string", "format": "date-time"}
	case reflect.TypeFor[json.RawMessage]():
		return map[string]any{"description": "any JSON value"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := schemaOf(t.Elem())
		if typ, ok := s["type"].(string); ok {
			s["type"] = []string{typ, "null"}
		}
		return s
	case reflect.Interface:
		return map[string]any{"description": "any JSON value"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		addFields(t, props, &required)
		s := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	panic("openapi: no schema for " + t.String())
}

// addFields adds t's JSON fields to props, flattening embedded structs the way
// encoding/json does.
func addFields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addFields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

// schemaFor is schemaOf for T.
func schemaFor[T any]() map[string]any { return schemaOf(reflect.TypeFor[T]()) }

// object is a hand-written object schema: props by name, the listed ones required.
func object(props map[string]any, required ...string) map[string]any {
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// listOf is {"<key>": [item…]}, the shape of every list response.
func listOf(key string, item map[string]any) map[string]any {
	return object(map[string]any{key: map[string]any{"type": "array", "items": item}}, key)
}

func str(desc string) map[string]any {
	s := map[string]any{"type": "string"}
	if desc != "" {
		s["description"] = desc
	}
	return s
}

func withDesc(s map[string]any, desc string) map[string]any {
	s["description"] = desc
	return s
}

// requires replaces a derived schema's required list: encoding/json decides what a response
// always has, but a request's required fields are the handler's to decide.
func requires(s map[string]any, names ...string) map[string]any {
	delete(s, "required")
	if len(names) > 0 {
		s["required"] = names
	}
	return s
}
