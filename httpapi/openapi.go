package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
	"github.com/scimtrail/scimtrail/service"
)

// The OpenAPI 3.1 document of /api/v1 is Go data: the operations table below, whose bodies
// are mostly derived by reflection from the types the handlers decode and render, and whose
// token kinds come from mayUse. openapi_test.go fails when a route of the routing table has
// no operation here, when an operation names a route that does not exist, or when an
// operation's area is not the one its route is guarded with; it also replays the examples
// against a real server.
//
// It is served without authentication, like /api/v1/audit/keys: it describes the API and
// holds no data of any tenant.

// apiOp is one operation of the document.
type apiOp struct {
	pattern     string // exactly as registered: "POST /api/v1/tenants"
	area        area   // which token kinds may call it; see public
	public      bool   // no authentication at all
	summary     string
	description string
	query       []apiParam
	body        map[string]any // request body schema; nil: none
	example     any            // request body example
	status      int            // success status
	resp        map[string]any // response schema; nil: no body (204) or not JSON
	respType    string         // content type when resp is not JSON
	respExample any
}

// apiParam is a query parameter.
type apiParam struct {
	name, typ, desc string
	required        bool
}

var (
	pAfter  = apiParam{"after", "integer", "Return entries with seq greater than this (the previous page's next_after); 0 or absent: from the start.", false}
	pLimit  = apiParam{"limit", "integer", "At most this many entries (default 100, at most 1000).", false}
	pAt     = apiParam{"at", "string", "An RFC 3339 instant in the past; absent: now.", false}
	pLedger = []apiParam{pAfter, pLimit,
		{"action", "string", "Only entries with this action (docs/audit-events.md).", false},
		{"actor", "string", "Only entries whose actor.id is this.", false},
		{"target", "string", "Only entries whose target.id is this.", false},
		{"since", "string", "Only entries at or after this RFC 3339 time.", false},
		{"until", "string", "Only entries before this RFC 3339 time.", false},
	}
)

var (
	tenantSchema  = schemaFor[scimtrail.Tenant]()
	tokenSchema   = withDesc(schemaFor[tokenJSON](), "A token. \"token\", the secret, is present only in the response that issued or rotated it.")
	roleSchema    = schemaFor[scimtrail.Role]()
	mappingSchema = schemaFor[scimtrail.RoleMapping]()
	grantSchema   = schemaFor[scimtrail.Grant]()
	// breakGlassRequestSchema is the API shape of a break-glass request (breakglass.go).
	breakGlassRequestSchema = schemaFor[breakGlassRequestJSON]()
	sinkSchema              = schemaFor[service.SinkStatus]()
	createdSink             = withDesc(schemaFor[service.CreatedSink](), "The sink; \"secret\" (a webhook's signing secret) only when it was generated or rotated.")
	entrySchema             = withDesc(schemaFor[scimtrail.Entry](), "A ledger entry (DESIGN.md §5), exactly the RFC 8785 bytes that were hashed.")
	eventSchema             = schemaFor[scimtrail.EventSchema]()
	checkpoint              = schemaFor[checkpointJSON]()
	proof                   = schemaFor[proofJSON]()
	pathsSchema             = map[string]any{"type": "array", "items": schemaFor[scimtrail.AccessPath]()}
	roleInput               = requires(schemaFor[service.RoleInput](), "id", "name")
	rolePatch               = requires(schemaFor[service.RolePatch]())
	sinkRequest             = schemaFor[service.SinkRequest]()
	appEvent                = schemaFor[service.AppEvent]()
	recorded                = schemaFor[service.RecordedEvent]()
)

