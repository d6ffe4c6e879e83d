package httpapi_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/export/file"
	"github.com/scimtrail/scimtrail/export/syslog"
	"github.com/scimtrail/scimtrail/export/webhook"
	"github.com/scimtrail/scimtrail/ledger"
)

// streamItem is one record as a receiver saw it: an entry (seq) or a checkpoint (size).
type streamItem struct {
	seq, size int64
	id        string // webhook-id, when delivered by webhook
}

// checkStream verifies a delivered stream of entries and checkpoint records: entries
// 1..head at least once, first arrivals in order; every checkpoint in want arrived; no
// checkpoint record arrived before the entry whose seq is its size; and, where the stream
// had both, a checkpoint of size n arrived right after entry n was first seen, or later
// when it was signed after that entry had gone out.
func checkStream(t *testing.T, what string, got []streamItem, head int64, want []int64) {
	t.Helper()
	var top int64
	seen := map[int64]int{}
	for i, it := range got {
		if it.size == 0 {
			switch {
			case it.seq == top+1:
				top = it.seq
			case it.seq <= top:
			default:
				t.Fatalf("%s: seq %d arrived before seq %d (item %d)", what, it.seq, top+1, i)
			}
			continue
		}
		if it.size > top {
			t.Fatalf("%s: checkpoint %d arrived when only entries up to %d had (item %d)", what, it.size, top, i)
		}
		seen[it.size]++
	}
	if top != head {
		t.Fatalf("%s: entries delivered up to %d, want %d", what, top, head)
	}
	for _, size := range want {
		if seen[size] == 0 {
			t.Errorf("%s: checkpoint %d never arrived (got %v)", what, size, seen)
		}
	}
}

