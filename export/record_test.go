package export

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export/syslog"
	"github.com/scimtrail/scimtrail/service"
)

func testCheckpointRecord() Record {
	note := "scimtrail/install/acme\n42\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n\n— scimtrail.test abcd\n"
	return checkpointRecord(scimtrail.StoredCheckpoint{Tenant: "acme", Size: 42, Root: []byte{0xab, 0xcd}, Note: []byte(note)},
		time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC))
}

// TestCheckpointRecordFormats checks a checkpoint record in every format a sink sends it in
// (the end-to-end test covers webhook, CEF and JSON Lines; this adds HEC, Kafka, RFC 5424).
func TestCheckpointRecordFormats(t *testing.T) {
	r := testCheckpointRecord()
	native, _ := json.Marshal(r)
	want := `{"tenant":"acme","type":"checkpoint","checkpoint":{"size":42,"root":"q80=","checkpoint":"scimtrail/install/acme\n42\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n\n— scimtrail.test abcd\n"}}`
	if string(native) != want {
		t.Errorf("native record\n got %s\nwant %s", native, want)
	}
	if got := MessageID(r); got != "cp_acme_42" {
		t.Errorf("MessageID %q", got)
	}

	for _, format := range []string{service.FormatNative, service.FormatOCSF} {
		v, err := KafkaValue(r, format)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(v, &m)
		if m["type"] != "checkpoint" || m["seq"] != nil || m["checkpoint"].(map[string]any)["size"] != float64(42) {
			t.Errorf("kafka %s value %s", format, v)
		}
		if format == service.FormatOCSF && m["ocsf"].(map[string]any)["class_uid"] != float64(1008) {
			t.Errorf("kafka ocsf value %s: want Event Log Activity", v)
		}
		body, err := HECBody([]Record{r}, format)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Time  float64        `json:"time"`
			Event map[string]any `json:"event"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Time != 1795934400 || ev.Event["type"] != "checkpoint" {
			t.Errorf("HEC %s body %s (%v)", format, body, err)
		}
	}

	msg, err := SyslogMessage(r, service.FormatRFC5424, "host")
	if err != nil {
		t.Fatal(err)
	}
	p, err := syslog.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if p.MsgID != "checkpoint" || p.Params["size"] != "42" || p.Params["tenant"] != "acme" || p.Params["seq"] != "" ||
		!strings.Contains(string(p.Msg), `"type":"checkpoint"`) {
		t.Errorf("rfc5424 checkpoint message %+v %s", p.Params, p.Msg)
	}
	msg, err = SyslogMessage(r, service.FormatCEF, "host")
	if err != nil {
		t.Fatal(err)
	}
	if p, err = syslog.Parse(msg); err != nil {
		t.Fatal(err)
	}
	if want := `CEF:0|scimtrail|scimtrail|1|checkpoint|checkpoint|3|rt=1795934400000 act=checkpoint cs1Label=tenant cs1=acme cn3Label=treeSize cn3=42 cs6Label=rootHash cs6=abcd msg=scimtrail/install/acme\n42\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA\=\n\n— scimtrail.test abcd\n`; string(p.Msg) != want {
		t.Errorf("CEF checkpoint\n got %s\nwant %s", p.Msg, want)
	}
}

func TestDescribe(t *testing.T) {
	e := func(seq int64) Record { return Record{Tenant: "acme", Seq: seq} }
	cp := testCheckpointRecord()
	for _, c := range []struct {
		recs []Record
		want string
	}{
		{[]Record{e(3)}, "seq 3 of acme"},
		{[]Record{e(3), e(4), cp}, "seqs 3–4 and checkpoint 42 of acme"},
		{[]Record{cp, cp}, "checkpoints 42–42 of acme"},
	} {
		if got := describe(c.recs); got != c.want {
			t.Errorf("describe = %q, want %q", got, c.want)
		}
	}
}
