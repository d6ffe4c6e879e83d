package access

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestShortcutsMatchDecoding checks that SCIMRoles and External, which skip decoding a
// document that cannot hold the attribute they read, answer exactly as decoding does,
// including for the spellings encoding/json accepts (any case, escapes, Unicode folds).
func TestShortcutsMatchDecoding(t *testing.T) {
	docs := []string{
		`{"userName":"alice@example.com","active":true}`,
		`{"userName":"alice","roles":[{"value":"admin"}]}`,
		`{"userName":"alice","ROLES":[{"value":"admin"}]}`,
		`{"userName":"alice","Roles":[{"value":"admin"}],"x":"roles"}`,
		`{"userName":"alice","\u0072oles":[{"value":"admin"}]}`,
		`{"userName":"alice","role\u017f":[{"value":"admin"}]}`, // ſ folds to s
		`{"userName":"alice","title":"roles"}`,
		`{"userName":"bob","userType":"Guest"}`,
		`{"userName":"bob","USERTYPE":"external"}`,
		`{"userName":"bob","user\u0054ype":"guest"}`,
		`{"userName":"bob","userType":"Employee","emails":[{"value":"b@example.org"}]}`,
		`{"name":{"givenName":"Zoë"},"userType":"guest"}`,
		`{"roles":`, // not JSON
		``,
	}
	for _, doc := range docs {
		var d struct {
			Roles []struct {
				Value string `json:"value"`
			} `json:"roles"`
			UserType string `json:"userType"`
		}
		err := json.Unmarshal([]byte(doc), &d)
		var want []string
		for _, r := range d.Roles {
			if err == nil && r.Value != "" && !slices.Contains(want, r.Value) {
				want = append(want, r.Value)
			}
		}
		if got := SCIMRoles([]byte(doc)); !slices.Equal(got, want) {
			t.Errorf("SCIMRoles(%s) = %q, want %q", doc, got, want)
		}
		wantExt := err == nil && (d.UserType == "guest" || d.UserType == "Guest" || d.UserType == "external")
		if got, _ := External([]byte(doc), nil); got != wantExt {
			t.Errorf("External(%s, no domains) = %v, want %v", doc, got, wantExt)
		}
	}
}
