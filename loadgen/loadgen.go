// Package loadgen is scimtrail's standard SCIM workload (issue 8): create users, create
// groups with members, then a weighted mix of reads and writes, each response checked for
// the right status and the right content, with latency percentiles per operation. The
// scimtrail-bench command is a thin shell over Run and StartServer; the workload lives here
// so that it can be tested.
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one run. Zero values of the counts are taken literally (no users means
// no user operations); New code should start from DefaultConfig.
type Config struct {
	// BaseURL is the tenant's SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2/acme.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>".
	Token string
	// Concurrency is the number of clients, each one request at a time.
	Concurrency int
	// Users are created in the create phase; Groups, with MembersPerGroup members each
	// (chosen by Seed), in the groups phase.
	Users, Groups, MembersPerGroup int
	// Duration caps the mixed phase; 0 means no cap (then Ops must be set).
	Duration time.Duration
	// Ops, if positive, ends the mixed phase after that many operations.
	Ops int
	// Mix weights the mixed phase's operations.
	Mix Mix
	// Seed makes the choices (group members, the sequence of operations) repeatable.
	Seed uint64
	// Seeder, if set, creates the users and groups of the first two phases without HTTP
	// (an in-process server's service write path), SeedConcurrency at a time, so that 1M
	// users load in minutes rather than hours. The phases then time the seeder, not HTTP.
	Seeder          Seeder
	SeedConcurrency int
	// Existing skips both create phases: the run works on the users already in the tenant,
	// found by listing them (cursor pagination), e.g. a database seeded by an earlier run.
	// Member operations need groups and are left out of the mix.
	Existing bool
	// ServerPID, if not 0, is a server process on this machine whose CPU time during the
	// mixed phase is reported too (PhaseReport.ServerCPUSec), read from /proc (Linux).
	ServerPID int
	// BeforeMixed, if set, is called when the mixed phase is about to start (e.g. to start a
	// CPU profile that leaves the seeding out).
	BeforeMixed func()
}

// Seeder creates resources from their SCIM bodies, as a POST would, and returns their ids.
type Seeder interface {
	SeedUser(ctx context.Context, body []byte) (string, error)
	SeedGroup(ctx context.Context, body []byte) (string, error)
}

// DefaultConfig is the standard workload of issue 8.
func DefaultConfig() Config {
	return Config{
		Concurrency:     8,
		Users:           10000,
		Groups:          100,
		MembersPerGroup: 50,
		Duration:        30 * time.Second,
		Mix:             DefaultMix(),
		Seed:            1,
		SeedConcurrency: 64,
	}
}

// Operation names, as reported. A "member" pick of the mix issues two requests on one
// group: group_add, then group_remove of the same user.
const (
	OpCreateUser  = "create_user"
	OpCreateGroup = "create_group"
	OpGet         = "get_user"
	OpFilter      = "filter_user"
	OpPatchActive = "patch_active"
	OpPatchName   = "patch_name"
	OpPut         = "put_user"
	OpGroupAdd    = "group_add"
	OpGroupRemove = "group_remove"
	OpList        = "list_users"
)

// Phase names.
const (
	PhaseCreate = "create"
	PhaseGroups = "groups"
	PhaseMixed  = "mixed"
	// PhaseDiscover replaces the create phases when Config.Existing is set.
	PhaseDiscover = "discover"
)

// OpDiscover is one page of the discover phase's listing.
const OpDiscover = "discover_page"

var mixedOps = []string{OpGet, OpFilter, OpPatchActive, OpPatchName, OpPut, OpGroupAdd, OpGroupRemove, OpList}

// Report is the outcome of a run; the command prints it as a table or as JSON.
type Report struct {
	URL             string        `json:"url"`
	Backend         string        `json:"backend"` // "sqlite", "postgres", or "remote"
	Concurrency     int           `json:"concurrency"`
	Users           int           `json:"users"`
	Groups          int           `json:"groups"`
	MembersPerGroup int           `json:"members_per_group"`
	DurationCap     string        `json:"duration_cap,omitempty"`
	OpsTarget       int           `json:"ops_target,omitempty"`
	Seed            uint64        `json:"seed"`
	Mix             string        `json:"mix"`
	Phases          []PhaseReport `json:"phases"`
	// Errors is the total over every phase; the command exits non-zero when it is not 0.
	Errors int64 `json:"errors"`
	// StoreOpenMs is how long an in-process server's store took to open; 0 for a remote one.
	StoreOpenMs float64 `json:"store_open_ms,omitempty"`
	// WriteBatches describes group commit on an in-process server; nil for a remote one.
	WriteBatches *BatchReport `json:"write_batches,omitempty"`
}

// PhaseReport is one phase: its wall-clock time and its operations.
type PhaseReport struct {
	Name       string  `json:"name"`
	ElapsedSec float64 `json:"elapsed_sec"`
	// CPUSec is the CPU time (user + system) this process used during the phase: the load
	// tool's, and the server's too when it runs in-process. On a shared machine wall-clock
	// rates swing with other work; CPU per request is the steadier measure. 0 where the
	// platform does not report it.
	CPUSec float64   `json:"cpu_sec,omitempty"`
	Ops    []OpStats `json:"ops"`
	// ServerCPUSec is Config.ServerPID's CPU time during the phase (mixed phase only).
	ServerCPUSec float64 `json:"server_cpu_sec,omitempty"`
}

// BatchReport counts the store's committed write batches during the run.
type BatchReport struct {
	Batches          int64   `json:"batches"`
	Commands         int64   `json:"commands"`
	CommandsPerBatch float64 `json:"commands_per_batch"`
}

// Run runs the three phases against cfg.BaseURL. It returns an error only when the run
// could not be set up; failed requests are counted in the report, not returned.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("loadgen: BaseURL is required")
	}
	if cfg.Concurrency < 1 {
		return nil, errors.New("loadgen: Concurrency must be at least 1")
	}
	if cfg.Duration <= 0 && cfg.Ops <= 0 && cfg.Mix.total() > 0 {
		return nil, errors.New("loadgen: the mixed phase needs a Duration or a number of Ops")
	}
	r := &runner{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), auth: "Bearer " + cfg.Token}
	ep, err := parseEndpoint(r.base)
	if err != nil {
		return nil, err
	}
	r.ep = ep
	rep := &Report{
		URL: cfg.BaseURL, Backend: "remote", Concurrency: cfg.Concurrency, Users: cfg.Users,
		Groups: cfg.Groups, MembersPerGroup: cfg.MembersPerGroup, OpsTarget: cfg.Ops,
		Seed: cfg.Seed, Mix: cfg.Mix.String(),
	}
	if cfg.Duration > 0 {
		rep.DurationCap = cfg.Duration.String()
	}
	r.prepare()

	if cfg.Existing {
		p, err := r.discoverUsers(ctx)
		if err != nil {
			return nil, err
		}
		rep.Users, rep.Groups = len(r.userIDs), 0
		rep.Phases = append(rep.Phases, p)
	} else {
		rep.Phases = append(rep.Phases, r.createUsers(ctx))
		if ctx.Err() == nil {
			rep.Phases = append(rep.Phases, r.createGroups(ctx))
		}
	}
	if ctx.Err() == nil && cfg.Mix.total() > 0 {
		if cfg.BeforeMixed != nil {
			cfg.BeforeMixed()
		}
		rep.Phases = append(rep.Phases, r.mixed(ctx))
	}
	for _, p := range rep.Phases {
		for _, o := range p.Ops {
			rep.Errors += o.Errors
		}
	}
	return rep, ctx.Err()
}

