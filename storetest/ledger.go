package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
)

func entries(t *testing.T, s scimtrail.Store, tenant string, after int64, limit int, f scimtrail.EntryFilter) []scimtrail.StoredEntry {
	t.Helper()
	var got []scimtrail.StoredEntry
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		var err error
		got, err = tx.Entries(ctx, tenant, after, limit, f)
		return err
	})
	return got
}

func head(t *testing.T, s scimtrail.Store, tenant string) scimtrail.LedgerHead {
	t.Helper()
	var h scimtrail.LedgerHead
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		var err error
		h, err = tx.LedgerHead(ctx, tenant)
		return err
	})
	return h
}

func testLedger(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	t.Run("NewTenantHeadIsZero", func(t *testing.T) {
		s := open(t)
		h := head(t, s, "acme")
		if h.Size != 0 || len(h.Range) != 0 {
			t.Errorf("LedgerHead of a new tenant = %+v, want size 0 and an empty range", h)
		}
		if got := entries(t, s, "acme", 0, 10, scimtrail.EntryFilter{}); len(got) != 0 {
			t.Errorf("Entries of a new tenant = %v", got)
		}
	})
	t.Run("AppendStoresEntriesAndHead", func(t *testing.T) {
		s := open(t)
		batch1 := []scimtrail.StoredEntry{
			entry("acme", 1, base, "user.created", "tok_1", "u1"),
			entry("acme", 2, base.Add(time.Microsecond), "group.created", "tok_1", "g1"),
		}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.AppendEntries(ctx, batch1, headFor("acme", 2))
		})
		batch2 := []scimtrail.StoredEntry{entry("acme", 3, base.Add(time.Hour), "user.deactivated", "", "u1")}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.AppendEntries(ctx, batch2, headFor("acme", 3))
		})
		if diff := cmp.Diff(headFor("acme", 3), head(t, s, "acme"), cmpOpts...); diff != "" {
			t.Errorf("LedgerHead (-want +got):\n%s", diff)
		}
		want := append(batch1, batch2...)
		if diff := cmp.Diff(want, entries(t, s, "acme", 0, 100, scimtrail.EntryFilter{}), cmpOpts...); diff != "" {
			t.Errorf("Entries (-want +got):\n%s", diff)
		}
		if h := head(t, s, "globex"); h.Size != 0 {
			t.Errorf("another tenant's head = %+v, want size 0", h)
		}
	})
	t.Run("TenantsHaveSeparateLogs", func(t *testing.T) {
		s := open(t)
		for _, tenant := range []string{"acme", "globex", scimtrail.SystemLog} {
			update(t, s, tenant, func(ctx context.Context, tx scimtrail.Tx) error {
				_, err := appendNext(ctx, tx, tenant, "tenant.created", "op", tenant)
				return err
			})
		}
		for _, tenant := range []string{"acme", "globex", scimtrail.SystemLog} {
			got := entries(t, s, tenant, 0, 10, scimtrail.EntryFilter{})
			if len(got) != 1 || got[0].Seq != 1 || got[0].Tenant != tenant || got[0].TargetID != tenant {
				t.Errorf("Entries(%q) = %+v, want its own single entry with seq 1", tenant, got)
			}
		}
	})
	t.Run("EntriesAfterAndLimit", func(t *testing.T) {
		s := open(t)
		seedLog(t, s)
		if got, want := seqs(entries(t, s, "acme", 0, 3, scimtrail.EntryFilter{})), []int64{1, 2, 3}; !cmp.Equal(got, want) {
			t.Errorf("Entries(after 0, limit 3) = %v, want %v", got, want)
		}
		if got, want := seqs(entries(t, s, "acme", 3, 2, scimtrail.EntryFilter{})), []int64{4, 5}; !cmp.Equal(got, want) {
			t.Errorf("Entries(after 3, limit 2) = %v, want %v", got, want)
		}
		if got, want := seqs(entries(t, s, "acme", 5, 100, scimtrail.EntryFilter{})), []int64{6}; !cmp.Equal(got, want) {
			t.Errorf("Entries(after 5, limit 100) = %v, want %v", got, want)
		}
		if got := entries(t, s, "acme", 6, 100, scimtrail.EntryFilter{}); len(got) != 0 {
			t.Errorf("Entries after the head = %v", seqs(got))
		}
	})
	t.Run("EntriesFilter", func(t *testing.T) {
		s := open(t)
		seedLog(t, s)
		for _, tc := range []struct {
			name string
			f    scimtrail.EntryFilter
			want []int64
		}{
			{"ActionExact", scimtrail.EntryFilter{Action: "user.created"}, []int64{1, 4}},
			{"ActionPrefix", scimtrail.EntryFilter{Action: "user."}, []int64{1, 3, 4}},
			{"ActionPrefixIsNotSubstring", scimtrail.EntryFilter{Action: "user"}, nil},
			{"ActorID", scimtrail.EntryFilter{ActorID: "tok_2"}, []int64{3, 4, 6}},
			{"TargetID", scimtrail.EntryFilter{TargetID: "u1"}, []int64{1, 3}},
			{"Since", scimtrail.EntryFilter{Since: base.Add(3 * time.Second)}, []int64{3, 4, 5, 6}},
			{"Until", scimtrail.EntryFilter{Until: base.Add(3 * time.Second)}, []int64{1, 2}},
			{"SinceUntil", scimtrail.EntryFilter{Since: base.Add(2 * time.Second), Until: base.Add(5 * time.Second)}, []int64{2, 3, 4}},
			{"Combined", scimtrail.EntryFilter{Action: "user.", ActorID: "tok_2", Since: base.Add(4 * time.Second)}, []int64{4}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := seqs(entries(t, s, "acme", 0, 100, tc.f)); !cmp.Equal(got, tc.want, cmpOpts...) {
					t.Errorf("Entries(%+v) = %v, want %v", tc.f, got, tc.want)
				}
			})
		}
		// after and limit apply together with a filter: the page is of matching entries.
		if got, want := seqs(entries(t, s, "acme", 1, 1, scimtrail.EntryFilter{ActorID: "tok_2"})), []int64{3}; !cmp.Equal(got, want) {
			t.Errorf("filtered page = %v, want %v", got, want)
		}
	})
}

