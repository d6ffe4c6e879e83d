// Package syslog writes scimtrail records as RFC 5424 syslog messages, framed for TLS
// transport with RFC 5425 octet counting ("MSG-LEN SP SYSLOG-MSG"), and formats them as
// ArcSight CEF (docs/sinks.md). It is our own writer, not log/syslog: that one speaks the
// BSD format over plain TCP/UDP and has no TLS. It is pure — values in, bytes out — and
// also has the reader a receiver needs (ReadFrame, Parse), which the tests use.
package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Facility and severity of every message: facility 13 is "log audit" (RFC 5424 §6.2.1),
// severity 6 "informational" — an audit record is not an alarm.
const (
	FacilityLogAudit = 13
	SeverityInfo     = 6
)

// SDID is the structured data element carrying tenant, seq and leaf hash. 32473 is the
// private enterprise number RFC 5612 reserves for documentation; a receiver keys on the
// whole name, which no other software uses.
const SDID = "scimtrail@32473"

// Message is one RFC 5424 message. Empty header fields are written as the NILVALUE "-".
type Message struct {
	Facility, Severity int
	Time               time.Time
	Hostname, AppName  string
	ProcID, MsgID      string
	// Params is the one structured data element SDID, in order; nil writes "-".
	Params [][2]string
	// Msg is the free-form part. With BOM set it is marked as UTF-8 (RFC 5424 §6.4).
	Msg []byte
	BOM bool
}

// MaxHeaderField are the RFC 5424 §6 limits of the header fields, which are printable
// US-ASCII without spaces.
var maxHeaderField = map[string]int{"hostname": 255, "app-name": 48, "procid": 128, "msgid": 32}

// headerField cleans a header field: printable ASCII only (others become '_'), truncated
// to its limit, "-" when empty.
func headerField(name, v string) string {
	if v == "" {
		return "-"
	}
	b := []byte(v)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if n := maxHeaderField[name]; len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// paramValue escapes '"', '\' and ']' in an SD-PARAM value (RFC 5424 §6.3.3).
func paramValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(strings.ToValidUTF8(v, "\uFFFD"))
}

// Append appends m in the RFC 5424 format to b.
func (m Message) Append(b []byte) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(m.Facility*8+m.Severity), 10)
	b = append(b, ">1 "...)
	if m.Time.IsZero() {
		b = append(b, '-')
	} else {
		// RFC 5424 allows at most 6 fraction digits.
		b = m.Time.UTC().Truncate(time.Microsecond).AppendFormat(b, "2006-01-02T15:04:05.999999Z07:00")
	}
	for _, f := range [][2]string{{"hostname", m.Hostname}, {"app-name", m.AppName}, {"procid", m.ProcID}, {"msgid", m.MsgID}} {
		b = append(b, ' ')
		b = append(b, headerField(f[0], f[1])...)
	}
	b = append(b, ' ')
	if m.Params == nil {
		b = append(b, '-')
	} else {
		b = append(b, '[')
		b = append(b, SDID...)
		for _, p := range m.Params {
			b = append(b, ' ')
			b = append(b, p[0]...)
			b = append(b, `="`...)
			b = append(b, paramValue(p[1])...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	if len(m.Msg) > 0 {
		b = append(b, ' ')
		if m.BOM {
			b = append(b, 0xEF, 0xBB, 0xBF)
		}
		b = append(b, m.Msg...)
	}
	return b
}

// AppendFrame appends msg with RFC 5425 octet-counting framing: its length in octets, a
// space, the message.
func AppendFrame(b, msg []byte) []byte {
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, ' ')
	return append(b, msg...)
}

// MaxFrame bounds the frames ReadFrame accepts; RFC 5425 §4.3.1 asks receivers to take at
// least 2048 octets and recommends 8192. Our records can be larger (a big PATCH), so we
// accept 1 MiB.
const MaxFrame = 1 << 20

// ReadFrame reads one octet-counted frame. It returns io.EOF at a clean end between frames
// and io.ErrUnexpectedEOF for a truncated one.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	lenText, err := r.ReadString(' ')
	if err != nil {
		if err == io.EOF && lenText == "" {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenText, " "))
	if err != nil || n < 1 || n > MaxFrame || lenText[0] == '0' {
		return nil, fmt.Errorf("syslog frame: bad length %q", lenText)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return msg, nil
}

// Parsed is a message as Parse reads it.
type Parsed struct {
	Priority                         int
	Time                             time.Time
	Hostname, AppName, ProcID, MsgID string
	Params                           map[string]string // of SDID
	Msg                              []byte            // BOM removed
}

// Parse reads an RFC 5424 message as Append writes it (one SD element at most); it is the
// receiver's side, for tests and for customers checking their pipeline.
func Parse(b []byte) (Parsed, error) {
	var p Parsed
	if len(b) < 4 || b[0] != '<' {
		return p, errors.New("syslog: no PRI")
	}
	end := bytes.IndexByte(b, '>')
	if end < 2 || end > 4 {
		return p, errors.New("syslog: bad PRI")
	}
	pri, err := strconv.Atoi(string(b[1:end]))
	if err != nil || pri > 191 {
		return p, errors.New("syslog: bad PRI")
	}
	p.Priority = pri
	rest := b[end+1:]
	fields := make([]string, 6)
	for i := range fields {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return p, fmt.Errorf("syslog: header ends early at field %d", i)
		}
		fields[i], rest = string(rest[:sp]), rest[sp+1:]
	}
	if fields[0] != "1" {
		return p, fmt.Errorf("syslog: version %q, want 1", fields[0])
	}
	if fields[1] != "-" {
		if p.Time, err = time.Parse(time.RFC3339Nano, fields[1]); err != nil {
			return p, fmt.Errorf("syslog: timestamp: %w", err)
		}
	}
	nilv := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	p.Hostname, p.AppName, p.ProcID, p.MsgID = nilv(fields[2]), nilv(fields[3]), nilv(fields[4]), nilv(fields[5])
	switch {
	case len(rest) > 0 && rest[0] == '-':
		rest = rest[1:]
	case len(rest) > 0 && rest[0] == '[':
		p.Params = map[string]string{}
		i := bytes.IndexAny(rest, " ]")
		if i < 0 || string(rest[1:i]) != SDID {
			return p, errors.New("syslog: unexpected SD element")
		}
		rest = rest[i:]
		for len(rest) > 0 && rest[0] == ' ' {
			eq := bytes.Index(rest, []byte(`="`))
			if eq < 0 {
				return p, errors.New("syslog: bad SD-PARAM")
			}
			name := string(rest[1:eq])
			rest = rest[eq+2:]
			var val []byte
			for {
				if len(rest) == 0 {
					return p, errors.New("syslog: unterminated SD-PARAM")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '\\' && len(rest) > 0 && (rest[0] == '"' || rest[0] == '\\' || rest[0] == ']') {
					val = append(val, rest[0])
					rest = rest[1:]
					continue
				}
				if c == '"' {
					break
				}
				val = append(val, c)
			}
			p.Params[name] = string(val)
		}
		if len(rest) == 0 || rest[0] != ']' {
			return p, errors.New("syslog: unterminated SD element")
		}
		rest = rest[1:]
	default:
		return p, errors.New("syslog: no structured data")
	}
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return p, errors.New("syslog: no space before MSG")
		}
		p.Msg = bytes.TrimPrefix(rest[1:], []byte{0xEF, 0xBB, 0xBF})
		if !utf8.Valid(p.Msg) {
			return p, errors.New("syslog: MSG is not UTF-8")
		}
	}
	return p, nil
}