// runner holds a run's prepared requests and the ids the server assigned.
type runner struct {
	cfg  Config
	base string
	auth string
	ep   endpoint // where base points; each worker keeps one connection to it (wire.go)

	// Bodies and URLs are built per request from userNames and userIDs rather than held
	// for every user: at 1M users they would take the load tool ~1 GB.
	userNames []string
	userIDs   []string // filled by the create phase; "" where the create failed
	// flips counts PATCH active and PUT requests per user: each one sets the other value
	// than the last, so a server cannot pass by doing nothing, nor run cheaper because a
	// request changed nothing.
	activeFlips []atomic.Uint32
	putFlips    []atomic.Uint32
	groupNames  []string
	groupMember [][]int           // user indexes, by group
	initial     []map[string]bool // the ids each created group started with, by groupURLs index
	groupIDs    []string
	groupURLs   []string
}

// prepare builds every request body and URL that does not depend on a server-assigned id,
// before any timing starts, so that the client's own work stays small.
func (r *runner) prepare() {
	var tag [3]byte
	rand.Read(tag[:])
	// The tag keeps userNames unique across runs against one long-lived server.
	run := hex.EncodeToString(tag[:])
	n := r.cfg.Users
	if r.cfg.Existing {
		return // discoverUsers fills the users in
	}
	r.userNames = make([]string, n)
	r.activeFlips = make([]atomic.Uint32, n)
	r.putFlips = make([]atomic.Uint32, n)
	for i := range n {
		r.userNames[i] = fmt.Sprintf("u%06d.%s@example.com", i, run)
	}
	rng := mrand.New(mrand.NewPCG(r.cfg.Seed, 1))
	k := min(r.cfg.MembersPerGroup, n)
	r.groupNames = make([]string, r.cfg.Groups)
	r.groupMember = make([][]int, r.cfg.Groups)
	for g := range r.cfg.Groups {
		r.groupNames[g] = fmt.Sprintf("g%04d.%s", g, run)
		r.groupMember[g] = sample(rng, n, k)
	}
}

