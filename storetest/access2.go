package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail"
)

// testAccess2 covers Access2ReadTx and Access2Tx: service accounts, their API keys, the
// tenant's NHI policy and delegated admin token scopes.
func testAccess2(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	later := base.Add(time.Hour)
	a1 := scimtrail.ServiceAccount{Tenant: "acme", ID: "sa1", Name: "ci", Description: "deploys", OwnerID: "u1", State: scimtrail.AccountActive, Created: base, Updated: base}
	a2 := scimtrail.ServiceAccount{Tenant: "acme", ID: "sa2", Name: "backup", OwnerID: "u2", State: scimtrail.AccountActive, Created: base, Updated: base}
	other := scimtrail.ServiceAccount{Tenant: "globex", ID: "sa9", Name: "x", OwnerID: "u1", State: scimtrail.AccountActive, Created: base, Updated: base}
	k1 := scimtrail.NHIKey{Tenant: "acme", ID: "k1", AccountID: "sa1", Hash: hashOf("k1"), Created: base}
	k2 := scimtrail.NHIKey{Tenant: "acme", ID: "k2", AccountID: "sa2", Hash: hashOf("k2"), Created: base, Expires: later}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		for _, a := range []scimtrail.ServiceAccount{a1, a2, other} {
			if err := tx.InsertServiceAccount(ctx, a); err != nil {
				return err
			}
		}
		for _, k := range []scimtrail.NHIKey{k1, k2} {
			if err := tx.InsertNHIKey(ctx, k); err != nil {
				return err
			}
		}
		a1.Name, a1.State, a1.Flag, a1.Updated = "ci-2", scimtrail.AccountDisabled, "owner_deprovisioned", later
		if err := tx.UpdateServiceAccount(ctx, a1); err != nil {
			return err
		}
		k1.Expires, k1.Rotated, k1.ReplacedBy, k1.LastUsed = later, base.Add(time.Minute), "k2", base.Add(2*time.Minute)
		if err := tx.UpdateNHIKey(ctx, k1); err != nil {
			return err
		}
		if err := tx.PutNHIPolicy(ctx, scimtrail.NHIPolicy{Tenant: "acme", OwnerGone: scimtrail.OwnerGoneRevoke, MaxKeyAge: 90 * 24 * time.Hour, Updated: base}); err != nil {
			return err
		}
		return tx.InsertTokenScope(ctx, "acme", "tok1", scimtrail.TokenScope{GrantableRoles: []string{"viewer", "editor"}, IssueTokens: true})
	})
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		got, err := tx.ServiceAccount(ctx, "acme", "sa1")
		if diff := cmp.Diff(a1, got, cmpOpts...); err != nil || diff != "" {
			t.Errorf("ServiceAccount (-want +got), %v:\n%s", err, diff)
		}
		_, err = tx.ServiceAccount(ctx, "acme", "sa9")
		wantCode(t, err, scimtrail.ENOTFOUND, "ServiceAccount of another tenant")
		all, err := tx.ServiceAccounts(ctx, "acme", "")
		if diff := cmp.Diff([]scimtrail.ServiceAccount{a1, a2}, all, cmpOpts...); err != nil || diff != "" {
			t.Errorf("ServiceAccounts (-want +got), %v:\n%s", err, diff)
		}
		owned, err := tx.ServiceAccounts(ctx, "acme", "u2")
		if err != nil || len(owned) != 1 || owned[0].ID != "sa2" {
			t.Errorf("ServiceAccounts of u2 = %+v, %v", owned, err)
		}
		gotKey, err := tx.NHIKey(ctx, "acme", "k1")
		if diff := cmp.Diff(k1, gotKey, cmpOpts...); err != nil || diff != "" || !bytes.Equal(gotKey.Hash, k1.Hash) {
			t.Errorf("NHIKey (-want +got), %v:\n%s", err, diff)
		}
		byHash, err := tx.NHIKeyByHash(ctx, "acme", hashOf("k2"))
		if err != nil || byHash.ID != "k2" || !byHash.Expires.Equal(later) {
			t.Errorf("NHIKeyByHash = %+v, %v", byHash, err)
		}
		_, err = tx.NHIKeyByHash(ctx, "globex", hashOf("k2"))
		wantCode(t, err, scimtrail.ENOTFOUND, "NHIKeyByHash in another tenant")
		if keys, err := tx.NHIKeys(ctx, "acme", "sa2"); err != nil || len(keys) != 1 || keys[0].ID != "k2" {
			t.Errorf("NHIKeys(sa2) = %+v, %v", keys, err)
		}
		if keys, err := tx.NHIKeys(ctx, "acme", ""); err != nil || len(keys) != 2 || keys[0].ID != "k1" {
			t.Errorf("NHIKeys(all) = %+v, %v", keys, err)
		}
		p, err := tx.NHIPolicy(ctx, "acme")
		if err != nil || p.OwnerGone != scimtrail.OwnerGoneRevoke || p.MaxKeyAge != 90*24*time.Hour || !p.Updated.Equal(base) {
			t.Errorf("NHIPolicy = %+v, %v", p, err)
		}
		if p, err := tx.NHIPolicy(ctx, "globex"); err != nil || p != (scimtrail.NHIPolicy{Tenant: "globex"}) {
			t.Errorf("NHIPolicy of a tenant that set none = %+v, %v", p, err)
		}
		sc, err := tx.TokenScope(ctx, "tok1")
		if err != nil || !cmp.Equal(sc.GrantableRoles, []string{"viewer", "editor"}) || !sc.IssueTokens {
			t.Errorf("TokenScope = %+v, %v", sc, err)
		}
		_, err = tx.TokenScope(ctx, "tok2")
		wantCode(t, err, scimtrail.ENOTFOUND, "TokenScope of a token without one")
		return nil
	})
	fails := func(code, what string, fn func(ctx context.Context, tx scimtrail.Tx) error) {
		t.Helper()
		wantCode(t, s.Update(context.Background(), "acme", func(tx scimtrail.Tx) error { return fn(context.Background(), tx) }), code, what)
	}
	fails(scimtrail.ECONFLICT, "InsertNHIKey with a taken hash", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.InsertNHIKey(ctx, scimtrail.NHIKey{Tenant: "acme", ID: "k3", AccountID: "sa1", Hash: hashOf("k1"), Created: base})
	})
	fails(scimtrail.ECONFLICT, "InsertNHIKey with a taken id", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.InsertNHIKey(ctx, scimtrail.NHIKey{Tenant: "acme", ID: "k1", AccountID: "sa1", Hash: hashOf("k3"), Created: base})
	})
}