// seedLog appends six entries to acme (seq n at base+n seconds) and one to globex.
func seedLog(t *testing.T, s scimtrail.Store) {
	t.Helper()
	es := []scimtrail.StoredEntry{
		entry("acme", 1, base.Add(1*time.Second), "user.created", "tok_1", "u1"),
		entry("acme", 2, base.Add(2*time.Second), "group.created", "tok_1", "g1"),
		entry("acme", 3, base.Add(3*time.Second), "user.deactivated", "tok_2", "u1"),
		entry("acme", 4, base.Add(4*time.Second), "user.created", "tok_2", "u2"),
		entry("acme", 5, base.Add(5*time.Second), "usermap.changed", "tok_1", "m1"),
		entry("acme", 6, base.Add(6*time.Second), "token.revoked", "tok_2", "tok_1"),
	}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.AppendEntries(ctx, es, headFor("acme", 6))
	})
	update(t, s, "globex", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.AppendEntries(ctx, []scimtrail.StoredEntry{entry("globex", 1, base.Add(time.Second), "user.created", "tok_2", "u1")}, headFor("globex", 1))
	})
}

var errRefused = errors.New("refused by the test")

func testUpdate(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	t.Run("ErrorKeepsNoWritesAndIsReturnedUnchanged", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", group("acme", "g1", "Eng", base))
		calls := 0
		err := s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
			calls++
			ctx := t.Context()
			if err := tx.InsertTenant(ctx, scimtrail.Tenant{ID: "acme", Created: base}); err != nil {
				return err
			}
			if err := tx.InsertToken(ctx, scimtrail.Token{ID: "tok_1", Tenant: "acme", Kind: scimtrail.TokenSCIM, Hash: hashOf("s"), Created: base}); err != nil {
				return err
			}
			if err := tx.InsertResource(ctx, fullUser("acme", "u1", "alice")); err != nil {
				return err
			}
			if _, err := tx.AddMembers(ctx, "acme", "g1", []scimtrail.Member{{Value: "u1", Type: scimtrail.UserResource}}); err != nil {
				return err
			}
			if _, err := appendNext(ctx, tx, "acme", "user.created", "tok_1", "u1"); err != nil {
				return err
			}
			// The command sees its own writes before it fails.
			if h, err := tx.LedgerHead(ctx, "acme"); err != nil || h.Size != 1 {
				t.Errorf("LedgerHead inside the command = %+v, %v; want its own append", h, err)
			}
			return fmt.Errorf("wrapped: %w", errRefused)
		})
		if err == nil || err.Error() != "wrapped: refused by the test" || !errors.Is(err, errRefused) {
			t.Fatalf("Update returned %v, want fn's error unchanged", err)
		}
		if calls != 1 {
			t.Errorf("fn called %d times, want once", calls)
		}
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			if _, err := tx.Tenant(ctx, "acme"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("tenant kept after fn failed: %v", err)
			}
			if _, err := tx.Token(ctx, "tok_1"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("token kept after fn failed: %v", err)
			}
			if _, err := tx.Resource(ctx, "acme", scimtrail.UserResource, "u1"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("resource kept after fn failed: %v", err)
			}
			if m, err := tx.Members(ctx, "acme", "g1"); err != nil || len(m) != 0 {
				t.Errorf("membership kept after fn failed: %v, %v", m, err)
			}
			if h, err := tx.LedgerHead(ctx, "acme"); err != nil || h.Size != 0 {
				t.Errorf("ledger head advanced after fn failed: %+v, %v", h, err)
			}
			if es, err := tx.Entries(ctx, "acme", 0, 10, scimtrail.EntryFilter{}); err != nil || len(es) != 0 {
				t.Errorf("entries kept after fn failed: %v, %v", es, err)
			}
			return nil
		})
		// The store still works after a failed command.
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			_, err := appendNext(ctx, tx, "acme", "user.created", "tok_1", "u1")
			return err
		})
		if h := head(t, s, "acme"); h.Size != 1 {
			t.Errorf("head after a successful retry = %d, want 1", h.Size)
		}
	})
	t.Run("ConcurrentUpdatesAllCommit", func(t *testing.T) {
		s := open(t)
		const n = 64
		runConcurrent(t, n, func(i int) error {
			return s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
				ctx := t.Context()
				id := fmt.Sprintf("u%03d", i)
				if err := tx.InsertResource(ctx, user("acme", id, "user"+id, base)); err != nil {
					return err
				}
				_, err := appendNext(ctx, tx, "acme", "user.created", "tok_1", id)
				return err
			})
		}, func(i int, err error) {
			if err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
		checkGapFree(t, s, "acme", n)
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			p, err := tx.QueryResources(ctx, "acme", scimtrail.Query{Type: scimtrail.UserResource, StartIndex: 1})
			if err != nil || p.Total != n {
				t.Errorf("users after %d concurrent creates: %d, %v", n, p.Total, err)
			}
			return nil
		})
	})
	t.Run("FailingCommandDoesNotFailOthers", func(t *testing.T) {
		s := open(t)
		const n = 48
		runConcurrent(t, n, func(i int) error {
			return s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
				ctx := t.Context()
				if _, err := appendNext(ctx, tx, "acme", "user.created", "tok_1", fmt.Sprint(i)); err != nil {
					return err
				}
				if i%4 == 0 {
					return errRefused // after writing, so the backend must undo the append
				}
				return nil
			})
		}, func(i int, err error) {
			if i%4 == 0 {
				if err != errRefused {
					t.Errorf("Update %d = %v, want errRefused", i, err)
				}
			} else if err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
		checkGapFree(t, s, "acme", n-n/4)
	})
	t.Run("ConflictInOneCommandDoesNotFailOthers", func(t *testing.T) {
		s := open(t)
		insertResources(t, s, "acme", user("acme", "taken", "taken", base))
		const n = 24
		runConcurrent(t, n, func(i int) error {
			return s.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
				ctx := t.Context()
				name := fmt.Sprintf("user%d", i)
				if i%3 == 0 {
					name = "TAKEN" // a driver-level constraint failure, not an error of fn's own
				}
				if err := tx.InsertResource(ctx, user("acme", fmt.Sprint("id", i), name, base)); err != nil {
					return err
				}
				_, err := appendNext(ctx, tx, "acme", "user.created", "tok_1", fmt.Sprint(i))
				return err
			})
		}, func(i int, err error) {
			if i%3 == 0 {
				wantCode(t, err, scimtrail.ECONFLICT, fmt.Sprintf("Update %d", i))
			} else if err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
		checkGapFree(t, s, "acme", n-n/3)
	})
	t.Run("ConcurrentTenantsKeepSeparateLogs", func(t *testing.T) {
		s := open(t)
		tenants := []string{"acme", "globex", "initech"}
		const per = 16
		runConcurrent(t, per*len(tenants), func(i int) error {
			tenant := tenants[i%len(tenants)]
			return s.Update(t.Context(), tenant, func(tx scimtrail.Tx) error {
				_, err := appendNext(t.Context(), tx, tenant, "user.created", "tok_1", fmt.Sprint(i))
				return err
			})
		}, func(i int, err error) {
			if err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
		for _, tenant := range tenants {
			checkGapFree(t, s, tenant, per)
		}
	})
	t.Run("CancelledContextKeepsNothing", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Update(ctx, "acme", func(tx scimtrail.Tx) error {
			_, err := appendNext(ctx, tx, "acme", "user.created", "tok_1", "u1")
			return err
		})
		if err == nil {
			t.Fatal("Update with a cancelled context succeeded")
		}
		if h := head(t, s, "acme"); h.Size != 0 {
			t.Errorf("head after a cancelled Update = %d, want 0", h.Size)
		}
	})
}