func putGivenName(i, variant int) string { return fmt.Sprintf("Put%c%d", 'A'+variant, i) }

func (r *runner) createBody(i int) []byte {
	return userBody(r.userNames[i], i, fmt.Sprintf("Given%d", i), true)
}

// putBody is one of two variants per user, so that consecutive PUTs change something.
func (r *runner) putBody(i, variant int) []byte {
	return userBody(r.userNames[i], i, putGivenName(i, variant), true)
}

func (r *runner) userURL(i int) string { return r.base + "/Users/" + url.PathEscape(r.userIDs[i]) }

func (r *runner) filterURL(i int) string {
	return r.base + "/Users?filter=" + url.QueryEscape(fmt.Sprintf("userName eq %q", r.userNames[i]))
}

// userBody is a User as an IdP sends it: userName, name, a primary work email, externalId.
func userBody(userName string, i int, given string, active bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":   userName,
		"externalId": fmt.Sprintf("ext-%d", i),
		"active":     active,
		"name":       map[string]string{"givenName": given, "familyName": fmt.Sprintf("Family%d", i)},
		"emails":     []map[string]any{{"value": userName, "type": "work", "primary": true}},
	})
	return b
}

// sample returns k distinct integers from [0, n), by a partial Fisher–Yates shuffle.
func sample(rng *mrand.Rand, n, k int) []int {
	perm := make(map[int]int, k)
	out := make([]int, k)
	for i := range k {
		j := i + rng.IntN(n-i)
		vj, ok := perm[j]
		if !ok {
			vj = j
		}
		vi, ok := perm[i]
		if !ok {
			vi = i
		}
		perm[j] = vi
		out[i] = vj
	}
	return out
}

// createWorkers is how many create at once: SeedConcurrency when seeding, since more
// concurrent commands fill the store's group-commit batches.
func (r *runner) createWorkers() int {
	if r.cfg.Seeder != nil && r.cfg.SeedConcurrency > 0 {
		return r.cfg.SeedConcurrency
	}
	return r.cfg.Concurrency
}

// parallel runs work on workers goroutines, each with its own recorder and worker index,
// and returns the recorders and the wall-clock time until the last worker finished.
func (r *runner) parallel(workers int, work func(w int, rec *recorder)) ([]*recorder, phaseTime) {
	var rs recorders
	var wg sync.WaitGroup
	start, cpu := time.Now(), processCPU()
	for w := range workers {
		rec := rs.add()
		wg.Go(func() { work(w, rec) })
	}
	wg.Wait()
	return rs.list, phaseTime{wall: time.Since(start), cpu: processCPU() - cpu}
}

// phaseTime is how long a phase took, in wall-clock and in this process's CPU time.
type phaseTime struct{ wall, cpu time.Duration }

func (t phaseTime) report(name string, ops []string, recs []*recorder) PhaseReport {
	return PhaseReport{Name: name, ElapsedSec: t.wall.Seconds(), CPUSec: t.cpu.Seconds(), Ops: summarize(name, ops, recs, t.wall)}
}

