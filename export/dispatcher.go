package export

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// Options configure a Dispatcher; zero values are sane defaults.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	// BatchSize is how many entries are read per query and acknowledged per cursor write.
	BatchSize int // 0: 100
	// MaxFailures is how many consecutive failed deliveries make a sink dead. 0: 10.
	MaxFailures int
	// BackoffBase and BackoffMax bound the exponential backoff between failed attempts;
	// each wait is drawn with full jitter from [base·2^(n-1)/2, base·2^(n-1)].
	BackoffBase time.Duration // 0: 1s
	BackoffMax  time.Duration // 0: 5m
	// Poll is how often each sink looks for new entries even without a commit signal: the
	// signal only covers commits made by this process, not by other replicas.
	Poll time.Duration // 0: 1s
	// AllowPrivate lets deliveries connect to loopback and private addresses (tests).
	AllowPrivate bool
	// Client delivers HTTP sinks; nil builds one that refuses non-public addresses at
	// connect time (unless AllowPrivate), follows no redirects and ignores proxy settings.
	Client *http.Client
	// Checkpoint returns the tenant's latest signed checkpoint as JSON, delivered with each
	// record; nil delivers null.
	Checkpoint func(ctx context.Context, tenant string) (json.RawMessage, error)
	// FileDir is the directory file sinks write under; WriteFiles writes a batch there
	// (export/file.Write, wired by the program so that Parquet stays out of this package).
	FileDir    string
	WriteFiles func(root *os.Root, dir, format string, recs []Record) error
	// Metrics receive lag, state and delivery counts (NewMetrics); nil: none.
	Metrics *Metrics
	// Holder names this dispatcher in sink leases; "": the host name and a random suffix.
	// LeaseTTL is how long a lease lasts unless renewed (every third of it): a replica that
	// dies holding a sink's lease delays that sink by at most LeaseTTL. 0: 30s.
	Holder   string
	LeaseTTL time.Duration
}

// Dispatcher runs one goroutine per sink.
type Dispatcher struct {
	svc     *service.Service
	opts    Options
	log     *slog.Logger
	client  *http.Client
	metrics *Metrics

	mu      sync.Mutex
	workers map[string]context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a dispatcher over svc; Run starts it.
func New(svc *service.Service, opts Options) *Dispatcher {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 10
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 30 * time.Second
	}
	if opts.Holder == "" {
		var b [6]byte
		crand.Read(b[:])
		opts.Holder = hostname + "/" + hex.EncodeToString(b[:])
	}
	d := &Dispatcher{svc: svc, opts: opts, log: opts.Logger, client: opts.Client,
		workers: map[string]context.CancelFunc{}, metrics: opts.Metrics}
	if d.client == nil {
		d.client = guardedClient(opts.AllowPrivate)
	}
	return d
}

// Run starts and stops sink workers as sinks come and go until ctx is done, then waits for
// every worker to stop. A worker stopped mid-delivery leaves its cursor at the last
// acknowledged entry, so the next start delivers the rest (and at most one batch again).
func (d *Dispatcher) Run(ctx context.Context) {
	defer d.wg.Wait()
	for {
		wake := d.svc.Commits()
		if ids, err := d.svc.SinkIDs(ctx); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("export: list sinks", "err", err)
			}
		} else {
			d.reconcile(ctx, ids)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(d.opts.Poll):
		}
	}
}

func (d *Dispatcher) reconcile(ctx context.Context, ids []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	live := map[string]bool{}
	for _, id := range ids {
		live[id] = true
		if _, ok := d.workers[id]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		d.workers[id] = cancel
		d.wg.Go(func() {
			d.work(wctx, id)
			d.mu.Lock()
			delete(d.workers, id)
			d.mu.Unlock()
			d.metrics.forget(id)
		})
	}
	for id, cancel := range d.workers {
		if !live[id] {
			cancel()
		}
	}
}

// work runs one sink while this dispatcher holds its lease: of several replicas on one
// database, one delivers each sink. The others try to take the lease every Poll, and take
// it over once the holder stops renewing it (it died) or gives it up (it stopped).
func (d *Dispatcher) work(ctx context.Context, id string) {
	for ctx.Err() == nil {
		del, err := d.svc.SinkDelivery(ctx, id)
		if scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND {
			return
		}
		if err == nil {
			var held bool
			if held, err = d.svc.AcquireSinkLease(ctx, del.Sink, d.opts.Holder, d.opts.LeaseTTL); err == nil && held {
				if gone := d.whileLeased(ctx, del.Sink); gone {
					return
				}
				continue
			}
		}
		if err != nil && ctx.Err() == nil {
			d.log.Warn("export: sink lease", "sink", id, "err", err)
		}
		d.sleep(ctx, nil, d.opts.Poll)
	}
}

