// Package file is the file sink: it writes batches of records into a directory under the
// operator's base directory, as JSON Lines or as Parquet in the AWS Security Lake custom
// source layout (docs/sinks.md). Every file is written to a temporary name, fsynced, renamed
// into place and its directory fsynced before Write returns, so the dispatcher advances the
// cursor only over records that are durably on disk. It holds the Parquet dependency, so it
// is a leaf the rest of the program does not build against.
package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/scimtrail/scimtrail/export"
)

// Region is the region= partition of the Security Lake layout: scimtrail has no regions.
const Region = "global"

// Row is one Parquet row: the OCSF attributes a Security Lake query filters on as columns,
// the whole OCSF event as JSON, and what verification needs.
type Row struct {
	Time        int64  `parquet:"time,timestamp(millisecond)"`
	ClassUID    int32  `parquet:"class_uid"`
	CategoryUID int32  `parquet:"category_uid"`
	ActivityID  int32  `parquet:"activity_id"`
	TypeUID     int64  `parquet:"type_uid"`
	SeverityID  int32  `parquet:"severity_id"`
	StatusID    int32  `parquet:"status_id"`
	Version     string `parquet:"metadata_version"`
	Message     string `parquet:"message"`
	Tenant      string `parquet:"tenant"`
	Seq         int64  `parquet:"seq"`
	LeafHash    string `parquet:"leaf_hash"`
	Checkpoint  string `parquet:"checkpoint"`
	OCSF        string `parquet:"ocsf,json"`
	Entry       string `parquet:"entry,json"`
}

// Write stores recs (consecutive records of one tenant: entries and the checkpoint records
// between them) under dir, a directory inside root, and returns only once they are durable.
func Write(root *os.Root, dir, format string, recs []export.Record) error {
	if len(recs) == 0 {
		return nil
	}
	name := fileName(recs)
	if format != "parquet" {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		day := dayOf(recs[0])
		return writeAtomic(root, path.Join(dir, "tenant="+recs[0].Tenant, "eventDay="+day), name+".jsonl", buf.Bytes())
	}
	// One OCSF class per file, and one eventDay partition per file.
	type key struct {
		class int
		day   string
	}
	var order []key
	groups := map[key][]Row{}
	for _, r := range recs {
		ev, err := export.OCSFEvent(r)
		if err != nil {
			return err
		}
		evJSON, _ := json.Marshal(ev)
		meta, _ := ev["metadata"].(map[string]any)
		row := Row{Time: toInt64(ev["time"]), ClassUID: int32(toInt64(ev["class_uid"])), CategoryUID: int32(toInt64(ev["category_uid"])),
			ActivityID: int32(toInt64(ev["activity_id"])), TypeUID: toInt64(ev["type_uid"]), SeverityID: int32(toInt64(ev["severity_id"])),
			StatusID: int32(toInt64(ev["status_id"])), Version: fmt.Sprint(meta["version"]), Message: fmt.Sprint(ev["message"]),
			Tenant: r.Tenant, Seq: r.Seq, LeafHash: r.LeafHash, Checkpoint: string(r.Checkpoint), OCSF: string(evJSON), Entry: string(r.Entry)}
		if r.IsCheckpoint() {
			row.Entry = "null" // the checkpoint is in its own column; the column is JSON
		}
		k := key{int(row.ClassUID), dayOf(r)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], row)
	}
	for _, k := range order {
		var buf bytes.Buffer
		if err := parquet.Write(&buf, groups[k]); err != nil {
			return err
		}
		part := path.Join(dir, "ext", "scimtrail-"+strconv.Itoa(k.class), "region="+Region, "accountId="+recs[0].Tenant, "eventDay="+k.day)
		if err := writeAtomic(root, part, name+".parquet", buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// dayOf is the UTC day of the record, YYYYMMDD.
func dayOf(r export.Record) string { return r.Time().UTC().Format("20060102") }

// fileName names a batch by its first and last record: an entry by its seq, a checkpoint
// record by its size and ".cp", so that names sort in delivery order (a checkpoint of size
// n right after entry n). A retry of the same batch writes the same name and replaces the
// file; checkpoints only grow, so a batch that differs differs in its last record.
func fileName(recs []export.Record) string {
	key := func(r export.Record) string {
		if r.IsCheckpoint() {
			return fmt.Sprintf("%020d.cp", r.Size())
		}
		return fmt.Sprintf("%020d", r.Seq)
	}
	return recs[0].Tenant + "-" + key(recs[0]) + "-" + key(recs[len(recs)-1])
}

// writeAtomic writes data to dir/name through a temporary file: create, write, fsync,
// rename, fsync the directory. A crash leaves either no file or the whole file (and at
// worst a stray temporary, which readers ignore by its ".tmp-" prefix).
func writeAtomic(root *os.Root, dir, name string, data []byte) error {
	if err := root.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp := path.Join(dir, ".tmp-"+name)
	f, err := root.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if werr != nil || serr != nil || cerr != nil {
		root.Remove(tmp)
		return fmt.Errorf("write %s: %w", path.Join(dir, name), firstErr(werr, serr, cerr))
	}
	if err := root.Rename(tmp, path.Join(dir, name)); err != nil {
		return err
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
