package ocsf_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/scimtrail/scimtrail/export/ocsf"
)

// required lists, per OCSF 1.8.0 class, the required attributes beyond the base event's, and
// the activity ids the class defines.
var required = map[int]struct {
	attrs      []string
	activities []int
}{
	ocsf.ClassAccountChange:        {[]string{"user"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99}},
	ocsf.ClassGroupManagement:      {[]string{"group"}, []int{0, 1, 2, 3, 4, 5, 6, 99}},
	ocsf.ClassUserAccessManagement: {[]string{"privileges", "user"}, []int{0, 1, 2, 99}},
	ocsf.ClassAPIActivity:          {[]string{"actor", "api", "src_endpoint"}, []int{0, 1, 2, 3, 4, 99}},
}

var base = []string{"activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid"}

func TestEventsHaveRequiredAttributes(t *testing.T) {
	for action, class := range map[string]int{
		"user.created": ocsf.ClassAccountChange, "user.deactivated": ocsf.ClassAccountChange,
		"user.updated": ocsf.ClassAccountChange, "group.created": ocsf.ClassGroupManagement,
		"group.member_added": ocsf.ClassGroupManagement, "access.granted": ocsf.ClassUserAccessManagement,
		"token.issued": ocsf.ClassAPIActivity, "sink.deleted": ocsf.ClassAPIActivity, "tenant.created": ocsf.ClassAPIActivity,
	} {
		t.Run(action, func(t *testing.T) {
			body := `{"v":1,"tenant":"acme","seq":7,"time":"2026-11-29T06:40:00.123456Z","action":"` + action +
				`","actor":{"type":"idp_sync","id":"tok1","ip":"203.0.113.7"},"channel":"scim","target":{"type":"User","id":"u1","display":"alice"},"changes":[{"path":"role","new":"admin"}]}`
			ev, err := ocsf.Event([]byte(body), "ab")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(ev)
			var m map[string]any
			json.Unmarshal(raw, &m)
			for _, a := range append(slices.Clone(base), required[class].attrs...) {
				if v, ok := m[a]; !ok || v == nil {
					t.Errorf("%s: required attribute %q missing: %s", action, a, raw)
				}
			}
			if got := int(m["class_uid"].(float64)); got != class {
				t.Fatalf("class_uid %d, want %d", got, class)
			}
			act := int(m["activity_id"].(float64))
			if !slices.Contains(required[class].activities, act) {
				t.Errorf("activity_id %d is not defined by class %d", act, class)
			}
			if got, want := int(m["type_uid"].(float64)), class*100+act; got != want {
				t.Errorf("type_uid %d, want %d", got, want)
			}
			if got, want := int(m["category_uid"].(float64)), class/1000; got != want {
				t.Errorf("category_uid %d, want %d", got, want)
			}
			md := m["metadata"].(map[string]any)
			if md["version"] != ocsf.Version || md["product"] == nil {
				t.Errorf("metadata %v: want version %s and product", md, ocsf.Version)
			}
			if m["severity_id"] != float64(1) || m["time"] != float64(1795934400123) {
				t.Errorf("severity_id %v time %v", m["severity_id"], m["time"])
			}
		})
	}
}