// runConcurrent starts n goroutines running do and reports each result to check, after
// all of them are done, from the test goroutine.
func runConcurrent(t *testing.T, n int, do func(i int) error, check func(i int, err error)) {
	t.Helper()
	errs := make([]error, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			errs[i] = do(i)
		})
	}
	start.Done()
	wg.Wait()
	for i, err := range errs {
		check(i, err)
	}
}

// checkGapFree asserts that tenant's log holds exactly seqs 1..n and the head says n.
func checkGapFree(t *testing.T, s scimtrail.Store, tenant string, n int) {
	t.Helper()
	if h := head(t, s, tenant); h.Size != int64(n) {
		t.Errorf("%s: head size = %d, want %d", tenant, h.Size, n)
	}
	got := seqs(entries(t, s, tenant, 0, 10*n, scimtrail.EntryFilter{}))
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !cmp.Equal(got, want) {
		t.Errorf("%s: seqs = %v, want 1..%d without gaps", tenant, got, n)
	}
}

func testView(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	t.Run("ConsistentSnapshot", func(t *testing.T) {
		s := open(t)
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			_, err := appendNext(ctx, tx, "acme", "user.created", "tok_1", "u1")
			return err
		})
		err := s.View(t.Context(), func(tx scimtrail.ReadTx) error {
			ctx := t.Context()
			h1, err := tx.LedgerHead(ctx, "acme")
			if err != nil {
				return err
			}
			// A write commits while the view is open; the view must not see it.
			update(t, s, "acme", func(ctx context.Context, wtx scimtrail.Tx) error {
				if err := wtx.InsertResource(ctx, user("acme", "u2", "bob", base)); err != nil {
					return err
				}
				_, err := appendNext(ctx, wtx, "acme", "user.created", "tok_1", "u2")
				return err
			})
			h2, err := tx.LedgerHead(ctx, "acme")
			if err != nil {
				return err
			}
			if h1.Size != 1 || h2.Size != 1 {
				t.Errorf("head inside one View = %d then %d, want 1 both times", h1.Size, h2.Size)
			}
			if es, err := tx.Entries(ctx, "acme", 0, 10, scimtrail.EntryFilter{}); err != nil || len(es) != 1 {
				t.Errorf("entries inside the View = %d, %v; want 1", len(es), err)
			}
			if _, err := tx.Resource(ctx, "acme", scimtrail.UserResource, "u2"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("View sees a resource committed after it started: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("View: %v", err)
		}
		if h := head(t, s, "acme"); h.Size != 2 {
			t.Errorf("head after the View = %d, want 2", h.Size)
		}
	})
	t.Run("ErrorIsReturnedUnchanged", func(t *testing.T) {
		s := open(t)
		if err := s.View(t.Context(), func(scimtrail.ReadTx) error { return errRefused }); err != errRefused {
			t.Errorf("View returned %v, want fn's error", err)
		}
	})
}