// whileLeased delivers the sink while a keeper renews its lease every third of LeaseTTL,
// stopping when the lease is lost (a delivery cut short leaves the cursor at the last
// acknowledged record, so the next holder delivers the rest) or ctx ends, when it gives
// the lease up. It reports whether the sink was deleted.
func (d *Dispatcher) whileLeased(ctx context.Context, sink scimtrail.Sink) bool {
	lctx, lost := context.WithCancel(ctx)
	defer lost()
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		t := time.NewTicker(d.opts.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			if held, err := d.svc.AcquireSinkLease(lctx, sink, d.opts.Holder, d.opts.LeaseTTL); err != nil || !held {
				if lctx.Err() == nil {
					d.log.Warn("export: lost the sink lease", "sink", sink.ID, "err", err)
				}
				lost()
				return
			}
		}
	}()
	gone := d.deliverLoop(lctx, sink.ID)
	lost()
	<-kept
	if ctx.Err() != nil && !gone {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.svc.ReleaseSinkLease(rctx, sink, d.opts.Holder); err != nil {
			d.log.Warn("export: release the sink lease", "sink", sink.ID, "err", err)
		}
	}
	return gone
}

// deliverLoop is one sink's loop: deliver what is behind the cursor, wait for more. It
// returns when ctx ends, or reports true when the sink was deleted.
func (d *Dispatcher) deliverLoop(ctx context.Context, id string) bool {
	for ctx.Err() == nil {
		wake := d.svc.Commits()
		del, err := d.svc.SinkDelivery(ctx, id)
		if scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND {
			return true
		}
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("export: load sink", "sink", id, "err", err)
			}
			d.sleep(ctx, wake, d.opts.Poll)
			continue
		}
		if del.Sink.State == scimtrail.SinkDead {
			d.observe(ctx, del.Sink)
			d.sleep(ctx, wake, d.opts.Poll)
			continue
		}
		progressed, err := d.deliverPending(ctx, del)
		d.observe(ctx, del.Sink)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			d.metrics.failure(id)
			cur, ferr := d.svc.RecordSinkFailure(ctx, del.Sink, err.Error(), d.opts.MaxFailures)
			if ferr != nil {
				d.log.Warn("export: record failure", "sink", id, "err", ferr)
				d.sleep(ctx, nil, d.opts.Poll)
				continue
			}
			d.log.Warn("export: delivery failed", "sink", id, "failures", cur.Failures, "state", cur.State, "err", err)
			if cur.State != scimtrail.SinkDead {
				d.backoff(ctx, id, cur.Failures)
			}
			continue
		}
		if !progressed {
			d.sleep(ctx, wake, d.opts.Poll)
		}
	}
	return false
}

// sleep waits for ctx, wake or d.
func (d *Dispatcher) sleep(ctx context.Context, wake <-chan struct{}, dur time.Duration) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// backoff waits base·2^(failures-1), capped, with jitter; a retry through the API (which
// resets the failure count) cuts it short.
func (d *Dispatcher) backoff(ctx context.Context, id string, failures int) {
	wait := d.opts.BackoffBase << min(failures-1, 30)
	if wait <= 0 || wait > d.opts.BackoffMax {
		wait = d.opts.BackoffMax
	}
	wait = wait/2 + rand.N(wait/2+1)
	deadline := time.Now().Add(wait)
	for ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		d.sleep(ctx, nil, min(left, d.opts.Poll))
		if del, err := d.svc.SinkDelivery(ctx, id); err != nil || del.Sink.Failures < failures {
			return
		}
	}
}

// deliverPending delivers, tenant by tenant, everything between the cursor and the head —
// entries, and checkpoint records interleaved with them — advancing the cursor after each
// acknowledged batch. It reports whether it delivered any.
func (d *Dispatcher) deliverPending(ctx context.Context, del Delivery) (bool, error) {
	pos, err := d.svc.SinkPositions(ctx, del.Sink)
	if err != nil {
		return false, err
	}
	progressed := false
	for tenant, p := range pos {
		if !p.Pending() {
			continue
		}
		recs, ends, derr := d.batch(ctx, tenant, p)
		if len(recs) == 0 {
			if derr != nil {
				return progressed, derr
			}
			continue
		}
		n, serr := d.send(ctx, del, recs)
		n = min(max(n, 0), len(recs))
		d.metrics.deliveredN(del.Sink.ID, n)
		derr = errors.Join(serr, derr)
		if n > 0 {
			progressed = true
			end := ends[n-1]
			if err := d.svc.AdvanceSinkCursor(ctx, del.Sink, tenant, end.Cursor, end.Checkpoint); err != nil {
				return progressed, errors.Join(derr, err)
			}
		}
		if derr != nil {
			return progressed, derr
		}
	}
	return progressed, nil
}

