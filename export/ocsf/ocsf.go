// Package ocsf maps scimtrail ledger entries to OCSF 1.8.0 events (docs/ocsf.md): users to
// Account Change, groups to Group Management, access grants to User Access Management, and
// every other action (tenants, tokens, sinks) to API Activity. It is pure: entry in, event out.
package ocsf

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Version is the OCSF schema version the events claim.
const Version = "1.8.0"

// OCSF categories and classes used.
const (
	CategorySystem      = 1
	CategoryIAM         = 3
	CategoryApplication = 6

	ClassEventLogActivity = 1008
	eventLogOther         = 99
	deviceServer          = 1

	ClassAccountChange        = 3001
	ClassUserAccessManagement = 3005
	ClassGroupManagement      = 3006
	ClassAPIActivity          = 6003
	activityOther             = 99
	severityInformational     = 1
	statusSuccess             = 1
	accountChangeCreate       = 1
	accountChangeEnable       = 2
	accountChangeDisable      = 5
	accountChangeDelete       = 6
	groupAddUser              = 3
	groupRemoveUser           = 4
	groupDelete               = 5
	groupCreate               = 6
	accessAssignPrivileges    = 1
	accessRevokePrivileges    = 2
	apiCreate                 = 1
	apiUpdate                 = 3
	apiDelete                 = 4
)

// mapping is the class and activity of an action.
type mapping struct {
	class, activity int
	name            string
}

var actions = map[string]mapping{
	"user.created":         {ClassAccountChange, accountChangeCreate, "Create"},
	"user.reactivated":     {ClassAccountChange, accountChangeEnable, "Enable"},
	"user.deactivated":     {ClassAccountChange, accountChangeDisable, "Disable"},
	"user.deleted":         {ClassAccountChange, accountChangeDelete, "Delete"},
	"user.updated":         {ClassAccountChange, activityOther, "Update"},
	"group.created":        {ClassGroupManagement, groupCreate, "Create"},
	"group.deleted":        {ClassGroupManagement, groupDelete, "Delete"},
	"group.updated":        {ClassGroupManagement, activityOther, "Update"},
	"group.member_added":   {ClassGroupManagement, groupAddUser, "Add User"},
	"group.member_removed": {ClassGroupManagement, groupRemoveUser, "Remove User"},
	"access.granted":       {ClassUserAccessManagement, accessAssignPrivileges, "Assign Privileges"},
	"access.revoked":       {ClassUserAccessManagement, accessRevokePrivileges, "Revoke Privileges"},
}

// classOf returns the mapping of an action; unknown actions are API Activity, with the
// activity read from the verb.
func classOf(action string) mapping {
	if m, ok := actions[action]; ok {
		return m
	}
	verb := action[strings.LastIndex(action, ".")+1:]
	switch {
	case verb == "created" || verb == "issued":
		return mapping{ClassAPIActivity, apiCreate, "Create"}
	case verb == "deleted" || verb == "revoked":
		return mapping{ClassAPIActivity, apiDelete, "Delete"}
	default:
		return mapping{ClassAPIActivity, apiUpdate, "Update"}
	}
}

