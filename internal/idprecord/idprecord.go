// Package idprecord is the format of testdata/idp: requests identity providers send, as
// their public documentation shows them, and what must come of each (testdata/idp/README.md).
// The dialect tests replay them through the pure engine and the HTTP tests end to end.
package idprecord

import "encoding/json"

// Request is one recorded file. Paths and bodies may hold the placeholders {userId},
// {userId2} and {groupId}.
type Request struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	Expect  Expect            `json:"expect"`
}

// Expect is what the request must lead to.
type Expect struct {
	Status       int      `json:"status"`
	Match        []string `json:"match"`        // SCIM filters the resulting resource must match
	TotalResults *int     `json:"totalResults"` // for lists
	Members      *Members `json:"members"`
}

// Members says which group members a request must leave.
type Members struct {
	Present []string `json:"present"`
	Absent  []string `json:"absent"`
	Others  string   `json:"others"` // "kept" or "removed"
}
