package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
)

const groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"

// concurrencyRounds is how many versions the If-Match race runs through; soak raises it.
func concurrencyRounds() int {
	if soak() {
		return 50
	}
	return 4
}

// TestIfMatchRace has 16 clients PATCH the same user and the same group with the same
// If-Match, round after round: each version has exactly one winner and 15 × 412, the
// winner's change is what the resource says, and the group's members and its ledger are
// exactly the acknowledged additions — none lost, none extra.
func TestIfMatchRace(t *testing.T) {
	const clients = 16
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		rounds := concurrencyRounds()
		userID, _ := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "race@example.com"}), 201).json()["id"].(string)
		groupID, _ := e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{"schemas": []string{groupSchema}, "displayName": "Racers"}), 201).json()["id"].(string)
		members := make([]string, clients*rounds+clients)
		for i := range members {
			members[i], _ = e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": fmt.Sprintf("m%d@example.com", i)}), 201).json()["id"].(string)
		}
		var acked []string // members whose add got 200
		for round := range rounds {
			for _, target := range []string{"Users/" + userID, "Groups/" + groupID} {
				etag := e.must(e.do("GET", "/scim/v2/acme/"+target, tok, nil), 200).header.Get("ETag")
				var (
					mu      sync.Mutex
					winners []int
					refused int
					wg      sync.WaitGroup
				)
				for c := range clients {
					wg.Go(func() {
						var body any
						if target[0] == 'U' {
							body = map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
								"Operations": []map[string]any{{"op": "replace", "path": "displayName", "value": fmt.Sprintf("r%d-c%d", round, c)}}}
						} else {
							body = addMemberPatch(members[round*clients+c], "")
						}
						r := e.do("PATCH", "/scim/v2/acme/"+target, tok, body, "If-Match", etag)
						mu.Lock()
						defer mu.Unlock()
						switch r.status {
						case 200:
							winners = append(winners, c)
						case 412:
							refused++
						default:
							t.Errorf("PATCH %s: status %d: %s", target, r.status, r.body)
						}
					})
				}
				wg.Wait()
				if len(winners) != 1 || refused != clients-1 {
					t.Fatalf("round %d %s: %d winners %v and %d × 412; want exactly one winner", round, target, len(winners), winners, refused)
				}
				w := winners[0]
				got := e.must(e.do("GET", "/scim/v2/acme/"+target, tok, nil), 200).json()
				if target[0] == 'U' {
					if want := fmt.Sprintf("r%d-c%d", round, w); got["displayName"] != want {
						t.Errorf("round %d: displayName %v, want the winner's %q", round, got["displayName"], want)
					}
				} else {
					acked = append(acked, members[round*clients+w])
				}
			}
		}
		// Without If-Match every add wins: set semantics, and no add lost to a race.
		var wg sync.WaitGroup
		for c := range clients {
			m := members[rounds*clients+c]
			acked = append(acked, m)
			wg.Go(func() {
				if r := e.do("PATCH", "/scim/v2/acme/Groups/"+groupID, tok, addMemberPatch(m, "")); r.status != 200 {
					t.Errorf("PATCH without If-Match: status %d: %s", r.status, r.body)
				}
			})
		}
		wg.Wait()

		var g struct {
			Members []struct{ Value string } `json:"members"`
		}
		json.Unmarshal(e.must(e.do("GET", "/scim/v2/acme/Groups/"+groupID, tok, nil), 200).body, &g)
		var got []string
		for _, m := range g.Members {
			got = append(got, m.Value)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(acked))
		if !slices.Equal(got, want) {
			t.Errorf("group members\n got  %v\n want %v (the acknowledged adds)", got, want)
		}
		// The ledger records exactly the acknowledged adds, once each.
		var logged []string
		for _, en := range e.ledgerEntries("acme") {
			if en.Action == "group.member_added" && en.Target.ID == groupID {
				for _, ch := range en.Changes {
					var nv struct{ Value string }
					json.Unmarshal(ch.New, &nv)
					logged = append(logged, nv.Value)
				}
			}
		}
		slices.Sort(logged)
		if !slices.Equal(logged, want) {
			t.Errorf("ledger member_added\n got  %v\n want %v", logged, want)
		}
	})
}

// TestConcurrentCreateSameUserName sends 32 creates at once of one userName spelt in
// different cases and Unicode normal forms: exactly one is created, the rest are 409
// uniqueness, and the ledger has one user.created for it.
func TestConcurrentCreateSameUserName(t *testing.T) {
	forms := []string{
		"Zoë.Ångström@Example.com",                   // NFC
		"Zoe\u0308.A\u030angstro\u0308m@Example.com", // NFD
		"ZOË.ÅNGSTRÖM@EXAMPLE.COM",
		"zoë.ångström@example.com",
		"zoe\u0308.a\u030angstro\u0308m@example.com",
		"ZOE\u0308.A\u030aNGSTRO\u0308M@EXAMPLE.COM",
		"Zoë.\u212bngström@example.com", // Å as the Angstrom sign, NFC-equivalent to Å
		"zOË.åNGSTRöm@eXAMPLE.cOM",
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		var (
			mu       sync.Mutex
			created  []string
			conflict int
			wg       sync.WaitGroup
		)
		for i := range 32 {
			wg.Go(func() {
				r := e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{"schemas": []string{userSchema}, "userName": forms[i%len(forms)]})
				mu.Lock()
				defer mu.Unlock()
				switch r.status {
				case 201:
					created = append(created, forms[i%len(forms)])
				case 409:
					conflict++
					if r.json()["scimType"] != "uniqueness" {
						t.Errorf("409 without scimType uniqueness: %s", r.body)
					}
				default:
					t.Errorf("status %d: %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		if len(created) != 1 || conflict != 31 {
			t.Fatalf("%d created %q and %d conflicts; want exactly one 201", len(created), created, conflict)
		}
		n := 0
		for _, en := range e.ledgerEntries("acme") {
			if en.Action == "user.created" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d user.created entries, want 1", n)
		}
	})
}

// ledgerEntry is one entry of the admin API's audit listing.
type ledgerEntry struct {
	Seq    int64  `json:"seq"`
	Action string `json:"action"`
	Target struct {
		ID string `json:"id"`
	} `json:"target"`
	Changes []struct {
		Path string          `json:"path"`
		Old  json.RawMessage `json:"old"`
		New  json.RawMessage `json:"new"`
	} `json:"changes"`
}

// ledgerEntries reads the tenant's whole log through the admin API, page by page.
func (e *env) ledgerEntries(tenant string) []ledgerEntry {
	e.t.Helper()
	var all []ledgerEntry
	after := int64(0)
	for {
		r := e.must(e.do("GET", fmt.Sprintf("/api/v1/tenants/%s/audit?after=%d&limit=1000", tenant, after), e.operator, nil), 200)
		var page struct {
			Entries []struct {
				Seq   int64       `json:"seq"`
				Entry ledgerEntry `json:"entry"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			e.t.Fatalf("audit page: %v", err)
		}
		if len(page.Entries) == 0 {
			return all
		}
		for _, en := range page.Entries {
			if en.Seq != after+1 {
				e.t.Fatalf("audit log gap: seq %d after %d", en.Seq, after)
			}
			after = en.Seq
			all = append(all, en.Entry)
		}
	}
}