// apiOps is every /api/v1 operation, in the order of the routing tables.
var apiOps = []apiOp{
	{pattern: "GET /api/v1/openapi.json", public: true, summary: "This document",
		description: "The OpenAPI 3.1 description of /api/v1. Needs no token: it describes the API and holds no data.",
		status:      200, resp: map[string]any{"type": "object"}},

	// admin.go
	{pattern: "POST /api/v1/tenants", area: areaInstall, summary: "Create a tenant",
		body:    object(map[string]any{"id": str("Lower-case letters, digits and hyphens; never reused."), "name": str("Display name.")}, "id"),
		example: map[string]any{"id": "initech", "name": "Initech"},
		status:  201, resp: tenantSchema},
	{pattern: "GET /api/v1/tenants", area: areaInstall, summary: "List tenants", status: 200, resp: listOf("tenants", tenantSchema)},
	{pattern: "GET /api/v1/tenants/{tenant}", area: areaTenantAdmin, summary: "Get a tenant", status: 200, resp: tenantSchema},
	{pattern: "POST /api/v1/tenants/{tenant}/tokens", area: areaTenantAdmin, summary: "Issue a token",
		description: "The secret is in the response's \"token\" and is never shown again. Only an operator token may issue operator tokens.",
		body: object(map[string]any{
			"kind":       map[string]any{"type": "string", "enum": []string{"scim", "admin", "auditor", "app", "operator"}},
			"name":       str("What the token is for, e.g. the IdP."),
			"expires_in": str("Lifetime: whole days (\"90d\") or a Go duration (\"12h\"); absent: never expires."),
		}, "kind"),
		example: map[string]any{"kind": "scim", "name": "Okta", "expires_in": "90d"},
		status:  201, resp: tokenSchema},
	{pattern: "GET /api/v1/tenants/{tenant}/tokens", area: areaTenantAdmin, summary: "List tokens (without secrets)", status: 200, resp: listOf("tokens", tokenSchema)},
	{pattern: "DELETE /api/v1/tenants/{tenant}/tokens/{id}", area: areaTenantAdmin, summary: "Revoke a token", description: "Takes effect on the next request, on every replica.", status: 204},
	{pattern: "POST /api/v1/tenants/{tenant}/tokens/{id}/rotate", area: areaTenantAdmin, summary: "Rotate a token",
		description: "Issues a new secret for the token and revokes the old one; the new secret is in \"token\".", status: 200, resp: tokenSchema},

	// ledger.go
	{pattern: "GET /api/v1/tenants/{tenant}/audit", area: areaAudit, summary: "Read the audit log",
		description: "Entries in seq order. \"entry\" is the stored JCS bytes, so leaf_hash (hex) can be recomputed from exactly what was received. Page with after=next_after.",
		query:       pLedger, status: 200,
		resp: object(map[string]any{
			"entries": map[string]any{"type": "array", "items": object(map[string]any{
				"seq": map[string]any{"type": "integer"}, "leaf_hash": str("RFC 6962 leaf hash, hex."), "entry": entrySchema,
			}, "seq", "leaf_hash", "entry")},
			"next_after": map[string]any{"type": "integer", "description": "The after of the next page."},
		}, "entries", "next_after")},
	{pattern: "GET /api/v1/tenants/{tenant}/audit/checkpoint", area: areaAudit, summary: "Latest signed checkpoint",
		description: "The C2SP signed note; size and root are decoded for convenience — verify the note's signature.", status: 200, resp: checkpoint},
	{pattern: "GET /api/v1/tenants/{tenant}/audit/proof/inclusion", area: areaAudit, summary: "Inclusion proof of an entry",
		query:  []apiParam{{"seq", "integer", "The entry's seq (leaf index + 1).", true}, {"size", "integer", "Tree size; absent: the latest checkpoint's.", false}},
		status: 200, resp: proof},
	{pattern: "GET /api/v1/tenants/{tenant}/audit/proof/consistency", area: areaAudit, summary: "Consistency proof between two tree sizes",
		query:  []apiParam{{"from", "integer", "The older tree size.", true}, {"to", "integer", "The newer tree size; absent: the latest checkpoint's.", false}},
		status: 200, resp: proof},
	{pattern: "GET /api/v1/audit/keys", public: true, summary: "Checkpoint-signing public keys",
		description: "Note verifier keys (name+hash+base64). Public, so that auditors need no token of ours.",
		status:      200, resp: object(map[string]any{"keys": map[string]any{"type": "array", "items": str("")}}, "keys")},

	// export.go
	{pattern: "POST /api/v1/tenants/{tenant}/sinks", area: areaTenantAdmin, summary: "Create an export sink",
		description: "Starts from the tenant's first entry unless from_seq is set. Loopback and private addresses are refused unless the server runs with --allow-private-sinks.",
		body:        sinkRequest, example: map[string]any{"type": "webhook", "url": "https://siem.example.com/hook", "format": "native"},
		status: 201, resp: createdSink},
	{pattern: "GET /api/v1/tenants/{tenant}/sinks", area: areaTenantAdmin, summary: "List the tenant's sinks", status: 200, resp: listOf("sinks", sinkSchema)},
	{pattern: "GET /api/v1/tenants/{tenant}/sinks/{id}", area: areaTenantAdmin, summary: "A sink's state, cursor and lag", status: 200, resp: sinkSchema},
	{pattern: "DELETE /api/v1/tenants/{tenant}/sinks/{id}", area: areaTenantAdmin, summary: "Delete a sink", status: 204},
	{pattern: "POST /api/v1/tenants/{tenant}/sinks/{id}/retry", area: areaTenantAdmin, summary: "Retry a failed sink now", status: 200, resp: sinkSchema},
	{pattern: "POST /api/v1/tenants/{tenant}/sinks/{id}/rotate", area: areaTenantAdmin, summary: "Rotate a webhook sink's secret",
		description: "The old secret keeps signing too for \"overlap\" (default 24h, at most 720h). The body is optional.",
		body:        object(map[string]any{"secret": str("whsec_…; absent: generated."), "overlap": str("A Go duration.")}),
		example:     map[string]any{"overlap": "1h"}, status: 200, resp: createdSink},
	{pattern: "POST /api/v1/sinks", area: areaInstall, summary: "Create a sink of every tenant",
		body: sinkRequest, example: map[string]any{"type": "webhook", "url": "https://siem.example.com/hook", "format": "ocsf"},
		status: 201, resp: createdSink},
	{pattern: "GET /api/v1/sinks", area: areaInstall, summary: "List the sinks of every tenant", status: 200, resp: listOf("sinks", sinkSchema)},
	{pattern: "GET /api/v1/sinks/{id}", area: areaInstall, summary: "A sink's state, cursors and lag", status: 200, resp: sinkSchema},
	{pattern: "DELETE /api/v1/sinks/{id}", area: areaInstall, summary: "Delete a sink", status: 204},
	{pattern: "POST /api/v1/sinks/{id}/retry", area: areaInstall, summary: "Retry a failed sink now", status: 200, resp: sinkSchema},
	{pattern: "POST /api/v1/sinks/{id}/rotate", area: areaInstall, summary: "Rotate a webhook sink's secret",
		body:    object(map[string]any{"secret": str("whsec_…; absent: generated."), "overlap": str("A Go duration.")}),
		example: map[string]any{"overlap": "1h"}, status: 200, resp: createdSink},
	{pattern: "GET /api/v1/tenants/{tenant}/events", area: areaEvents, summary: "Pull API: the entries after a cursor (long poll)",
		query:  []apiParam{pAfter, pLimit, {"wait", "string", "Wait up to this long (Go duration, at most 50s) for the first entry.", false}},
		status: 200, resp: object(map[string]any{
			"events":     map[string]any{"type": "array", "items": schemaFor[eventRecord]()},
			"next_after": map[string]any{"type": "integer"},
		}, "events", "next_after")},

	// events.go
	{pattern: "POST /api/v1/tenants/{tenant}/events", area: areaApp, summary: "Record the app's own admin actions",
		description: "One event, or {\"events\":[…]} with up to 1,000. 201 when recorded, 200 when the request was an idempotent replay (same event ids or Idempotency-Key header).",
		body:        map[string]any{"oneOf": []any{appEvent, object(map[string]any{"events": map[string]any{"type": "array", "items": appEvent}}, "events")}},
		example: map[string]any{"id": "evt-1", "action": "app.project.deleted", "occurred_at": "2026-11-29T06:40:00Z",
			"actor": map[string]any{"id": "u-42", "name": "alice@example.com"}, "targets": []any{map[string]any{"type": "project", "id": "p-7"}}},
		status: 201, resp: map[string]any{"oneOf": []any{recorded, listOf("events", recorded)}}},
	{pattern: "GET /api/v1/tenants/{tenant}/event-schemas", area: areaTenantAdmin, summary: "List the tenant's event schemas", status: 200, resp: listOf("schemas", eventSchema)},
	{pattern: "PUT /api/v1/tenants/{tenant}/event-schemas/{action}", area: areaTenantAdmin, summary: "Register a tenant event schema (a new version)",
		body:    object(map[string]any{"metadata_schema": map[string]any{"description": "JSON Schema of metadata"}, "targets_schema": map[string]any{"description": "JSON Schema of targets"}}),
		example: map[string]any{"metadata_schema": map[string]any{"type": "object"}}, status: 201, resp: eventSchema},
	{pattern: "GET /api/v1/tenants/{tenant}/event-schemas/{action}", area: areaTenantAdmin, summary: "Get an event schema",
		query: []apiParam{{"version", "integer", "A version; absent: the latest.", false}}, status: 200, resp: eventSchema},
	{pattern: "GET /api/v1/event-schemas", area: areaInstall, summary: "List the global event schemas", status: 200, resp: listOf("schemas", eventSchema)},
	{pattern: "PUT /api/v1/event-schemas/{action}", area: areaInstall, summary: "Register a global event schema (a new version)",
		body:    object(map[string]any{"metadata_schema": map[string]any{"description": "JSON Schema of metadata"}, "targets_schema": map[string]any{"description": "JSON Schema of targets"}}),
		example: map[string]any{"metadata_schema": map[string]any{"type": "object"}}, status: 201, resp: eventSchema},
	{pattern: "GET /api/v1/event-schemas/{action}", area: areaInstall, summary: "Get a global event schema",
		query: []apiParam{{"version", "integer", "A version; absent: the latest.", false}}, status: 200, resp: eventSchema},
	{pattern: "GET /api/v1/tenants/{tenant}/event-settings", area: areaTenantAdmin, summary: "The tenant's event settings", status: 200, resp: schemaFor[scimtrail.EventSettings]()},
	{pattern: "PUT /api/v1/tenants/{tenant}/event-settings", area: areaTenantAdmin, summary: "Change the tenant's event settings",
		body:    object(map[string]any{"unknown_actions": str("What to do with actions that have no schema, e.g. \"accept\".")}, "unknown_actions"),
		example: map[string]any{"unknown_actions": "accept"}, status: 200, resp: schemaFor[scimtrail.EventSettings]()},
	{pattern: "GET /api/v1/tenants/{tenant}/app-role-grants", area: areaAudit, summary: "Roles the app granted in its own events",
		query: []apiParam{{"user_id", "string", "Only this user's.", false}}, status: 200, resp: listOf("grants", schemaFor[scimtrail.AppRoleGrant]())},

	// access.go
	{pattern: "POST /api/v1/roles", area: areaInstall, summary: "Create a global role", body: roleInput,
		example: map[string]any{"id": "billing-admin", "name": "Billing admin", "description": "Manages invoices", "privileged": true, "permissions": []string{"billing:write"}},
		status:  201, resp: roleSchema},
	{pattern: "GET /api/v1/roles", area: areaInstall, summary: "List global roles", status: 200, resp: listOf("roles", roleSchema)},
	{pattern: "PATCH /api/v1/roles/{id}", area: areaInstall, summary: "Change a global role", description: "Absent fields are left as they are.",
		body: rolePatch, example: map[string]any{"name": "Billing administrator"}, status: 200, resp: roleSchema},
	{pattern: "DELETE /api/v1/roles/{id}", area: areaInstall, summary: "Retire a global role", description: "Its id is never reused; history keeps it.", status: 204},
	{pattern: "POST /api/v1/tenants/{tenant}/roles", area: areaTenantAdmin, summary: "Create a tenant role", body: roleInput,
		example: map[string]any{"id": "support", "name": "Support", "permissions": []string{"tickets:read"}}, status: 201, resp: roleSchema},
	{pattern: "GET /api/v1/tenants/{tenant}/roles", area: areaAudit, summary: "List the tenant's roles (global and its own)", status: 200, resp: listOf("roles", roleSchema)},
	{pattern: "PATCH /api/v1/tenants/{tenant}/roles/{id}", area: areaTenantAdmin, summary: "Change a tenant role",
		body: rolePatch, example: map[string]any{"privileged": true}, status: 200, resp: roleSchema},
	{pattern: "DELETE /api/v1/tenants/{tenant}/roles/{id}", area: areaTenantAdmin, summary: "Retire a tenant role", status: 204},
	{pattern: "POST /api/v1/tenants/{tenant}/mappings", area: areaTenantAdmin, summary: "Map a group to a role",
		description: "Members of the group, including members of nested groups, hold the role.",
		body:        object(map[string]any{"group_id": str("A SCIM Group id."), "role": str("A role id.")}, "group_id", "role"),
		example:     map[string]any{"group_id": "2819c223-7f76-453a-919d-413861904646", "role": "support"},
		status:      201, resp: mappingSchema},
	{pattern: "GET /api/v1/tenants/{tenant}/mappings", area: areaAudit, summary: "List group→role mappings", status: 200, resp: listOf("mappings", mappingSchema)},
	{pattern: "DELETE /api/v1/tenants/{tenant}/mappings/{id}", area: areaTenantAdmin, summary: "Delete a mapping", status: 204},
	{pattern: "POST /api/v1/tenants/{tenant}/grants", area: areaTenantAdmin, summary: "Grant a role directly",
		body:    object(map[string]any{"user_id": str("A SCIM User id."), "role": str("A role id."), "reason": str("Why; recorded in the log.")}, "user_id", "role", "reason"),
		example: map[string]any{"user_id": "2819c223-7f76-453a-919d-413861904646", "role": "support", "reason": "on-call rotation"},
		status:  201, resp: grantSchema},
	{pattern: "DELETE /api/v1/tenants/{tenant}/grants/{id}", area: areaTenantAdmin, summary: "Revoke a direct grant", status: 204},
	{pattern: "POST /api/v1/tenants/{tenant}/break-glass", area: areaTenantAdmin, summary: "Emergency (break-glass) access",
		description: "A grant that expires after duration (at most 8h). Under the tenant's break_glass_approval policy second_admin nothing is granted yet: the answer is 202 with a pending break-glass request for another admin to approve.",
		body: object(map[string]any{"user_id": str(""), "role": str(""), "justification": str("Why; recorded in the log."),
			"duration": str("A Go duration such as \"2h\".")}, "user_id", "role", "justification", "duration"),
		example: map[string]any{"user_id": "2819c223-7f76-453a-919d-413861904646", "role": "support", "justification": "INC-1234", "duration": "2h"},
		status:  201, resp: grantSchema},
	{pattern: "GET /api/v1/tenants/{tenant}/break-glass/requests", area: areaAudit, summary: "Break-glass requests, newest first",
		description: "Requests made under the tenant's break_glass_approval policy second_admin, pending and decided (at most 1000).",
		status:      200, resp: listOf("requests", breakGlassRequestSchema)},
	{pattern: "POST /api/v1/tenants/{tenant}/break-glass/requests/{id}/approve", area: areaTenantAdmin, summary: "Approve a pending break-glass request",
		description: "Grants the role for the requested duration counted from now. The admin who asked cannot approve (403); a decided request is 409.",
		body:        object(map[string]any{"reason": str("Optional; recorded in the log.")}), example: map[string]any{"reason": "confirmed with on-call lead"},
		status: 200, resp: breakGlassRequestSchema},
	{pattern: "POST /api/v1/tenants/{tenant}/break-glass/requests/{id}/deny", area: areaTenantAdmin, summary: "Deny (or withdraw) a pending break-glass request",
		body: object(map[string]any{"reason": str("Optional; recorded in the log.")}), example: map[string]any{"reason": "not an incident"},
		status: 200, resp: breakGlassRequestSchema},
	{pattern: "GET /api/v1/tenants/{tenant}/users/{id}/access", area: areaAudit, summary: "A user's effective access, with provenance",
		query: []apiParam{pAt}, status: 200,
		resp: object(map[string]any{"user_id": str(""), "at": map[string]any{"type": "string", "format": "date-time"},
			"access": map[string]any{"type": "array", "items": schemaFor[access.RoleAccess]()}}, "user_id", "at", "access")},
	{pattern: "GET /api/v1/tenants/{tenant}/roles/{role}/holders", area: areaAudit, summary: "Who holds a role", query: []apiParam{pAt}, status: 200,
		resp: object(map[string]any{"role": str(""), "at": map[string]any{"type": "string", "format": "date-time"},
			"holders": map[string]any{"type": "array", "items": object(map[string]any{"user_id": str(""), "paths": pathsSchema,
				"since": map[string]any{"type": "string", "format": "date-time"}}, "user_id", "paths", "since")}}, "role", "at", "holders")},
	{pattern: "GET /api/v1/tenants/{tenant}/access", area: areaAudit, summary: "Every user's effective access", query: []apiParam{pAt}, status: 200,
		resp: schemaFor[service.AccessAnswer]()},
	// access2.go: non-human identities, their policy, reports.
	{pattern: "POST /api/v1/tenants/{tenant}/service-accounts", area: areaTenantAdmin, summary: "Create a service account",
		body:    requires(schemaFor[service.ServiceAccountInput](), "name", "owner_id"),
		example: map[string]any{"name": "ci-deployer", "description": "Deploys from CI", "owner_id": "2819c223-7f76-453a-919d-413861904646"},
		status:  201, resp: schemaFor[scimtrail.ServiceAccount]()},
	{pattern: "GET /api/v1/tenants/{tenant}/service-accounts", area: areaAudit, summary: "List service accounts", status: 200, resp: listOf("service_accounts", schemaFor[scimtrail.ServiceAccount]())},
	{pattern: "POST /api/v1/tenants/{tenant}/service-accounts/verify", area: areaApp, summary: "Verify a service account's API key",
		body: object(map[string]any{"key": str("The key's secret.")}, "key"), example: map[string]any{"key": "stk_nhi_…"}, status: 200, resp: schemaFor[service.KeyCheck]()},
	{pattern: "GET /api/v1/tenants/{tenant}/service-accounts/{id}", area: areaAudit, summary: "A service account and its keys", status: 200, resp: schemaFor[service.ServiceAccountView]()},
	{pattern: "POST /api/v1/tenants/{tenant}/service-accounts/{id}/disable", area: areaTenantAdmin, summary: "Disable a service account",
		body: object(map[string]any{"reason": str("Why; recorded in the log.")}), example: map[string]any{"reason": "owner left"}, status: 200, resp: schemaFor[scimtrail.ServiceAccount]()},
	{pattern: "DELETE /api/v1/tenants/{tenant}/service-accounts/{id}", area: areaTenantAdmin, summary: "Delete a service account", status: 204},
	{pattern: "POST /api/v1/tenants/{tenant}/service-accounts/{id}/keys", area: areaTenantAdmin, summary: "Issue an API key (secret shown once)",
		body: object(map[string]any{"expires_in": str("\"90d\" or a Go duration; absent: the policy's maximum or never.")}), example: map[string]any{"expires_in": "90d"},
		status: 201, resp: schemaFor[service.IssuedKey]()},
	{pattern: "POST /api/v1/tenants/{tenant}/service-accounts/{id}/keys/{key}/rotate", area: areaTenantAdmin, summary: "Rotate an API key",
		body:    object(map[string]any{"overlap": str("How long the old key keeps working (Go duration)."), "expires_in": str("The new key's lifetime.")}),
		example: map[string]any{"overlap": "1h"}, status: 201, resp: schemaFor[service.IssuedKey]()},
	{pattern: "DELETE /api/v1/tenants/{tenant}/service-accounts/{id}/keys/{key}", area: areaTenantAdmin, summary: "Revoke an API key", status: 204},
	{pattern: "GET /api/v1/tenants/{tenant}/policies/nhi", area: areaAudit, summary: "The non-human identity policy", status: 200, resp: schemaFor[nhiPolicyJSON]()},
	{pattern: "PUT /api/v1/tenants/{tenant}/policies/nhi", area: areaTenantAdmin, summary: "Change the non-human identity policy", description: "Absent fields are left as they are.",
		body: requires(schemaFor[nhiPolicyJSON]()), example: map[string]any{"max_key_age": "2160h"}, status: 200, resp: schemaFor[nhiPolicyJSON]()},
	{pattern: "GET /api/v1/tenants/{tenant}/reports/deprovisioning", area: areaAudit, summary: "Deprovisioning latency report",
		description: "JSON, or CSV with format=csv or Accept: text/csv.", query: []apiParam{{"format", "string", "csv for CSV.", false}}, status: 200, resp: schemaFor[service.DeprovisioningReport]()},
	{pattern: "GET /api/v1/tenants/{tenant}/reports/credentials", area: areaAudit, summary: "Credentials report",
		description: "JSON, or CSV with format=csv or Accept: text/csv.", query: []apiParam{{"format", "string", "csv for CSV.", false}}, status: 200, resp: schemaFor[service.CredentialReport]()},
	{pattern: "GET /api/v1/tenants/{tenant}/reports/access", area: areaAudit, summary: "Point-in-time access report with evidence",
		description: "Every user's effective access at `at` with its paths, each citing the seq of its access.granted entry; evidence carries the signed checkpoint and inclusion proofs (check with `scimtrail audit verify --report`). CSV ends with an #evidence row.",
		query:       []apiParam{{"at", "string", "RFC 3339 instant; default now.", false}, {"format", "string", "csv for CSV.", false}}, status: 200, resp: schemaFor[service.AccessReport]()},
	{pattern: "GET /api/v1/tenants/{tenant}/reports/privileged-changes", area: areaAudit, summary: "Privileged-change report with evidence",
		description: "Every change touching a privileged role in [from, to), and each break-glass use with the entries its user made under it.",
		query:       []apiParam{{"from", "string", "RFC 3339; default the beginning.", false}, {"to", "string", "RFC 3339; default now.", false}, {"format", "string", "csv for CSV.", false}},
		status:      200, resp: schemaFor[service.PrivilegedReport]()},
	{pattern: "GET /api/v1/tenants/{tenant}/reports/stale", area: areaAudit, summary: "Orphaned and stale accounts report with evidence",
		query:  []apiParam{{"inactive_days", "integer", "Idle days for NHI keys; default 90.", false}, {"format", "string", "csv for CSV.", false}},
		status: 200, resp: schemaFor[service.StaleReport]()},
	{pattern: "GET /api/v1/tenants/{tenant}/reports/drift", area: areaAudit, summary: "Drift between the app's state and effective access",
		description: "Compares the app's current snapshot with effective access now and records an access.drift_reported entry (Scimtrail-Audit-Seq). 404 until the app completed a snapshot.",
		query:       []apiParam{{"format", "string", "csv for CSV.", false}}, status: 200, resp: schemaFor[service.DriftReport]()},
	{pattern: "GET /api/v1/tenants/{tenant}/policies/external", area: areaAudit, summary: "The external-collaborator rule and policies", status: 200, resp: schemaFor[scimtrail.ExternalPolicy]()},
	{pattern: "PUT /api/v1/tenants/{tenant}/policies/external", area: areaTenantAdmin, summary: "Change the external-collaborator rule and policies",
		description: "Absent fields are left as they are. Changing domains re-evaluates every user; changing domains or bar_privileged recomputes access in the same transaction (refused paths get access.refused entries).",
		body:        schemaFor[service.ExternalPolicyInput](),
		example:     map[string]any{"domains": []string{"acme.example"}, "bar_privileged": true, "grant_days": 30}, status: 200, resp: schemaFor[scimtrail.ExternalPolicy]()},
	{pattern: "POST /api/v1/tenants/{tenant}/access-reviews", area: areaAudit, summary: "Start an access review",
		description: "Fixes the instant (now) and the roles reviewed: scope all, privileged (the roles privileged now) or role. Records access.review_started.",
		body:        requires(schemaFor[service.ReviewInput](), "scope"), example: map[string]any{"scope": "privileged"},
		status: 201, resp: schemaFor[scimtrail.AccessReview]()},
	{pattern: "GET /api/v1/tenants/{tenant}/access-reviews", area: areaAudit, summary: "List access reviews", status: 200, resp: listOf("access_reviews", schemaFor[scimtrail.AccessReview]())},
	{pattern: "GET /api/v1/tenants/{tenant}/access-reviews/{id}", area: areaAudit, summary: "Access review export with decisions and evidence",
		description: "Each (user, role) held at the review's instant with its paths (each citing its access.granted) and the latest decision (null: pending); evidence proves the cited entries and decisions against the latest checkpoint (check with `scimtrail audit verify --report`). CSV ends with an #evidence row.",
		query:       []apiParam{{"format", "string", "csv for CSV.", false}}, status: 200, resp: schemaFor[service.ReviewReport]()},
	{pattern: "POST /api/v1/tenants/{tenant}/access-reviews/{id}/decisions", area: areaAudit, summary: "Record a reviewer's decision",
		description: "keep or revoke, with a comment; replaces an earlier decision on the same user and role and records access.review_decided. revoke_grants (admin and operator tokens only) also revokes the user's direct grants of the role.",
		body:        requires(schemaFor[service.DecisionInput](), "user_id", "role", "decision"),
		example:     map[string]any{"user_id": "2819c223-7f76-453a-919d-413861904646", "role": "billing-admin", "decision": "revoke", "comment": "left the team", "revoke_grants": true},
		status:      201, resp: schemaFor[scimtrail.ReviewDecision]()},
	{pattern: "PUT /api/v1/tenants/{tenant}/app-state", area: areaApp, summary: "Send one page of the app's own view of users and roles",
		description: "Pages with one snapshot id accumulate; \"last\": true makes the snapshot current. At most 1000 users a page.",
		body:        schemaFor[service.AppStatePage](), example: map[string]any{"snapshot": "2026-11-29", "last": true, "users": []any{map[string]any{"user_id": "u-1", "roles": []string{"viewer"}}}},
		status: 200, resp: object(map[string]any{"current": str("The current snapshot."), "pending": str("The snapshot being received."), "pages": map[string]any{"type": "integer"}})},
	{pattern: "GET /api/v1/tenants/{tenant}/retention", area: areaTenantAdmin, summary: "The tenant's log retention", status: 200, resp: schemaFor[retentionJSON]()},
	{pattern: "PUT /api/v1/tenants/{tenant}/retention", area: areaTenantAdmin, summary: "Change log retention or legal hold",
		description: "Past retention, entry bodies are dropped and their leaf hashes kept, so proofs stay valid; legal hold prevents it.",
		body:        object(map[string]any{"retention": str("e.g. \"2555d\"; \"\": forever."), "legal_hold": map[string]any{"type": "boolean"}}, "retention", "legal_hold"),
		example:     map[string]any{"retention": "400d", "legal_hold": false}, status: 200, resp: schemaFor[retentionJSON]()},

	// settings.go
	{pattern: "GET /api/v1/tenants/{tenant}/settings", area: areaAudit, summary: "The tenant's SCIM settings", status: 200, resp: schemaFor[settingsJSON]()},
	{pattern: "PATCH /api/v1/tenants/{tenant}/settings", area: areaTenantAdmin, summary: "Change the IdP dialect, password policy or break-glass approval",
		description: "dialect: strict, entra, okta or auto; password_policy: discard or reject (scimtrail never stores passwords); break_glass_approval: none or second_admin (a break-glass request then waits for another admin). Absent fields are left as they are; a change is a tenant.settings_changed entry.",
		body: object(map[string]any{"dialect": map[string]any{"type": "string", "enum": []string{"strict", "entra", "okta", "auto"}},
			"password_policy":      map[string]any{"type": "string", "enum": []string{"discard", "reject"}},
			"break_glass_approval": map[string]any{"type": "string", "enum": []string{"none", "second_admin"}}}),
		example: map[string]any{"dialect": "entra"}, status: 200, resp: schemaFor[settingsJSON]()},
	{pattern: "GET /api/v1/tenants/{tenant}/schemas", area: areaAudit, summary: "List the tenant's custom SCIM schema extensions", status: 200,
		resp: listOf("schemas", map[string]any{"type": "object"})},
	{pattern: "POST /api/v1/tenants/{tenant}/schemas", area: areaTenantAdmin, summary: "Register a custom SCIM schema extension",
		description: "An RFC 7643 §7 schema with \"resourceType\" (User or Group) and optional \"required\"; see docs/scim.md.",
		body:        object(map[string]any{"id": str("The extension's URN, outside urn:ietf:params:scim:."), "resourceType": str("User or Group."), "attributes": map[string]any{"type": "array", "items": map[string]any{"type": "object"}}}, "id", "resourceType", "attributes"),
		example:     map[string]any{"id": "urn:example:params:scim:schemas:extension:acme:2.0:User", "resourceType": "User", "attributes": []any{map[string]any{"name": "costCenter", "type": "string"}}},
		status:      201, resp: map[string]any{"type": "object"}},
	{pattern: "GET /api/v1/tenants/{tenant}/schemas/{urn}", area: areaAudit, summary: "Get a custom schema extension", status: 200, resp: map[string]any{"type": "object"}},
	{pattern: "DELETE /api/v1/tenants/{tenant}/schemas/{urn}", area: areaTenantAdmin, summary: "Delete a custom schema extension",
		description: "Refused (409) while any resource carries the extension.", status: 204},
}

