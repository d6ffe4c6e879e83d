package loadgen_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/loadgen"
)

// fakeSCIM is a small in-memory SCIM server that answers the workload's requests
// correctly, except for the one operation named by broken, which it answers with a
// plausible but wrong response. It checks that the load tool's checks notice.
type fakeSCIM struct {
	broken string // "", or a loadgen.Op* name

	mu     sync.Mutex
	users  map[string]*fakeUser
	order  []string
	groups map[string]*fakeGroup
	nextID int
}

type fakeUser struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Active   bool   `json:"active"`
	Name     struct {
		GivenName string `json:"givenName"`
	} `json:"name"`
}

type fakeMember struct {
	Value string `json:"value"`
}

type fakeGroup struct {
	ID          string       `json:"id"`
	DisplayName string       `json:"displayName"`
	Members     []fakeMember `json:"members"`
}

type patchReq struct {
	Operations []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	} `json:"Operations"`
}

func newFakeSCIM(t *testing.T, broken string) *httptest.Server {
	f := &fakeSCIM{broken: broken, users: map[string]*fakeUser{}, groups: map[string]*fakeGroup{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /scim/v2/t/Users", f.createUser)
	mux.HandleFunc("GET /scim/v2/t/Users", f.listUsers)
	mux.HandleFunc("GET /scim/v2/t/Users/{id}", f.getUser)
	mux.HandleFunc("PATCH /scim/v2/t/Users/{id}", f.patchUser)
	mux.HandleFunc("PUT /scim/v2/t/Users/{id}", f.putUser)
	mux.HandleFunc("POST /scim/v2/t/Groups", f.createGroup)
	mux.HandleFunc("PATCH /scim/v2/t/Groups/{id}", f.patchGroup)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeSCIM) createUser(w http.ResponseWriter, r *http.Request) {
	var u fakeUser
	json.NewDecoder(r.Body).Decode(&u)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	u.ID = "u" + strconv.Itoa(f.nextID)
	f.users[u.ID] = &u
	f.order = append(f.order, u.ID)
	reply(w, http.StatusCreated, u)
}

func (f *fakeSCIM) getUser(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := *f.users[r.PathValue("id")]
	if f.broken == loadgen.OpGet {
		u.UserName = "someone.else@example.com"
	}
	reply(w, http.StatusOK, u)
}

func (f *fakeSCIM) listUsers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	var found []fakeUser
	if flt := q.Get("filter"); flt != "" {
		name := strings.Trim(strings.TrimPrefix(flt, "userName eq "), `"`)
		for _, id := range f.order {
			if f.users[id].UserName == name {
				found = append(found, *f.users[id])
			}
		}
		if f.broken == loadgen.OpFilter {
			// A filter that ignores its value: every user matches.
			found = found[:0]
			for _, id := range f.order {
				found = append(found, *f.users[id])
			}
		}
		reply(w, http.StatusOK, map[string]any{"totalResults": len(found), "startIndex": 1, "Resources": found})
		return
	}
	start, _ := strconv.Atoi(q.Get("startIndex"))
	count, _ := strconv.Atoi(q.Get("count"))
	for i := start - 1; i < len(f.order) && len(found) < count; i++ {
		found = append(found, *f.users[f.order[i]])
	}
	if f.broken == loadgen.OpList && len(found) > 1 {
		found = found[1:] // one short
	}
	reply(w, http.StatusOK, map[string]any{"totalResults": len(f.order), "startIndex": start, "Resources": found})
}

func (f *fakeSCIM) patchUser(w http.ResponseWriter, r *http.Request) {
	var p patchReq
	json.NewDecoder(r.Body).Decode(&p)
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users[r.PathValue("id")]
	for _, op := range p.Operations {
		switch {
		case op.Path == "active":
			json.Unmarshal(op.Value, &u.Active)
			if f.broken == loadgen.OpPatchActive {
				u.Active = !u.Active // the opposite of what was asked
			}
		case op.Path == "name.givenName" && f.broken != loadgen.OpPatchName:
			json.Unmarshal(op.Value, &u.Name.GivenName)
		}
	}
	reply(w, http.StatusOK, u)
}

func (f *fakeSCIM) putUser(w http.ResponseWriter, r *http.Request) {
	if f.broken == loadgen.OpPut {
		reply(w, http.StatusInternalServerError, map[string]any{"detail": "broken on purpose"})
		return
	}
	var in fakeUser
	json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	defer f.mu.Unlock()
	in.ID = r.PathValue("id")
	f.users[in.ID] = &in
	reply(w, http.StatusOK, in)
}

func (f *fakeSCIM) createGroup(w http.ResponseWriter, r *http.Request) {
	var g fakeGroup
	json.NewDecoder(r.Body).Decode(&g)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	g.ID = "g" + strconv.Itoa(f.nextID)
	f.groups[g.ID] = &g
	reply(w, http.StatusCreated, g)
}

func (f *fakeSCIM) patchGroup(w http.ResponseWriter, r *http.Request) {
	var p patchReq
	json.NewDecoder(r.Body).Decode(&p)
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[r.PathValue("id")]
	for _, op := range p.Operations {
		switch {
		case op.Op == "add" && f.broken != loadgen.OpGroupAdd:
			var ms []fakeMember
			json.Unmarshal(op.Value, &ms)
			for _, m := range ms {
				if !slices.Contains(g.Members, m) {
					g.Members = append(g.Members, m)
				}
			}
		case op.Op == "remove" && f.broken != loadgen.OpGroupRemove:
			_, rest, _ := strings.Cut(op.Path, `value eq "`)
			id, _, _ := strings.Cut(rest, `"`)
			g.Members = slices.DeleteFunc(g.Members, func(m fakeMember) bool { return m.Value == id })
		}
	}
	reply(w, http.StatusOK, g)
}

// TestWrongContentIsAnError breaks one operation at a time on a fake server and checks
// that every request of that operation, and only those, count as errors.
func TestWrongContentIsAnError(t *testing.T) {
	for _, broken := range []string{"", loadgen.OpGet, loadgen.OpFilter, loadgen.OpPatchActive, loadgen.OpPatchName, loadgen.OpPut, loadgen.OpGroupAdd, loadgen.OpGroupRemove, loadgen.OpList} {
		name := broken
		if name == "" {
			name = "Correct"
		}
		t.Run(name, func(t *testing.T) {
			srv := newFakeSCIM(t, broken)
			cfg := tinyConfig(srv.URL+"/scim/v2/t", "secret")
			cfg.Users = 150 // more than a list page, so list_users sees full pages
			cfg.Duration = time.Minute
			rep, err := loadgen.Run(t.Context(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var total int64
			for _, p := range rep.Phases {
				for _, o := range p.Ops {
					total += o.Errors
					switch {
					case o.Op == broken && (o.Count == 0 || o.Errors != o.Count):
						t.Errorf("%s: %d errors in %d requests to a broken endpoint, want all", o.Op, o.Errors, o.Count)
					case o.Op == broken && len(o.ErrorSamples) == 0:
						t.Errorf("%s: errors without a message", o.Op)
					case o.Op != broken && o.Errors != 0:
						t.Errorf("%s: %d errors from a correct endpoint: %q", o.Op, o.Errors, o.ErrorSamples)
					}
				}
			}
			if rep.Errors != total {
				t.Errorf("Report.Errors = %d, want the sum %d", rep.Errors, total)
			}
			if broken != "" && rep.Errors == 0 {
				t.Error("a broken server passed")
			}
			var b strings.Builder
			rep.WriteTable(&b)
			if wantFail := broken != ""; strings.Contains(b.String(), "FAIL:") != wantFail {
				t.Errorf("table says FAIL %v, want %v:\n%s", !wantFail, wantFail, b.String())
			}
			if broken != "" && !strings.Contains(b.String(), fmt.Sprintf("error mixed/%s:", broken)) {
				t.Errorf("table does not show %s's error message:\n%s", broken, b.String())
			}
		})
	}
}