// batch reads the next records of tenant after position p: up to BatchSize entries, with
// every checkpoint not yet delivered that they (or the entries already delivered) reach,
// each right after the entry whose seq is its size. ends[i] is the position once recs[0..i]
// are acknowledged. An error after some records (a gap in the log) comes with those records.
func (d *Dispatcher) batch(ctx context.Context, tenant string, p service.SinkPosition) ([]Record, []service.SinkPosition, error) {
	entries, err := d.svc.AuditEntries(ctx, tenant, p.Cursor, d.opts.BatchSize, scimtrail.EntryFilter{})
	if err != nil {
		return nil, nil, err
	}
	var derr error
	for i, e := range entries {
		if want := p.Cursor + int64(i) + 1; e.Seq != want {
			derr = fmt.Errorf("ledger of %s: expected seq %d, read %d", tenant, want, e.Seq)
			entries = entries[:i]
			break
		}
	}
	upTo := p.Cursor + int64(len(entries))
	cps, err := d.svc.SinkCheckpoints(ctx, tenant, p.Checkpoint, upTo, d.opts.BatchSize)
	if err != nil {
		return nil, nil, err
	}
	if len(cps) == d.opts.BatchSize {
		// More checkpoints wait than one batch takes: stop the entries at the last one read,
		// so that the rest still come right after the entries they follow.
		last := cps[len(cps)-1].Size
		for len(entries) > 0 && entries[len(entries)-1].Seq > last {
			entries = entries[:len(entries)-1]
		}
	}
	var checkpoint json.RawMessage = json.RawMessage("null")
	if d.opts.Checkpoint != nil {
		if cp, err := d.opts.Checkpoint(ctx, tenant); err == nil && len(cp) > 0 {
			checkpoint = cp
		}
	}
	now := time.Now()
	var recs []Record
	var ends []service.SinkPosition
	at := p
	addCheckpoints := func(upTo int64) {
		for len(cps) > 0 && cps[0].Size <= upTo {
			recs = append(recs, checkpointRecord(cps[0], now))
			at.Checkpoint = cps[0].Size
			ends = append(ends, at)
			cps = cps[1:]
		}
	}
	addCheckpoints(p.Cursor)
	for _, e := range entries {
		recs = append(recs, Record{Tenant: tenant, Seq: e.Seq, LeafHash: hex.EncodeToString(e.LeafHash),
			Checkpoint: checkpoint, Entry: e.Body, action: e.Action})
		at.Cursor = e.Seq
		ends = append(ends, at)
		addCheckpoints(e.Seq)
	}
	return recs, ends, derr
}

// Delivery aliases the service's view of a sink being delivered.
type Delivery = service.Delivery

// send delivers recs, consecutive entries of one tenant, and returns how many of them,
// from the first, the receiver acknowledged; the cursor moves past exactly those.
func (d *Dispatcher) send(ctx context.Context, del Delivery, recs []Record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	switch del.Sink.Type {
	case service.SinkWebhook:
		for i, r := range recs {
			if err := d.deliverWebhook(ctx, del, r, r.action); err != nil {
				return i, err
			}
		}
		return len(recs), nil
	case service.SinkSplunkHEC:
		return d.deliverHEC(ctx, del, recs)
	case service.SinkSyslog:
		return d.deliverSyslog(ctx, del, recs)
	case service.SinkKafka:
		return d.deliverKafka(ctx, del, recs)
	case service.SinkFile:
		if d.opts.WriteFiles == nil || d.opts.FileDir == "" {
			return 0, errors.New("this server writes no file sinks (--sink-file-dir)")
		}
		root, err := os.OpenRoot(d.opts.FileDir)
		if err != nil {
			return 0, err
		}
		defer root.Close()
		if err := d.opts.WriteFiles(root, del.Config.Dir, del.Config.Format, recs); err != nil {
			return 0, err
		}
		return len(recs), nil
	}
	return 0, fmt.Errorf("sink type %q cannot be delivered by this build", del.Sink.Type)
}

// observe publishes a sink's lag and state.
func (d *Dispatcher) observe(ctx context.Context, s scimtrail.Sink) {
	if d.metrics == nil {
		return
	}
	pos, err := d.svc.SinkPositions(ctx, s)
	if err != nil {
		return
	}
	var lag int64
	for _, p := range pos {
		lag += max(0, p.Head-p.Cursor)
	}
	d.metrics.state(s.ID, lag, s.State == scimtrail.SinkDead)
}