// openAPIKinds is the token kinds that may call op: those of its area, none when public.
func openAPIKinds(op apiOp) []string {
	if op.public {
		return []string{}
	}
	var kinds []string
	for _, k := range mayUse[op.area] {
		kinds = append(kinds, string(k))
	}
	return kinds
}

var pathParamRE = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

var pathParamDesc = map[string]string{
	"tenant": "The tenant id.",
	"id":     "The resource id.",
	"action": "An app event action: app. followed by dotted lower-case names, e.g. app.project.deleted.",
	"role":   "A role id.",
	"key":    "An API key id.",
}

// errorResponses is which error statuses an operation can answer, with what they mean.
func errorResponses(op apiOp) map[string]any {
	ref := func(name string) map[string]any {
		return map[string]any{"$ref": "#/components/responses/" + name}
	}
	out := map[string]any{}
	if op.public {
		return out
	}
	out["401"] = ref("Unauthorized")
	out["403"] = ref("Forbidden")
	out["429"] = ref("TooManyRequests")
	out["500"] = ref("Internal")
	out["503"] = ref("Unavailable")
	if op.body != nil || len(op.query) > 0 {
		out["400"] = ref("Invalid")
	}
	if op.body != nil {
		out["413"] = ref("TooLarge")
	}
	if strings.Contains(op.pattern, "{") {
		out["404"] = ref("NotFound")
	}
	if strings.HasPrefix(op.pattern, "POST ") || strings.HasPrefix(op.pattern, "PUT ") || strings.HasPrefix(op.pattern, "PATCH ") {
		out["409"] = ref("Conflict")
	}
	return out
}