// testDrift covers DriftReadTx and DriftTx: the app state head and snapshot rows.
func testDrift(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		if h, err := tx.AppStateHead(ctx, "acme"); err != nil || h != (scimtrail.AppStateHead{Tenant: "acme"}) {
			t.Errorf("AppStateHead before any = %+v, %v", h, err)
		}
		return nil
	})
	rows := func(users ...string) []scimtrail.AppStateRow {
		var out []scimtrail.AppStateRow
		for _, u := range users {
			out = append(out, scimtrail.AppStateRow{UserID: u, Role: "viewer"})
		}
		return out
	}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.InsertAppStateRows(ctx, "acme", "s1", rows("u2", "u1")); err != nil {
			return err
		}
		// A row already in the snapshot is left as it is.
		if err := tx.InsertAppStateRows(ctx, "acme", "s1", append(rows("u1"), scimtrail.AppStateRow{UserID: "u1", Role: "admin"})); err != nil {
			return err
		}
		if err := tx.InsertAppStateRows(ctx, "acme", "s2", rows("u3")); err != nil {
			return err
		}
		if err := tx.InsertAppStateRows(ctx, "globex", "s1", rows("u9")); err != nil {
			return err
		}
		return tx.PutAppStateHead(ctx, scimtrail.AppStateHead{Tenant: "acme", Current: "s1", Pending: "s2", Pages: 1})
	})
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		h, err := tx.AppStateHead(ctx, "acme")
		if err != nil || h != (scimtrail.AppStateHead{Tenant: "acme", Current: "s1", Pending: "s2", Pages: 1}) {
			t.Errorf("AppStateHead = %+v, %v", h, err)
		}
		got, err := tx.AppStateRows(ctx, "acme", "s1")
		want := []scimtrail.AppStateRow{{UserID: "u1", Role: "admin"}, {UserID: "u1", Role: "viewer"}, {UserID: "u2", Role: "viewer"}}
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("AppStateRows(s1) (-want +got), %v:\n%s", err, diff)
		}
		return nil
	})
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.PutAppStateHead(ctx, scimtrail.AppStateHead{Tenant: "acme", Current: "s2"}); err != nil {
			return err
		}
		return tx.DeleteAppStateRows(ctx, "acme", []string{"s2"})
	})
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		if got, err := tx.AppStateRows(ctx, "acme", "s1"); err != nil || len(got) != 0 {
			t.Errorf("AppStateRows(s1) after dropping it = %+v, %v", got, err)
		}
		if got, err := tx.AppStateRows(ctx, "acme", "s2"); err != nil || !cmp.Equal(got, rows("u3")) {
			t.Errorf("AppStateRows(s2) kept = %+v, %v", got, err)
		}
		if got, err := tx.AppStateRows(ctx, "globex", "s1"); err != nil || !cmp.Equal(got, rows("u9")) {
			t.Errorf("another tenant's rows = %+v, %v", got, err)
		}
		if h, err := tx.AppStateHead(ctx, "acme"); err != nil || h != (scimtrail.AppStateHead{Tenant: "acme", Current: "s2"}) {
			t.Errorf("AppStateHead replaced = %+v, %v", h, err)
		}
		return nil
	})
}