// hookStream reads a webhook receiver's deliveries (native or OCSF) as a stream, checking
// that each checkpoint record is complete and that OCSF ones are Event Log Activity.
func hookStream(t *testing.T, rcv *receiver, keys *ledger.KeyRing, origin string) []streamItem {
	t.Helper()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []streamItem
	for _, d := range rcv.bodies {
		var msg struct {
			Type string `json:"type"`
			Data struct {
				Tenant     string          `json:"tenant"`
				Type       string          `json:"type"`
				Seq        int64           `json:"seq"`
				Checkpoint json.RawMessage `json:"checkpoint"`
				OCSF       map[string]any  `json:"ocsf"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.body, &msg); err != nil {
			t.Fatalf("delivery %s: %v", d.body, err)
		}
		id := d.header.Get(webhook.HeaderID)
		if msg.Data.Type != export.RecordCheckpoint {
			out = append(out, streamItem{seq: msg.Data.Seq, id: id})
			continue
		}
		var cp struct {
			Size       int64  `json:"size"`
			Root       []byte `json:"root"`
			Checkpoint string `json:"checkpoint"`
		}
		if err := json.Unmarshal(msg.Data.Checkpoint, &cp); err != nil || msg.Type != "checkpoint" || msg.Data.Seq != 0 {
			t.Fatalf("checkpoint record %s: want type checkpoint, no seq, a checkpoint object (%v)", d.body, err)
		}
		// The customer's copy verifies with the published key, outside scimtrail.
		c, err := ledger.OpenCheckpoint([]byte(cp.Checkpoint), keys.Verifiers(), origin)
		if err != nil || c.Size != cp.Size || string(c.Root[:]) != string(cp.Root) {
			t.Fatalf("checkpoint record %s does not verify as size %d of %s: %v", d.body, cp.Size, origin, err)
		}
		if want := fmt.Sprintf("cp_%s_%d", msg.Data.Tenant, cp.Size); id != want {
			t.Errorf("webhook-id %q of a checkpoint record, want %q", id, want)
		}
		if msg.Data.OCSF != nil && (msg.Data.OCSF["class_uid"] != float64(1008) || msg.Data.OCSF["category_uid"] != float64(1) ||
			msg.Data.OCSF["type_uid"] != float64(100899) || msg.Data.OCSF["device"] == nil) {
			t.Errorf("OCSF checkpoint event %v: want Event Log Activity (1008/100899) with a device", msg.Data.OCSF)
		}
		out = append(out, streamItem{size: cp.Size, id: id})
	}
	return out
}

// TestCheckpointRecordsEndToEnd checks that checkpoints the checkpointer signs reach every
// sink of the tenant — native, OCSF and SET webhooks, CEF over syslog, JSON Lines files —
// in order with the entries, verifiable with the published key, and never twice once
// acknowledged, across a dispatcher restart.
func TestCheckpointRecordsEndToEnd(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			x := newExportEnv(t, b, true, export.Options{BatchSize: 50, MaxFailures: 1000})
			x.dopts.Checkpoint = x.svc.LatestCheckpointRecord
			x.stop()
			x.start()
			origin, err := x.svc.Origin(t.Context(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			hooks := map[string]*receiver{}
			ids := map[string]string{}
			for _, format := range []string{"native", "ocsf", "set"} {
				hooks[format] = newReceiver(t, testSecret)
				ids[format] = x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
					map[string]any{"type": "webhook", "url": hooks[format].url(), "secret": testSecret, "format": format}), 201).json()["id"].(string)
			}
			sys, caPEM := newSyslogReceiver(t)
			ids["cef"] = x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator, map[string]any{"type": "syslog",
				"address": sys.addr, "format": "cef", "tls": map[string]any{"ca_pem": caPEM, "server_name": "syslog.test"}}), 201).json()["id"].(string)
			ids["jsonl"] = x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
				map[string]any{"type": "file", "dir": "lake", "format": "jsonl"}), 201).json()["id"].(string)
			ids["parquet"] = x.must(x.do("POST", "/api/v1/tenants/acme/sinks", x.operator,
				map[string]any{"type": "file", "dir": "pq", "format": "parquet"}), 201).json()["id"].(string)
			// An operator sink of every tenant gets the checkpoints of each tenant.
			global := newReceiver(t, testSecret)
			ids["global"] = x.must(x.do("POST", "/api/v1/sinks", x.operator,
				map[string]any{"type": "webhook", "url": global.url(), "secret": testSecret}), 201).json()["id"].(string)

			sign := func() int64 {
				t.Helper()
				if _, err := x.svc.SignCheckpoints(t.Context()); err != nil {
					t.Fatal(err)
				}
				return x.head("acme")
			}
			// cpAcked waits until the native sink's durable cursor is past checkpoint size.
			cpAcked := func(size int64) {
				t.Helper()
				waitFor(t, "the checkpoint cursor", func() bool {
					var c int64
					x.store.View(t.Context(), func(tx scimtrail.ReadTx) error {
						cs, err := tx.SinkCursors(t.Context(), ids["native"])
						for _, cur := range cs {
							c = cur.Checkpoint
						}
						return err
					})
					return c >= size
				})
			}
			// 1. Signed after its entries went out: delivered on its own, after them.
			x.createUsers("acme", 4)
			for _, id := range ids {
				id := id
				if id == ids["global"] {
					waitFor(t, "global sink", func() bool { return global.maxSeq("acme") == x.head("acme") })
					continue
				}
				waitFor(t, "entries", lagZero(x, "acme", id))
			}
			first := sign()
			cpAcked(first)
			// 2. Signed while the dispatcher is down: on restart it goes out right after
			// entry `second`, before the entries that follow.
			x.stop()
			x.createUsers("acme", 3)
			second := sign()
			x.createUsers("acme", 2)
			x.createUsers("globex", 2)
			third := sign()
			globexCP := x.head("globex")
			x.start()
			waitFor(t, "every checkpoint record", func() bool {
				return slices.ContainsFunc(hookStream(t, hooks["native"], x.keys, origin), func(it streamItem) bool { return it.size == third })
			})
			head := x.head("acme")
			want := []int64{first, second, third}

			native := hookStream(t, hooks["native"], x.keys, origin)
			checkStream(t, "native", native, head, want)
			i := slices.IndexFunc(native, func(it streamItem) bool { return it.size == second })
			if i < 1 || native[i-1].seq != second || native[i+1].seq != second+1 {
				t.Errorf("native: checkpoint %d at %d of %v, want right after entry %d and before %d", second, i, native, second, second+1)
			}
			waitFor(t, "ocsf checkpoint", func() bool {
				return slices.ContainsFunc(hookStream(t, hooks["ocsf"], x.keys, origin), func(it streamItem) bool { return it.size == third })
			})
			checkStream(t, "ocsf", hookStream(t, hooks["ocsf"], x.keys, origin), head, want)

			// SET: RFC 9967 has no event for a log checkpoint, so none is sent, and the
			// cursor moves past it.
			waitFor(t, "set sink", lagZero(x, "acme", ids["set"]))
			hooks["set"].mu.Lock()
			created := 0
			for _, d := range hooks["set"].bodies {
				if d.header.Get("Content-Type") != "application/secevent+jwt" || strings.HasPrefix(d.header.Get(webhook.HeaderID), "cp_") {
					t.Errorf("SET sink delivered %s %q", d.header.Get(webhook.HeaderID), d.body)
				}
				parts := strings.Split(string(d.body), ".")
				claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
				if strings.Contains(string(claims), `"urn:ietf:params:scim:event:prov:create:notice":{"attributes":[`) &&
					strings.Contains(string(claims), `"sub_id":{"format":"scim","id":`) {
					created++
				}
			}
			hooks["set"].mu.Unlock()
			if created != 9 {
				t.Errorf("SET sink: %d create notices for the 9 users created so far", created)
			}

			// CEF over syslog.
			waitFor(t, "cef checkpoint", func() bool {
				sys.mu.Lock()
				defer sys.mu.Unlock()
				return slices.ContainsFunc(sys.msgs, func(m syslog.Parsed) bool { return m.Params["size"] == strconv.FormatInt(third, 10) })
			})
			sys.mu.Lock()
			var cefStream []streamItem
			for _, m := range sys.msgs {
				if m.MsgID != "checkpoint" {
					seq, _ := strconv.ParseInt(m.Params["seq"], 10, 64)
					cefStream = append(cefStream, streamItem{seq: seq})
					continue
				}
				size, _ := strconv.ParseInt(m.Params["size"], 10, 64)
				line := string(m.Msg)
				if !strings.HasPrefix(line, "CEF:0|scimtrail|scimtrail|1|checkpoint|checkpoint|3|") || !strings.Contains(line, "cn3Label=treeSize cn3="+m.Params["size"]) ||
					!strings.Contains(line, `msg=`+origin+`\n`+m.Params["size"]+`\n`) || !strings.Contains(m.Params["checkpoint"], `"size":`+m.Params["size"]) {
					t.Errorf("CEF checkpoint message %+v: %s", m.Params, line)
				}
				cefStream = append(cefStream, streamItem{size: size})
			}
			sys.mu.Unlock()
			checkStream(t, "cef", cefStream, head, want)

			// JSON Lines files, read in name order.
			waitFor(t, "jsonl sink", func() bool {
				return slices.ContainsFunc(readJSONL(t, filepath.Join(x.files, "lake")), func(it streamItem) bool { return it.size == third })
			})
			checkStream(t, "jsonl", readJSONL(t, filepath.Join(x.files, "lake")), head, want)

			// Parquet: checkpoint rows in the Event Log Activity class partition.
			cpDir := filepath.Join(x.files, "pq", "ext", "scimtrail-1008", "region=global", "accountId=acme")
			readCPRows := func() []file.Row {
				var rows []file.Row
				filepath.WalkDir(cpDir, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") && !strings.HasPrefix(d.Name(), ".tmp-") {
						got, err := parquet.ReadFile[file.Row](p)
						if err != nil {
							t.Fatalf("read %s: %v", p, err)
						}
						rows = append(rows, got...)
					}
					return nil
				})
				return rows
			}
			waitFor(t, "parquet checkpoint rows", func() bool {
				return slices.ContainsFunc(readCPRows(), func(r file.Row) bool { return strings.Contains(r.Checkpoint, `"size":`+strconv.FormatInt(third, 10)) })
			})
			for _, r := range readCPRows() {
				if r.ClassUID != 1008 || r.TypeUID != 100899 || r.Seq != 0 || r.Tenant != "acme" || !strings.Contains(r.OCSF, `"tree_size"`) {
					t.Errorf("parquet checkpoint row %+v", r)
				}
			}

			// The operator's sink got globex's checkpoint too.
			waitFor(t, "global sink", func() bool { return global.maxSeq("globex") == x.head("globex") })
			waitFor(t, "globex checkpoint", func() bool {
				global.mu.Lock()
				defer global.mu.Unlock()
				return slices.ContainsFunc(global.bodies, func(d rawDelivery) bool {
					return d.header.Get(webhook.HeaderID) == fmt.Sprintf("cp_globex_%d", globexCP)
				})
			})

			// Acknowledged checkpoint records are not delivered again after a restart: the
			// entry written after it arrives with nothing repeated before it.
			cpAcked(third)
			count := func() map[int64]int {
				counts := map[int64]int{}
				for _, it := range hookStream(t, hooks["native"], x.keys, origin) {
					counts[it.size]++
				}
				return counts
			}
			before := count()
			x.stop()
			x.start()
			x.createUsers("acme", 1)
			waitFor(t, "the next entry", func() bool { return hooks["native"].maxSeq("acme") == head+1 })
			after := count()
			for _, size := range want {
				if after[size] != before[size] {
					t.Errorf("checkpoint %d delivered again after the restart (%d times, %d before)", size, after[size], before[size])
				}
			}
		})
	}
}

// readJSONL reads a JSON Lines file sink's directory as a stream, files in name order.
func readJSONL(t *testing.T, dir string) []streamItem {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jsonl") && !strings.HasPrefix(d.Name(), ".tmp-") {
			files = append(files, p)
		}
		return nil
	})
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	var out []streamItem
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r struct {
				Type       string `json:"type"`
				Seq        int64  `json:"seq"`
				Checkpoint struct {
					Size int64 `json:"size"`
				} `json:"checkpoint"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if r.Type == export.RecordCheckpoint {
				out = append(out, streamItem{size: r.Checkpoint.Size})
			} else {
				out = append(out, streamItem{seq: r.Seq})
			}
		}
		fh.Close()
	}
	return out
}