func errorResponse(desc, code, msg string) map[string]any {
	return map[string]any{
		"description": desc,
		"content": map[string]any{"application/json": map[string]any{
			"schema":  map[string]any{"$ref": "#/components/schemas/Error"},
			"example": map[string]any{"error": map[string]any{"code": code, "message": msg}},
		}},
	}
}

// buildOpenAPI assembles the document.
func buildOpenAPI() map[string]any {
	paths := map[string]any{}
	for _, op := range apiOps {
		method, path, _ := strings.Cut(op.pattern, " ")
		o := map[string]any{
			"operationId": operationID(op.pattern),
			"summary":     op.summary,
			"tags":        []string{tagOf(path)},
		}
		kinds := openAPIKinds(op)
		o["x-scimtrail-token-kinds"] = kinds
		desc := op.description
		if op.public {
			o["security"] = []any{}
			desc = strings.TrimSpace(desc + " No authentication.")
		} else {
			o["security"] = []any{map[string]any{"bearerToken": []string{}}}
			desc = strings.TrimSpace(desc + " Token kinds: " + strings.Join(kinds, ", ") + ".")
		}
		o["description"] = desc
		var params []any
		for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
				"description": pathParamDesc[m[1]], "schema": map[string]any{"type": "string"}})
		}
		for _, q := range op.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "required": q.required,
				"description": q.desc, "schema": map[string]any{"type": q.typ}})
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.body != nil {
			media := map[string]any{"schema": op.body}
			if op.example != nil {
				media["example"] = op.example
			}
			o["requestBody"] = map[string]any{"required": !strings.HasSuffix(path, "/rotate"),
				"content": map[string]any{"application/json": media}}
		}
		ok := map[string]any{"description": http.StatusText(op.status)}
		if method != "GET" && !op.public {
			ok["headers"] = map[string]any{"Scimtrail-Audit-Seq": map[string]any{"$ref": "#/components/headers/AuditSeq"}}
		}
		switch {
		case op.resp != nil && op.respType != "":
			ok["content"] = map[string]any{op.respType: map[string]any{"schema": op.resp}}
		case op.resp != nil:
			media := map[string]any{"schema": op.resp}
			if op.respExample != nil {
				media["example"] = op.respExample
			}
			ok["content"] = map[string]any{"application/json": media}
		}
		responses := errorResponses(op)
		responses[strconv.Itoa(op.status)] = ok
		o["responses"] = responses
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		if _, dup := item[strings.ToLower(method)]; dup {
			panic("openapi: two operations for " + op.pattern)
		}
		item[strings.ToLower(method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "scimtrail API",
			"version": "1",
			"description": "The JSON admin and app API of scimtrail. SCIM 2.0 is served under /scim/v2/{tenant} (see docs/scim.md), " +
				"not described here. Every change is written, in the same transaction, to the tenant's audit ledger; write " +
				"responses carry the entry's seq in Scimtrail-Audit-Seq. Errors are {\"error\":{\"code\",\"message\"}}; a 404 " +
				"looks the same whether the resource, the tenant, or the caller's right to see it is missing.",
		},
		"servers": []any{map[string]any{"url": "/"}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearerToken": map[string]any{
				"type": "http", "scheme": "bearer",
				"description": "An opaque token (stk_<kind>_…) issued with POST /api/v1/tenants/{tenant}/tokens or `scimtrail token issue`. " +
					"Kinds: operator (every tenant), admin (one tenant), auditor (read-only: log, proofs, access), app (the vendor's app), " +
					"scim (SCIM only). Each operation lists the kinds it admits in x-scimtrail-token-kinds; a token of another tenant gets 404.",
			}},
			"schemas": map[string]any{"Error": object(map[string]any{"error": object(map[string]any{
				"code": map[string]any{"type": "string", "enum": []string{scimtrail.EINVALID, scimtrail.EUNAUTHORIZED, scimtrail.EFORBIDDEN,
					scimtrail.ENOTFOUND, scimtrail.ECONFLICT, scimtrail.EPRECONDITION, scimtrail.ETOOLARGE, scimtrail.ETOOMANY,
					scimtrail.ENOTIMPLEMENTED, scimtrail.EINTERNAL, scimtrail.EUNAVAILABLE}},
				"message": str("For people; do not parse it."),
			}, "code", "message")}, "error")},
			"headers": map[string]any{"AuditSeq": map[string]any{"description": "The seq of the ledger entry that recorded the change.",
				"schema": map[string]any{"type": "integer"}}},
			"responses": map[string]any{
				"Invalid":         errorResponse("The request is malformed.", scimtrail.EINVALID, "unknown field \"expires\""),
				"Unauthorized":    errorResponse("No valid bearer token (missing, unknown, expired or revoked).", scimtrail.EUNAUTHORIZED, "a valid bearer token is required (Authorization: Bearer <token>)"),
				"Forbidden":       errorResponse("The token's kind may not use this operation.", scimtrail.EFORBIDDEN, "a scim token may not use this endpoint"),
				"NotFound":        errorResponse("No such resource, or not the token's tenant.", scimtrail.ENOTFOUND, "no resource at /api/v1/tenants/acme/tokens/x"),
				"Conflict":        errorResponse("The id or name is taken, or the state forbids it.", scimtrail.ECONFLICT, "tenant \"acme\" already exists"),
				"TooLarge":        errorResponse("The body is over the limit.", scimtrail.ETOOLARGE, "the request body is larger than 1048576 bytes"),
				"TooManyRequests": errorResponse("The tenant's rate limit is spent; see Retry-After.", scimtrail.ETOOMANY, "too many requests"),
				"Internal":        errorResponse("A server failure; the details are in the server's log.", scimtrail.EINTERNAL, "internal error"),
				"Unavailable":     errorResponse("The database is down or cannot write (nothing was changed); retry after Retry-After seconds.", scimtrail.EUNAVAILABLE, "the store is unavailable; retry later"),
			},
		},
	}
}