func (r *runner) createUsers(ctx context.Context) PhaseReport {
	r.userIDs = make([]string, r.cfg.Users)
	var next atomic.Int64
	recs, elapsed := r.parallel(r.createWorkers(), func(_ int, rec *recorder) {
		var c conn
		c.init(r)
		defer c.w.close()
		for ctx.Err() == nil {
			i := int(next.Add(1) - 1)
			if i >= r.cfg.Users {
				return
			}
			var u userDoc
			var d time.Duration
			var err error
			if r.cfg.Seeder != nil {
				start := time.Now()
				u.ID, err = r.cfg.Seeder.SeedUser(ctx, r.createBody(i))
				d = time.Since(start)
			} else {
				d, err = c.do(ctx, http.MethodPost, r.base+"/Users", r.createBody(i), http.StatusCreated, &u)
				if err == nil {
					err = u.check(r.userNames[i], "", nil)
				}
			}
			if err == nil && u.ID == "" {
				err = errors.New("POST /Users: the response has no id")
			}
			if c.cancelled(ctx, err) {
				return
			}
			if err == nil {
				r.userIDs[i] = u.ID
			}
			rec.record(OpCreateUser, d, err)
		}
	})
	return elapsed.report(PhaseCreate, []string{OpCreateUser}, recs)
}

// discoverPage is the page size of the discover phase: the most a server returns.
const discoverPage = 1000

// discoverUsers lists the tenant's users with cursor pagination (RFC 9865), keyset pages
// that cost the same at any depth, and takes them as the run's users.
func (r *runner) discoverUsers(ctx context.Context) (PhaseReport, error) {
	var c conn
	c.init(r)
	defer c.w.close()
	var rs recorders
	rec := rs.add()
	start := time.Now()
	cursor := ""
	for {
		u := r.base + "/Users?attributes=userName&count=" + fmt.Sprint(discoverPage) + "&cursor=" + url.QueryEscape(cursor)
		var l cursorPage
		d, err := c.do(ctx, http.MethodGet, u, nil, http.StatusOK, &l)
		rec.record(OpDiscover, d, err)
		if err != nil {
			return PhaseReport{}, fmt.Errorf("loadgen: listing the existing users: %w", err)
		}
		for _, doc := range l.Resources {
			if doc.ID == "" || doc.UserName == "" {
				return PhaseReport{}, fmt.Errorf("loadgen: listing the existing users: a user without id or userName")
			}
			r.userIDs = append(r.userIDs, doc.ID)
			r.userNames = append(r.userNames, doc.UserName)
		}
		if l.NextCursor == "" || len(l.Resources) == 0 {
			break
		}
		cursor = l.NextCursor
	}
	if len(r.userIDs) == 0 {
		return PhaseReport{}, errors.New("loadgen: the tenant has no users to work on")
	}
	r.activeFlips = make([]atomic.Uint32, len(r.userIDs))
	r.putFlips = make([]atomic.Uint32, len(r.userIDs))
	elapsed := time.Since(start)
	return PhaseReport{Name: PhaseDiscover, ElapsedSec: elapsed.Seconds(), Ops: summarize(PhaseDiscover, []string{OpDiscover}, rs.list, elapsed)}, nil
}