// testReviews covers ReviewReadTx and ReviewTx: access reviews and their decisions.
func testReviews(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	r1 := scimtrail.AccessReview{Tenant: "acme", ID: "r1", Scope: scimtrail.ReviewPrivileged, Roles: []string{"admin", "root"}, At: base, Size: 41, CreatedBy: "tok", Seq: 42}
	r2 := scimtrail.AccessReview{Tenant: "acme", ID: "r2", Scope: scimtrail.ReviewAll, At: base.Add(time.Minute), Size: 50, CreatedBy: "tok", Seq: 51}
	d1 := scimtrail.ReviewDecision{Tenant: "acme", ReviewID: "r1", UserID: "u2", Role: "root", Decision: scimtrail.DecisionKeep, Comment: "ok", By: "aud", At: base, Seq: 43, RevokedGrants: []string{}}
	d2 := scimtrail.ReviewDecision{Tenant: "acme", ReviewID: "r1", UserID: "u1", Role: "admin", Decision: scimtrail.DecisionKeep, By: "aud", At: base, Seq: 44, RevokedGrants: []string{}}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		for _, r := range []scimtrail.AccessReview{r2, r1, {Tenant: "globex", ID: "r1", Scope: scimtrail.ReviewAll, At: base, Seq: 3}} {
			if err := tx.InsertAccessReview(ctx, r); err != nil {
				return err
			}
		}
		for _, d := range []scimtrail.ReviewDecision{d1, d2} {
			if err := tx.PutReviewDecision(ctx, d); err != nil {
				return err
			}
		}
		// A later decision on the same user and role replaces the first.
		d2 = scimtrail.ReviewDecision{Tenant: "acme", ReviewID: "r1", UserID: "u1", Role: "admin", Decision: scimtrail.DecisionRevoke, Comment: "left",
			By: "adm", At: base.Add(time.Second), Seq: 45, RevokedGrants: []string{"g1"}}
		return tx.PutReviewDecision(ctx, d2)
	})
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		got, err := tx.AccessReview(ctx, "acme", "r1")
		if diff := cmp.Diff(r1, got); err != nil || diff != "" {
			t.Errorf("AccessReview (-want +got), %v:\n%s", err, diff)
		}
		if got, err := tx.AccessReview(ctx, "acme", "r2"); err != nil || got.Roles != nil {
			t.Errorf("AccessReview of scope all: roles %v (want nil), %v", got.Roles, err)
		}
		_, err = tx.AccessReview(ctx, "globex", "r2")
		wantCode(t, err, scimtrail.ENOTFOUND, "AccessReview of another tenant")
		all, err := tx.AccessReviews(ctx, "acme")
		if diff := cmp.Diff([]scimtrail.AccessReview{r1, r2}, all); err != nil || diff != "" {
			t.Errorf("AccessReviews oldest first (-want +got), %v:\n%s", err, diff)
		}
		ds, err := tx.ReviewDecisions(ctx, "acme", "r1")
		if diff := cmp.Diff([]scimtrail.ReviewDecision{d2, d1}, ds); err != nil || diff != "" {
			t.Errorf("ReviewDecisions (-want +got), %v:\n%s", err, diff)
		}
		if ds, err := tx.ReviewDecisions(ctx, "globex", "r1"); err != nil || len(ds) != 0 {
			t.Errorf("ReviewDecisions of another tenant's review = %+v, %v", ds, err)
		}
		return nil
	})
	wantCode(t, s.Update(context.Background(), "acme", func(tx scimtrail.Tx) error {
		return tx.InsertAccessReview(context.Background(), r1)
	}), scimtrail.ECONFLICT, "InsertAccessReview with a taken id")
}

