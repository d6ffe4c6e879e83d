package scimtrail

import (
	"strings"
	"time"
)

// Keyset reports which keyset q.After seeks on: "id" for SortBy "id", "created" for
// creation order (SortBy "" or "meta.created"), or "" when q's order has no keyset.
func (q Query) Keyset() string {
	switch strings.ToLower(q.SortBy) {
	case "", "meta.created":
		return "created"
	case "id":
		return "id"
	}
	return ""
}

// IsAfter reports whether r comes strictly after q.After in q's order; backends use it
// where they filter rows in memory. It is true for every r when q.After is nil.
func (q Query) IsAfter(r Resource) bool {
	if q.After == nil {
		return true
	}
	var c int
	if q.Keyset() == "id" {
		c = strings.Compare(r.ID, q.After.ID)
	} else {
		c = r.Created.Compare(q.After.Created)
		if c == 0 {
			c = strings.Compare(r.ID, q.After.ID)
		}
	}
	if q.Descending {
		c = -c
	}
	return c > 0
}

// PositionOf is r's place in creation order.
func PositionOf(r Resource) Position {
	return Position{Created: r.Created.UTC().Truncate(time.Microsecond), ID: r.ID}
}
