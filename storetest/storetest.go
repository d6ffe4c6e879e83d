// Package storetest is the one behavioural suite of the scimtrail.Store contract that every
// backend must pass, so that sqlite and postgres behave identically and the service above
// them never needs to know which one it runs on.
//
// A backend's test calls Run with a function that opens a fresh, empty, migrated store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB) scimtrail.Store { return MustOpenDB(tb) })
//	}
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// Run runs the whole suite against the backend that open returns. open must return a fresh,
// empty, migrated store and close it itself (tb.Cleanup) when the test ends. Every subtest opens its
// own store, so subtests are independent and may be run alone with -run.
func Run(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	t.Run("Tenants", func(t *testing.T) { testTenants(t, open) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open) })
	t.Run("Resources", func(t *testing.T) { testResources(t, open) })
	t.Run("Members", func(t *testing.T) { testMembers(t, open) })
	t.Run("Ledger", func(t *testing.T) { testLedger(t, open) })
	t.Run("LedgerTree", func(t *testing.T) { testLedgerTree(t, open) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, open) })
	t.Run("View", func(t *testing.T) { testView(t, open) })
	t.Run("Query", func(t *testing.T) { testQuery(t, open) })
	t.Run("Export", func(t *testing.T) { testExport(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("Keyset", func(t *testing.T) { testKeyset(t, open) })
	t.Run("DeepPages", func(t *testing.T) { testDeepPages(t, open) })
	t.Run("Access", func(t *testing.T) { testAccess(t, open) })
	t.Run("BatchReads", func(t *testing.T) { testBatchReads(t, open) })
	t.Run("MemberOfCreated", func(t *testing.T) { testMemberOfCreated(t, open) })
	t.Run("KeysOnly", func(t *testing.T) { testKeysOnly(t, open) })
	t.Run("ResourceCounts", func(t *testing.T) { testResourceCounts(t, open) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, open) })
	t.Run("Access2", func(t *testing.T) { testAccess2(t, open) })
	t.Run("Drift", func(t *testing.T) { testDrift(t, open) })
	t.Run("Reviews", func(t *testing.T) { testReviews(t, open) })
	t.Run("External", func(t *testing.T) { testExternal(t, open) })
	t.Run("BreakGlassRequests", func(t *testing.T) { testBreakGlassRequests(t, open) })
	t.Run("UniqueValues", func(t *testing.T) { testUniqueValues(t, open) })
	t.Run("UserWithGroups", func(t *testing.T) { testUserWithGroups(t, open) })
}

// Fold is the key every backend compares case-insensitive attributes by: NFC, then lower
// case. Callers store UserNameKey and Emails already folded this way and pass filter values
// as written, so a backend folds filter values with exactly this function.
func Fold(s string) string { return filter.Fold(s) }

// base is a fixed instant with microsecond precision, the precision every backend keeps.
var base = time.Date(2026, 11, 29, 6, 40, 0, 123456000, time.UTC)

// cmpOpts compare resources and entries as values; times compare with Equal (go-cmp uses
// the Equal method), and a nil slice equals an empty one because a backend cannot tell
// them apart once stored.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func update(tb testing.TB, s scimtrail.Store, tenant string, fn func(ctx context.Context, tx scimtrail.Tx) error) {
	tb.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, tenant, func(tx scimtrail.Tx) error { return fn(ctx, tx) }); err != nil {
		tb.Fatalf("Update(%q): %v", tenant, err)
	}
}

func view(tb testing.TB, s scimtrail.Store, fn func(ctx context.Context, tx scimtrail.ReadTx) error) {
	tb.Helper()
	ctx := context.Background()
	if err := s.View(ctx, func(tx scimtrail.ReadTx) error { return fn(ctx, tx) }); err != nil {
		tb.Fatalf("View: %v", err)
	}
}

func wantCode(tb testing.TB, err error, code string, what string) {
	tb.Helper()
	if got := scimtrail.ErrorCode(err); got != code {
		tb.Fatalf("%s: error code %q (err %v), want %q", what, got, err, code)
	}
	if code != "" && code != scimtrail.EINTERNAL {
		var e *scimtrail.Error
		if !errors.As(err, &e) || e.Message == "" {
			tb.Fatalf("%s: %v is not a *scimtrail.Error with a message", what, err)
		}
	}
}

func mustInsertTenant(tb testing.TB, s scimtrail.Store, id string) {
	tb.Helper()
	update(tb, s, id, func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.InsertTenant(ctx, scimtrail.Tenant{ID: id, Name: id + " Inc.", Created: base})
	})
}

func user(tenant, id, userName string, at time.Time) scimtrail.Resource {
	return scimtrail.Resource{
		Tenant:       tenant,
		Type:         scimtrail.UserResource,
		ID:           id,
		UserName:     userName,
		UserNameKey:  Fold(userName),
		Active:       true,
		Schemas:      []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		Attributes:   json.RawMessage(fmt.Sprintf(`{"userName":%q}`, userName)),
		Created:      at,
		LastModified: at,
		Version:      1,
	}
}

func group(tenant, id, displayName string, at time.Time) scimtrail.Resource {
	return scimtrail.Resource{
		Tenant:       tenant,
		Type:         scimtrail.GroupResource,
		ID:           id,
		DisplayName:  displayName,
		Active:       true,
		Schemas:      []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		Attributes:   json.RawMessage(fmt.Sprintf(`{"displayName":%q}`, displayName)),
		Created:      at,
		LastModified: at,
		Version:      1,
	}
}

func insertResources(tb testing.TB, s scimtrail.Store, tenant string, rs ...scimtrail.Resource) {
	tb.Helper()
	update(tb, s, tenant, func(ctx context.Context, tx scimtrail.Tx) error {
		for _, r := range rs {
			if err := tx.InsertResource(ctx, r); err != nil {
				return fmt.Errorf("insert %s: %w", r.ID, err)
			}
		}
		return nil
	})
}

// entry builds a stored entry whose body and leaf hash are distinct per (tenant, seq), so a
// backend that mixes up rows is caught.
func entry(tenant string, seq int64, at time.Time, action, actor, target string) scimtrail.StoredEntry {
	body := fmt.Sprintf(`{"action":%q,"seq":%d,"tenant":%q}`, action, seq, tenant)
	leaf := sha256.Sum256(append([]byte{0}, body...))
	return scimtrail.StoredEntry{
		Tenant: tenant, Seq: seq, Time: at, Action: action, ActorID: actor, TargetID: target,
		Body: []byte(body), LeafHash: leaf[:],
	}
}

// headFor returns a head of size n with a range of distinct hashes.
func headFor(tenant string, n int64) scimtrail.LedgerHead {
	var rng []byte
	for i := int64(0); i < 3; i++ {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%d", tenant, n, i)))
		rng = append(rng, h[:]...)
	}
	return scimtrail.LedgerHead{Tenant: tenant, Size: n, Range: rng}
}

// appendNext appends one entry after the current head, the way the write path does.
func appendNext(ctx context.Context, tx scimtrail.Tx, tenant string, action, actor, target string) (int64, error) {
	h, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return 0, err
	}
	seq := h.Size + 1
	e := entry(tenant, seq, base.Add(time.Duration(seq)*time.Second), action, actor, target)
	return seq, tx.AppendEntries(ctx, []scimtrail.StoredEntry{e}, headFor(tenant, seq))
}

func ids(rs []scimtrail.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func seqs(es []scimtrail.StoredEntry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func sortedRefs(refs []scimtrail.MemberRef) []scimtrail.MemberRef {
	out := slices.Clone(refs)
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}
