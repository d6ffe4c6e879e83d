package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/scimtrail/scimtrail"
)

// PatchOpURN is the only schema a PATCH request body may declare (RFC 7644 §3.5.2).
const PatchOpURN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// MaxOperations bounds the operations of one request, so that one request cannot hold the
// tenant's single writer for long; it is advertised in ServiceProviderConfig.
const MaxOperations = 1000

// Operation kinds, lower case as RFC 7644 writes them.
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
)

// Operation is one element of a PATCH request's "Operations". Op is lower case; Path is as
// sent ("" when absent); Value is the decoded JSON value with numbers as json.Number, nil
// when absent (or null, which replace treats as unassigning the target).
type Operation struct {
	Op    string
	Path  string
	Value any
}

// ParseRequest decodes a PATCH request body and checks its shape: the PatchOp schema, a
// non-empty Operations array of at most MaxOperations, each with a known op, a value for
// add and replace, a path for remove, and a path that parses. Errors are *scimtrail.Error
// with code EINVALID and a scimType: invalidSyntax for malformed JSON or shape, invalidPath
// for a bad path, invalidValue for a missing value, noTarget for a remove without a path.
func ParseRequest(body []byte) ([]Operation, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, syntaxErr(err, "the PATCH body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid(scimtrail.ScimInvalidSyntax, "the PATCH body has data after its JSON object")
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, invalid(scimtrail.ScimInvalidSyntax, "the PATCH body must be a JSON object with \"schemas\" and \"Operations\"")
	}
	// Attribute names are case-insensitive (RFC 7643 §2.1), and IdPs differ in how they
	// capitalise "Operations", so message keys are matched ignoring case.
	schemas, _ := member(top, "schemas")
	list, ok := schemas.([]any)
	if !ok || len(list) != 1 || list[0] != PatchOpURN {
		return nil, invalid(scimtrail.ScimInvalidSyntax, "\"schemas\" must be [%q]", PatchOpURN)
	}
	opsRaw, ok := member(top, "Operations")
	if !ok {
		return nil, invalid(scimtrail.ScimInvalidSyntax, "the PATCH body has no \"Operations\" array")
	}
	opsList, ok := opsRaw.([]any)
	if !ok {
		return nil, invalid(scimtrail.ScimInvalidSyntax, "\"Operations\" must be an array of operations")
	}
	if len(opsList) == 0 {
		return nil, invalid(scimtrail.ScimInvalidSyntax, "\"Operations\" is empty; send at least one operation")
	}
	if len(opsList) > MaxOperations {
		return nil, invalid(scimtrail.ScimInvalidSyntax, "\"Operations\" has %d operations; at most %d are allowed in one request", len(opsList), MaxOperations)
	}
	ops := make([]Operation, 0, len(opsList))
	for i, o := range opsList {
		op, err := parseOperation(i, o)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func parseOperation(i int, o any) (Operation, error) {
	obj, ok := o.(map[string]any)
	if !ok {
		return Operation{}, invalid(scimtrail.ScimInvalidSyntax, "Operations[%d] must be an object with \"op\", \"path\" and \"value\"", i)
	}
	opRaw, _ := member(obj, "op")
	name, ok := opRaw.(string)
	if !ok {
		return Operation{}, invalid(scimtrail.ScimInvalidSyntax, "Operations[%d] needs \"op\": one of \"add\", \"remove\", \"replace\"", i)
	}
	// Entra ID sends "Add" and "Replace"; the RFC's names are lower case.
	op := Operation{Op: strings.ToLower(name)}
	switch op.Op {
	case OpAdd, OpRemove, OpReplace:
	default:
		return Operation{}, invalid(scimtrail.ScimInvalidSyntax, "Operations[%d] has op %q; it must be one of \"add\", \"remove\", \"replace\"", i, name)
	}
	if p, ok := member(obj, "path"); ok && p != nil {
		s, ok := p.(string)
		if !ok {
			return Operation{}, invalid(scimtrail.ScimInvalidPath, "Operations[%d] \"path\" must be a string", i)
		}
		op.Path = strings.TrimSpace(s)
	}
	v, hasValue := member(obj, "value")
	op.Value = v
	switch op.Op {
	case OpAdd:
		if v == nil {
			return Operation{}, invalid(scimtrail.ScimInvalidValue, "Operations[%d] (add) needs a \"value\" to add", i)
		}
	case OpReplace:
		// A null value is allowed: an attribute set to null is unassigned (RFC 7643 §2.5).
		if !hasValue {
			return Operation{}, invalid(scimtrail.ScimInvalidValue, "Operations[%d] (replace) needs a \"value\"", i)
		}
	case OpRemove:
		if op.Path == "" {
			// RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP
			// status code 400 and a "scimType" error code of "noTarget"."
			return Operation{}, invalid(scimtrail.ScimNoTarget, "Operations[%d] (remove) needs a \"path\" naming what to remove", i)
		}
	}
	if op.Path != "" {
		if _, err := ParsePath(op.Path); err != nil {
			return Operation{}, atOp(i, err)
		}
	}
	return op, nil
}

// member returns obj's value for key, matching the key exactly first and then ignoring case.
func member(obj map[string]any, key string) (any, bool) {
	if v, ok := obj[key]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func invalid(scimType, format string, args ...any) *scimtrail.Error {
	return scimtrail.ScimErrorf(scimtrail.EINVALID, scimType, format, args...)
}

func syntaxErr(cause error, format string, args ...any) *scimtrail.Error {
	e := invalid(scimtrail.ScimInvalidSyntax, format, args...)
	e.Err = cause
	return e
}

// atOp prefixes an error's message with the operation it came from, so the sender can find
// the offending operation in a request of hundreds.
func atOp(i int, err error) error {
	var e *scimtrail.Error
	if errors.As(err, &e) {
		c := *e
		c.Message = "Operations[" + strconv.Itoa(i) + "]: " + e.Message
		return &c
	}
	return err
}