// testExternal covers ExternalReadTx and ExternalTx: the external policy, status history
// and refused access.
func testExternal(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	s := open(t)
	t1, t2 := base.Add(time.Minute), base.Add(2*time.Minute)
	pol := scimtrail.ExternalPolicy{Tenant: "acme", Domains: []string{"acme.example"}, BarPrivileged: true, GrantDays: 30, Updated: base}
	path := scimtrail.AccessPath{Kind: "group", Via: []string{"g1"}}
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.PutExternalPolicy(ctx, pol); err != nil {
			return err
		}
		if err := tx.InsertExternalChanges(ctx, []scimtrail.ExternalChange{
			{Tenant: "acme", UserID: "u1", At: base, External: true, Reason: "userType guest"},
			{Tenant: "acme", UserID: "u1", At: t2, External: false},
			{Tenant: "acme", UserID: "u2", At: t1, External: true, Reason: "first"},
			{Tenant: "globex", UserID: "u1", At: base, External: true},
		}); err != nil {
			return err
		}
		// The same instant again replaces the change.
		if err := tx.InsertExternalChanges(ctx, []scimtrail.ExternalChange{{Tenant: "acme", UserID: "u2", At: t1, External: true, Reason: "email domain x"}}); err != nil {
			return err
		}
		return tx.InsertRefusals(ctx, []scimtrail.AccessRefusal{
			{Tenant: "acme", UserID: "u1", Role: "root", Path: path, Reason: "barred", From: base, Seq: 9},
			{Tenant: "acme", UserID: "u2", Role: "root", Path: path, Reason: "barred", From: t1, Seq: 11},
		})
	})
	update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		return tx.CloseRefusals(ctx, []scimtrail.AccessRefusal{{Tenant: "acme", UserID: "u1", Role: "root", Path: path, To: t2}})
	})
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		got, err := tx.ExternalPolicy(ctx, "acme")
		if diff := cmp.Diff(pol, got); err != nil || diff != "" {
			t.Errorf("ExternalPolicy (-want +got), %v:\n%s", err, diff)
		}
		if p, err := tx.ExternalPolicy(ctx, "globex"); err != nil || p.Tenant != "globex" || p.BarPrivileged || len(p.Domains) != 0 {
			t.Errorf("ExternalPolicy of a tenant that set none = %+v, %v", p, err)
		}
		for _, c := range []struct {
			at    time.Time
			users []string
			want  map[string]bool // user → external; absent: no change yet
		}{
			{base.Add(-time.Second), nil, map[string]bool{}},
			{base, nil, map[string]bool{"u1": true}},
			{t1, nil, map[string]bool{"u1": true, "u2": true}},
			{t2, nil, map[string]bool{"u1": false, "u2": true}},
			{t2, []string{"u2", "u3"}, map[string]bool{"u2": true}},
		} {
			m, err := tx.ExternalAt(ctx, "acme", c.users, c.at)
			got := map[string]bool{}
			for id, ch := range m {
				got[id] = ch.External
			}
			if err != nil || !cmp.Equal(got, c.want) {
				t.Errorf("ExternalAt(%v, %v) = %v, %v; want %v", c.users, c.at, got, err, c.want)
			}
		}
		if m, _ := tx.ExternalAt(ctx, "acme", []string{"u2"}, t2); m["u2"].Reason != "email domain x" || !m["u2"].At.Equal(t1) {
			t.Errorf("ExternalAt replaced change = %+v", m["u2"])
		}
		open, err := tx.OpenRefusals(ctx, "acme", nil)
		if err != nil || len(open) != 1 || open[0].UserID != "u2" || open[0].Seq != 11 || !cmp.Equal(open[0].Path, path) || !open[0].From.Equal(t1) {
			t.Errorf("OpenRefusals = %+v, %v", open, err)
		}
		if open, _ := tx.OpenRefusals(ctx, "acme", []string{"u1"}); len(open) != 0 {
			t.Errorf("OpenRefusals(u1) after closing = %+v", open)
		}
		if at, _ := tx.RefusalsAt(ctx, "acme", t1); len(at) != 2 || at[0].UserID != "u1" || at[0].Reason != "barred" {
			t.Errorf("RefusalsAt(t1) = %+v", at)
		}
		if at, _ := tx.RefusalsAt(ctx, "acme", t2); len(at) != 1 || at[0].UserID != "u2" {
			t.Errorf("RefusalsAt(t2) = %+v", at)
		}
		return nil
	})
	wantCode(t, s.Update(context.Background(), "acme", func(tx scimtrail.Tx) error {
		return tx.InsertRefusals(context.Background(), []scimtrail.AccessRefusal{{Tenant: "acme", UserID: "u2", Role: "root", Path: path, From: t2, Seq: 12}})
	}), scimtrail.ECONFLICT, "InsertRefusals of a path already refused")
	wantCode(t, s.Update(context.Background(), "acme", func(tx scimtrail.Tx) error {
		return tx.CloseRefusals(context.Background(), []scimtrail.AccessRefusal{{Tenant: "acme", UserID: "u1", Role: "root", Path: path, To: t2}})
	}), scimtrail.ENOTFOUND, "CloseRefusals twice")
}