// Event returns the OCSF event of a ledger entry. leafHash is carried in unmapped so that a
// SIEM user can verify the event against the tenant's log.
func Event(body []byte, leafHash string) (map[string]any, error) {
	var e scimtrail.Entry
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	m := classOf(e.Action)
	category := CategoryIAM
	if m.class == ClassAPIActivity {
		category = CategoryApplication
	}
	ev := map[string]any{
		"category_uid":  category,
		"class_uid":     m.class,
		"activity_id":   m.activity,
		"activity_name": m.name,
		"type_uid":      m.class*100 + m.activity,
		"severity_id":   severityInformational,
		"status_id":     statusSuccess,
		"time":          e.Time.UnixMilli(),
		"message":       e.Action,
		"metadata": map[string]any{
			"version":     Version,
			"uid":         e.Tenant + "/" + itoa(e.Seq),
			"sequence":    e.Seq,
			"tenant_uid":  e.Tenant,
			"log_name":    "scimtrail/" + e.Tenant,
			"event_code":  e.Action,
			"logged_time": e.Time.UnixMilli(),
			"product":     map[string]any{"name": "scimtrail", "vendor_name": "scimtrail"},
		},
		"actor":    actor(e),
		"unmapped": map[string]any{"leaf_hash": leafHash, "channel": e.Channel, "cause": e.Cause, "reason": e.Reason, "changes": e.Changes},
	}
	if e.Actor.IP != "" {
		ev["src_endpoint"] = map[string]any{"ip": e.Actor.IP}
	}
	target := map[string]any{}
	if e.Target != nil {
		target = map[string]any{"uid": e.Target.ID, "name": e.Target.Display, "type": e.Target.Type}
	}
	switch m.class {
	case ClassAccountChange:
		ev["user"] = target
	case ClassGroupManagement:
		ev["group"] = target
		if m.activity == groupAddUser || m.activity == groupRemoveUser {
			ev["user"] = map[string]any{"uid": firstMember(e)}
		}
	case ClassUserAccessManagement:
		ev["user"] = target
		ev["privileges"] = privileges(e)
	case ClassAPIActivity:
		ev["api"] = map[string]any{"operation": e.Action, "service": map[string]any{"name": "scimtrail " + e.Channel}}
		if _, ok := ev["src_endpoint"]; !ok {
			ev["src_endpoint"] = map[string]any{"name": e.Channel}
		}
		ev["resources"] = []any{target}
	}
	return ev, nil
}

func actor(e scimtrail.Entry) map[string]any {
	a := map[string]any{"user": map[string]any{"uid": e.Actor.ID, "type": e.Actor.Type}}
	if e.Actor.UserAgent != "" {
		a["app_name"] = e.Actor.UserAgent
	}
	if e.Actor.RequestID != "" {
		a["session"] = map[string]any{"uid": e.Actor.RequestID}
	}
	return a
}

func firstMember(e scimtrail.Entry) string {
	for _, c := range e.Changes {
		for _, v := range []any{c.New, c.Old} {
			if l, ok := v.([]any); ok && len(l) > 0 {
				if s, ok := l[0].(string); ok {
					return s
				}
				if m, ok := l[0].(map[string]any); ok {
					if s, ok := m["value"].(string); ok {
						return s
					}
				}
			}
		}
	}
	return ""
}

// privileges names the role an access entry granted or revoked; the entry's changes carry it
// under "role".
func privileges(e scimtrail.Entry) []string {
	for _, c := range e.Changes {
		if c.Path == "role" {
			for _, v := range []any{c.New, c.Old} {
				if s, ok := v.(string); ok {
					return []string{s}
				}
			}
		}
	}
	return []string{e.Action}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// CheckpointEvent returns the OCSF event of a checkpoint record: Event Log Activity (1008,
// System Activity), the class for actions on a system's event log, with activity 99 Other
// named "Checkpoint" since none of its activities (clear, export, archive, rotate, …)
// means "signed the log's current state". device (required by System Activity) is the
// scimtrail server; the checkpoint itself is in unmapped. at is when it was signed.
func CheckpointEvent(tenant string, size int64, root []byte, note string, at time.Time) map[string]any {
	origin, _, _ := strings.Cut(note, "\n")
	return map[string]any{
		"category_uid":  CategorySystem,
		"class_uid":     ClassEventLogActivity,
		"activity_id":   eventLogOther,
		"activity_name": "Checkpoint",
		"type_uid":      ClassEventLogActivity*100 + eventLogOther,
		"severity_id":   severityInformational,
		"status_id":     statusSuccess,
		"time":          at.UnixMilli(),
		"message":       "checkpoint of the audit log of " + tenant + " at size " + itoa(size),
		"metadata": map[string]any{
			"version":    Version,
			"uid":        tenant + "/checkpoint/" + itoa(size),
			"tenant_uid": tenant,
			"log_name":   "scimtrail/" + tenant,
			"event_code": "checkpoint",
			"product":    map[string]any{"name": "scimtrail", "vendor_name": "scimtrail"},
		},
		"actor":        map[string]any{"app_name": "scimtrail"},
		"device":       map[string]any{"type_id": deviceServer, "type": "Server", "name": "scimtrail"},
		"log_name":     origin,
		"log_provider": "scimtrail",
		"unmapped":     map[string]any{"tree_size": size, "root_hash": hex.EncodeToString(root), "checkpoint": note},
	}
}
