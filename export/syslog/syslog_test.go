package syslog_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/export/syslog"
)

func TestMessageRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 29, 6, 40, 0, 123456789, time.UTC)
	m := syslog.Message{Facility: syslog.FacilityLogAudit, Severity: syslog.SeverityInfo, Time: at,
		Hostname: "host a", AppName: "scimtrail", MsgID: "user.created",
		Params: [][2]string{{"tenant", `ac"me]\`}, {"seq", "42"}}, Msg: []byte(`{"é":1}`), BOM: true}
	b := m.Append(nil)
	if want := "<110>1 2026-11-29T06:40:00.123456Z host_a scimtrail - user.created [scimtrail@32473 tenant=\"ac\\\"me\\]\\\\\" seq=\"42\"] \xEF\xBB\xBF{"; !strings.HasPrefix(string(b), want) {
		t.Fatalf("got  %q\nwant %q…", b, want)
	}
	p, err := syslog.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Priority != 110 || !p.Time.Equal(at.Truncate(time.Microsecond)) || p.Params["tenant"] != `ac"me]\` || p.Params["seq"] != "42" ||
		string(p.Msg) != `{"é":1}` || p.ProcID != "" || p.MsgID != "user.created" {
		t.Errorf("parsed %+v", p)
	}
}

func TestFrames(t *testing.T) {
	var b []byte
	b = syslog.AppendFrame(b, []byte("<110>1 - - - - - - one"))
	b = syslog.AppendFrame(b, []byte("two two"))
	r := bufio.NewReader(bytes.NewReader(b))
	for _, want := range []string{"<110>1 - - - - - - one", "two two"} {
		got, err := syslog.ReadFrame(r)
		if err != nil || string(got) != want {
			t.Fatalf("frame %q, %v; want %q", got, err, want)
		}
	}
	if _, err := syslog.ReadFrame(r); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	for name, in := range map[string]string{"Truncated": "10 abc", "NoLength": "abc def", "Zero": "0 ", "LeadingZero": "03 abc"} {
		t.Run(name, func(t *testing.T) {
			if _, err := syslog.ReadFrame(bufio.NewReader(strings.NewReader(in))); err == nil || errors.Is(err, io.EOF) {
				t.Errorf("ReadFrame(%q) = %v, want an error", in, err)
			}
		})
	}
}

func TestCEF(t *testing.T) {
	body := []byte(`{"v":1,"tenant":"acme","seq":7,"time":"2026-11-29T06:40:00.123456Z","action":"user.deleted",` +
		`"actor":{"type":"admin","id":"a=b\\c","ip":"192.0.2.1"},"channel":"scim","target":{"type":"User","id":"u1","display":"al|ice\nx"},"reason":"left"}`)
	got, err := syslog.CEF(body, "acme", 7, "ab12")
	if err != nil {
		t.Fatal(err)
	}
	want := `CEF:0|scimtrail|scimtrail|1|user.deleted|user.deleted|5|rt=1795934400123 act=user.deleted cs1Label=tenant cs1=acme cn1Label=seq cn1=7 ` +
		`cs2Label=leafHash cs2=ab12 suser=a\=b\\c cs3Label=actorType cs3=admin src=192.0.2.1 cs4Label=channel cs4=scim ` +
		`duid=u1 duser=al|ice\nx cs5Label=targetType cs5=User reason=left`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
