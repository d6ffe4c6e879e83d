package access

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Ledger actions of derived access entries.
const (
	ActionGranted = "access.granted"
	ActionRevoked = "access.revoked"
	ActionExpired = "access.expired"
)

// GrantedChanges are the changes of an access.granted entry: the role, the path and, for
// break-glass, the instant it expires.
func GrantedChanges(h Held) []scimtrail.Change {
	c := []scimtrail.Change{{Path: "role", New: h.Role}, {Path: "path", New: h.Path}}
	if !h.Expires.IsZero() {
		c = append(c, scimtrail.Change{Path: "expires", New: h.Expires.UTC().Format(scimtrail.TimeFormat)})
	}
	return c
}

// EndedChanges are the changes of an access.revoked or access.expired entry.
func EndedChanges(iv scimtrail.AccessInterval) []scimtrail.Change {
	return []scimtrail.Change{{Path: "role", Old: iv.Role}, {Path: "path", Old: iv.Path}}
}

// History rebuilds access intervals from access.* ledger entries alone, so that what the
// interval table answers for any instant can be checked against the log.
type History struct {
	Intervals []scimtrail.AccessInterval
	open      map[string]int
}

type entryBody struct {
	Time    string `json:"time"`
	Action  string `json:"action"`
	Target  *scimtrail.Target
	Changes []struct {
		Path string          `json:"path"`
		Old  json.RawMessage `json:"old"`
		New  json.RawMessage `json:"new"`
	} `json:"changes"`
}

// Apply folds one entry's canonical body into the history; entries other than access.*
// are ignored. Entries must come in seq order.
func (h *History) Apply(body []byte) error {
	if h.open == nil {
		h.open = map[string]int{}
	}
	var e entryBody
	if err := json.Unmarshal(body, &e); err != nil {
		return err
	}
	if e.Action != ActionGranted && e.Action != ActionRevoked && e.Action != ActionExpired {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, e.Time)
	if err != nil {
		return err
	}
	if e.Target == nil {
		return fmt.Errorf("%s entry without a target", e.Action)
	}
	iv := scimtrail.AccessInterval{UserID: e.Target.ID}
	for _, c := range e.Changes {
		v := c.New
		if e.Action != ActionGranted {
			v = c.Old
		}
		var err error
		switch c.Path {
		case "role":
			err = json.Unmarshal(v, &iv.Role)
		case "path":
			err = json.Unmarshal(v, &iv.Path)
		case "expires":
			var s string
			if err = json.Unmarshal(v, &s); err == nil {
				iv.Expires, err = time.Parse(time.RFC3339Nano, s)
			}
		}
		if err != nil {
			return fmt.Errorf("%s entry: change %q: %w", e.Action, c.Path, err)
		}
	}
	key := iv.UserID + "|" + iv.Role + "|" + iv.Path.Key()
	if e.Action == ActionGranted {
		iv.From = at
		h.open[key] = len(h.Intervals)
		h.Intervals = append(h.Intervals, iv)
		return nil
	}
	i, ok := h.open[key]
	if !ok {
		return fmt.Errorf("%s of %s, which is not held", e.Action, key)
	}
	delete(h.open, key)
	h.Intervals[i].To = at
	if e.Action == ActionExpired && !h.Intervals[i].Expires.IsZero() {
		h.Intervals[i].To = h.Intervals[i].Expires
	}
	return nil
}

// At lists the intervals held at t, narrowed to a user and/or role when not "".
func (h *History) At(t time.Time, userID, role string) []scimtrail.AccessInterval {
	var out []scimtrail.AccessInterval
	for _, iv := range h.Intervals {
		if iv.HeldAt(t) && (userID == "" || iv.UserID == userID) && (role == "" || iv.Role == role) {
			out = append(out, iv)
		}
	}
	return out
}