func (r *runner) createGroups(ctx context.Context) PhaseReport {
	r.groupIDs = make([]string, r.cfg.Groups)
	// Group bodies need the users' ids, so they are built here, still before timing.
	bodies := make([][]byte, r.cfg.Groups)
	want := make([]int, r.cfg.Groups)
	for g := range r.cfg.Groups {
		var members []map[string]string
		for _, i := range r.groupMember[g] {
			if id := r.userIDs[i]; id != "" {
				members = append(members, map[string]string{"value": id})
			}
		}
		want[g] = len(members)
		bodies[g], _ = json.Marshal(map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": r.groupNames[g],
			"members":     members,
		})
	}
	var next atomic.Int64
	recs, elapsed := r.parallel(r.createWorkers(), func(_ int, rec *recorder) {
		var c conn
		c.init(r)
		defer c.w.close()
		for ctx.Err() == nil {
			g := int(next.Add(1) - 1)
			if g >= r.cfg.Groups {
				return
			}
			var doc groupDoc
			var d time.Duration
			var err error
			if r.cfg.Seeder != nil {
				start := time.Now()
				doc.ID, err = r.cfg.Seeder.SeedGroup(ctx, bodies[g])
				doc.DisplayName, d = r.groupNames[g], time.Since(start)
				doc.Members = make([]member, want[g])
			} else {
				d, err = c.do(ctx, http.MethodPost, r.base+"/Groups", bodies[g], http.StatusCreated, &doc)
			}
			if err == nil {
				switch {
				case doc.ID == "":
					err = errors.New("POST /Groups: the response has no id")
				case doc.DisplayName != r.groupNames[g]:
					err = fmt.Errorf("POST /Groups: displayName %q, want %q", doc.DisplayName, r.groupNames[g])
				case len(doc.Members) != want[g]:
					err = fmt.Errorf("POST /Groups: %d members in the response, want %d", len(doc.Members), want[g])
				}
			}
			if c.cancelled(ctx, err) {
				return
			}
			if err == nil {
				r.groupIDs[g] = doc.ID
			}
			rec.record(OpCreateGroup, d, err)
		}
	})
	r.groupURLs, r.initial = nil, nil
	for g, id := range r.groupIDs {
		if id != "" {
			r.groupURLs = append(r.groupURLs, r.base+"/Groups/"+url.PathEscape(id))
			m := make(map[string]bool)
			for _, i := range r.groupMember[g] {
				m[r.userIDs[i]] = true
			}
			r.initial = append(r.initial, m)
		}
	}
	return elapsed.report(PhaseGroups, []string{OpCreateGroup}, recs)
}

// Bodies of the PATCH operations that carry no per-request value.
var (
	patchActiveBody = [2][]byte{
		[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`),
		[]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":true}]}`),
	}
)

func patchGivenBody(given string) []byte {
	return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.givenName","value":"` + given + `"}]}`)
}

func memberAddBody(id string) []byte {
	return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"}]}]}`)
}

