package syslog

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// CEF header values (docs/sinks.md).
const (
	CEFVendor  = "scimtrail"
	CEFProduct = "scimtrail"
	CEFVersion = "1"
)

// cefSeverity ranks actions on CEF's 0–10 scale: emergency access highest, grants and
// deletions above ordinary changes.
func cefSeverity(action string) int {
	switch {
	case strings.HasPrefix(action, "break_glass."):
		return 8
	case action == "access.granted" || strings.HasSuffix(action, ".deleted") || action == "user.deactivated":
		return 5
	default:
		return 3
	}
}

var (
	cefHeaderEscaper    = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\r", " ", "\n", " ")
	cefExtensionEscaper = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\r\n", `\n`, "\n", `\n`, "\r", `\r`)
)

// CEF formats a ledger entry as one CEF:0 line. Event Class ID and Name are the action;
// the entry's own fields go into CEF's standard extension keys where one fits and into
// labelled custom strings (cs1–cs5, cn1) where none does, as docs/sinks.md lists.
func CEF(body []byte, tenant string, seq int64, leafHash string) (string, error) {
	var e scimtrail.Entry
	if err := json.Unmarshal(body, &e); err != nil {
		return "", err
	}
	ext := [][2]string{
		{"rt", strconv.FormatInt(e.Time.UnixMilli(), 10)},
		{"act", e.Action},
		{"cs1Label", "tenant"}, {"cs1", tenant},
		{"cn1Label", "seq"}, {"cn1", strconv.FormatInt(seq, 10)},
		{"cs2Label", "leafHash"}, {"cs2", leafHash},
		{"suser", e.Actor.ID},
		{"cs3Label", "actorType"}, {"cs3", e.Actor.Type},
		{"src", e.Actor.IP},
		{"requestClientApplication", e.Actor.UserAgent},
		{"cs4Label", "channel"}, {"cs4", e.Channel},
	}
	if e.Target != nil {
		ext = append(ext, [2]string{"duid", e.Target.ID}, [2]string{"duser", e.Target.Display},
			[2]string{"cs5Label", "targetType"}, [2]string{"cs5", e.Target.Type})
	}
	if e.Reason != "" {
		ext = append(ext, [2]string{"reason", e.Reason})
	}
	if e.Cause != 0 {
		ext = append(ext, [2]string{"cn2Label", "cause"}, [2]string{"cn2", strconv.FormatInt(e.Cause, 10)})
	}
	return cefLine(e.Action, cefSeverity(e.Action), ext), nil
}

// CheckpointCEF formats a checkpoint record as a CEF:0 line with Event Class ID and Name
// "checkpoint": the tenant (cs1), the tree size (cn3 treeSize), the root hash (cs6
// rootHash, hex) and the signed note, line breaks escaped, as msg.
func CheckpointCEF(tenant string, size int64, rootHex, note string, at time.Time) string {
	return cefLine("checkpoint", 3, [][2]string{
		{"rt", strconv.FormatInt(at.UnixMilli(), 10)},
		{"act", "checkpoint"},
		{"cs1Label", "tenant"}, {"cs1", tenant},
		{"cn3Label", "treeSize"}, {"cn3", strconv.FormatInt(size, 10)},
		{"cs6Label", "rootHash"}, {"cs6", rootHex},
		{"msg", note},
	})
}

// cefLine writes the header and the extension pairs with a value, escaped.
func cefLine(name string, severity int, ext [][2]string) string {
	var b strings.Builder
	b.WriteString("CEF:0")
	for _, h := range []string{CEFVendor, CEFProduct, CEFVersion, name, name, strconv.Itoa(severity)} {
		b.WriteByte('|')
		b.WriteString(cefHeaderEscaper.Replace(h))
	}
	b.WriteByte('|')
	first := true
	for _, kv := range ext {
		if kv[1] == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(cefExtensionEscaper.Replace(kv[1]))
	}
	return b.String()
}