// operationID is a stable id from the pattern: "POST /api/v1/tenants/{tenant}/tokens" →
// "post_tenants_tenant_tokens".
func operationID(pattern string) string {
	r := strings.NewReplacer("/api/v1/", "_", "/", "_", "{", "", "}", "", "-", "_", ".", "_")
	method, path, _ := strings.Cut(pattern, " ")
	return strings.ToLower(method) + r.Replace(path)
}

// tagOf groups operations by what they are about.
func tagOf(path string) string {
	p := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
	if p[0] == "tenants" && len(p) > 2 {
		p = p[2:]
	}
	switch p[0] {
	case "tenants", "tokens", "settings", "schemas":
		return "tenants and tokens"
	case "audit", "openapi.json":
		return "audit log"
	case "sinks", "events":
		return "exports and events"
	case "event-schemas", "event-settings", "app-role-grants":
		return "app events"
	default:
		return "access"
	}
}

var (
	openAPIOnce sync.Once
	openAPIJSON []byte
)

// openAPIDocument is the document's JSON, built once.
func openAPIDocument() []byte {
	openAPIOnce.Do(func() {
		b, err := json.MarshalIndent(buildOpenAPI(), "", "  ")
		if err != nil {
			panic(fmt.Sprintf("openapi: %v", err))
		}
		openAPIJSON = append(b, '\n')
	})
	return openAPIJSON
}

// openAPIRoutes serves the document.
func (h *handler) openAPIRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/openapi.json", h.serveOpenAPI)
}

func (h *handler) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(openAPIDocument())
}