func memberRemoveBody(id string) []byte {
	return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"` + id + `\"]"}]}`)
}

// listPage is the page size of list_users, as issue 8 specifies.
const listPage = 100

func (r *runner) mixed(ctx context.Context) PhaseReport {
	var live []int // indexes of users that exist
	for i, id := range r.userIDs {
		if id != "" {
			live = append(live, i)
		}
	}
	var deadline time.Time
	if r.cfg.Duration > 0 {
		deadline = time.Now().Add(r.cfg.Duration)
	}
	var tickets atomic.Int64
	picks := r.cfg.Mix.table(len(r.groupURLs) > 0)
	srv0 := pidCPU(r.cfg.ServerPID)
	recs, elapsed := r.parallel(r.cfg.Concurrency, func(w int, rec *recorder) {
		if len(live) == 0 || len(picks) == 0 {
			return
		}
		var c conn
		c.init(r)
		defer c.w.close()
		rng := mrand.New(mrand.NewPCG(r.cfg.Seed, uint64(w)+2))
		// Member changes use users that only this worker touches, so that two workers never
		// add and remove the same membership at once and each response's content is
		// predictable; the other operations check only what their own request decided.
		var mine []int
		for j, i := range live {
			if j%r.cfg.Concurrency == w {
				mine = append(mine, i)
			}
		}
		if len(mine) == 0 {
			mine = live
		}
		seq := 0
		for ctx.Err() == nil {
			if !deadline.IsZero() && !time.Now().Before(deadline) {
				return
			}
			if r.cfg.Ops > 0 && tickets.Add(1) > int64(r.cfg.Ops) {
				return
			}
			seq++
			i := live[rng.IntN(len(live))]
			op := picks[rng.IntN(len(picks))]
			switch op {
			case OpGet:
				var u userDoc
				d, err := c.do(ctx, http.MethodGet, r.userURL(i), nil, http.StatusOK, &u)
				if err == nil {
					err = u.check(r.userNames[i], r.userIDs[i], nil)
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(op, d, err)
			case OpFilter:
				var l listDoc
				d, err := c.do(ctx, http.MethodGet, r.filterURL(i), nil, http.StatusOK, &l)
				if err == nil {
					switch {
					case l.TotalResults != 1 || len(l.Resources) != 1:
						err = fmt.Errorf("filter userName eq: totalResults %d with %d resources, want exactly 1", l.TotalResults, len(l.Resources))
					default:
						err = l.Resources[0].check(r.userNames[i], r.userIDs[i], nil)
					}
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(op, d, err)
			case OpPatchActive:
				// Users start active, so the first PATCH deactivates.
				v := int(r.activeFlips[i].Add(1) % 2)
				var u userDoc
				d, err := c.do(ctx, http.MethodPatch, r.userURL(i), patchActiveBody[(v+1)%2], http.StatusOK, &u)
				if err == nil {
					want := v == 0
					err = u.check(r.userNames[i], r.userIDs[i], &want)
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(op, d, err)
			case OpPatchName:
				given := fmt.Sprintf("W%dS%d", w, seq)
				var u userDoc
				d, err := c.do(ctx, http.MethodPatch, r.userURL(i), patchGivenBody(given), http.StatusOK, &u)
				if err == nil {
					err = u.check(r.userNames[i], r.userIDs[i], nil)
				}
				if err == nil && u.Name.GivenName != given {
					err = fmt.Errorf("PATCH name.givenName: the response has %q, want %q", u.Name.GivenName, given)
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(op, d, err)
			case OpPut:
				variant := int(r.putFlips[i].Add(1) % 2)
				var u userDoc
				d, err := c.do(ctx, http.MethodPut, r.userURL(i), r.putBody(i, variant), http.StatusOK, &u)
				if err == nil {
					active := true
					err = u.check(r.userNames[i], r.userIDs[i], &active)
				}
				if want := putGivenName(i, variant); err == nil && u.Name.GivenName != want {
					err = fmt.Errorf("PUT: the response has name.givenName %q, want %q", u.Name.GivenName, want)
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(op, d, err)
			case OpGroupAdd:
				gi := rng.IntN(len(r.groupURLs))
				g := r.groupURLs[gi]
				// A user who is not an initial member, so that the add really adds and the
				// remove restores the group as it was; a few tries suffice unless the group
				// holds most of this worker's users.
				id := r.userIDs[mine[rng.IntN(len(mine))]]
				for try := 0; try < 8 && r.initial[gi][id]; try++ {
					id = r.userIDs[mine[rng.IntN(len(mine))]]
				}
				var doc groupDoc
				d, err := c.do(ctx, http.MethodPatch, g, memberAddBody(id), http.StatusOK, &doc)
				if err == nil && !doc.has(id) {
					err = fmt.Errorf("PATCH add member: %s is not among the %d members in the response", id, len(doc.Members))
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(OpGroupAdd, d, err)
				doc = groupDoc{}
				d, err = c.do(ctx, http.MethodPatch, g, memberRemoveBody(id), http.StatusOK, &doc)
				if err == nil && doc.has(id) {
					err = fmt.Errorf("PATCH remove member: %s is still among the members in the response", id)
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(OpGroupRemove, d, err)
			case OpList:
				n := len(live)
				start := 1
				if n > listPage {
					start = 1 + rng.IntN(n-listPage+1)
				}
				u := r.base + "/Users?startIndex=" + fmt.Sprint(start) + "&count=" + fmt.Sprint(listPage)
				var l listDoc
				d, err := c.do(ctx, http.MethodGet, u, nil, http.StatusOK, &l)
				if err == nil {
					want := min(listPage, max(0, l.TotalResults-start+1))
					switch {
					case l.TotalResults < n:
						err = fmt.Errorf("list: totalResults %d, but %d users were created", l.TotalResults, n)
					case len(l.Resources) != want:
						err = fmt.Errorf("list: %d resources from startIndex %d of %d, want %d", len(l.Resources), start, l.TotalResults, want)
					case l.StartIndex != start:
						err = fmt.Errorf("list: startIndex %d, want %d", l.StartIndex, start)
					}
				}
				if c.cancelled(ctx, err) {
					return
				}
				rec.record(op, d, err)
			}
		}
	})
	rep := elapsed.report(PhaseMixed, mixedOps, recs)
	rep.ServerCPUSec = (pidCPU(r.cfg.ServerPID) - srv0).Seconds()
	return rep
}

// pidCPU is the CPU time (user + system) process pid has used so far, from
// /proc/PID/stat; 0 when pid is 0 or it cannot be read.
func pidCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may contain spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15, in clock ticks.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const ticks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(ut+st) * time.Second / ticks
}

// conn is one worker's client state: its keep-alive connection and reusable buffers.
type conn struct {
	r *runner
	w wire
}

func (c *conn) init(r *runner) { c.r = r }

// do sends one request and reads the whole response. The latency is measured from
// sending to the last byte read, and excludes decoding the JSON into into, which happens
// afterwards. A status other than want is an error that quotes the start of the body.
func (c *conn) do(ctx context.Context, method, u string, body []byte, want int, into decoder) (time.Duration, error) {
	target, ok := strings.CutPrefix(u, c.r.ep.origin)
	if !ok || !strings.HasPrefix(target, "/") {
		return 0, fmt.Errorf("%s %s: not a URL of %s", method, u, c.r.ep.origin)
	}
	out := append(c.w.out[:0], method...)
	out = append(out, ' ')
	out = append(out, target...)
	out = append(out, " HTTP/1.1\r\nHost: "...)
	out = append(out, c.r.ep.host...)
	out = append(out, "\r\nAuthorization: "...)
	out = append(out, c.r.auth...)
	out = append(out, "\r\nAccept: application/scim+json\r\n"...)
	if body != nil {
		out = append(out, "Content-Type: application/scim+json\r\nContent-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, "\r\n"...)
	}
	out = append(out, "\r\n"...)
	c.w.out = append(out, body...)
	start := time.Now()
	status, err := c.w.roundTrip(ctx, &c.r.ep)
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s %s: %w", method, c.path(u), err)
	}
	if status != want {
		msg := c.w.body
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return d, fmt.Errorf("%s %s: status %d, want %d: %s", method, c.path(u), status, want, bytes.TrimSpace(msg))
	}
	if into != nil {
		if err := into.decode(c.w.body); err != nil {
			return d, fmt.Errorf("%s %s: the response is not the expected JSON: %w", method, c.path(u), err)
		}
	}
	return d, nil
}

// decoder is a response document that reads the fields its checks need (jsondoc.go).
type decoder interface{ decode([]byte) error }

// cancelled reports whether err is only the run being stopped, which is not a server error.
func (c *conn) cancelled(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil
}

// path shortens u to what follows the tenant's base URL, for error messages that group
// well: ids vary, the endpoint does not.
func (c *conn) path(u string) string {
	p := strings.TrimPrefix(u, c.r.base)
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if strings.HasPrefix(p, "/Users/") {
		return "/Users/{id}"
	}
	if strings.HasPrefix(p, "/Groups/") {
		return "/Groups/{id}"
	}
	return p
}

// userDoc, groupDoc and listDoc are the parts of SCIM responses that the checks read.
type userDoc struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Active   *bool  `json:"active"`
	Name     struct {
		GivenName string `json:"givenName"`
	} `json:"name"`
}

// check compares u with what the request decided: its userName, its id (when id is not
// ""), and its active flag (when active is not nil).
func (u *userDoc) check(userName, id string, active *bool) error {
	switch {
	case u.UserName != userName:
		return fmt.Errorf("wrong user: userName %q, want %q", u.UserName, userName)
	case id != "" && u.ID != id:
		return fmt.Errorf("wrong user: id %q, want %q", u.ID, id)
	case active != nil && (u.Active == nil || *u.Active != *active):
		got := "absent"
		if u.Active != nil {
			got = fmt.Sprint(*u.Active)
		}
		return fmt.Errorf("active is %s, want %v", got, *active)
	}
	return nil
}

type groupDoc struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	Members     []member `json:"members"`
}

type member struct {
	Value string `json:"value"`
}

func (g *groupDoc) has(id string) bool {
	for _, m := range g.Members {
		if m.Value == id {
			return true
		}
	}
	return false
}

type listDoc struct {
	TotalResults int       `json:"totalResults"`
	StartIndex   int       `json:"startIndex"`
	Resources    []userDoc `json:"Resources"`
}
