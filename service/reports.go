package service

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Evidence reports computed from the ledger and the state kept beside it. Each report names
// the ledger size it was computed at and the seqs of the entries it relies on, so an
// auditor can fetch and verify exactly those entries.

// DeprovisioningEvent is one deprovisioning (user.deactivated or user.deleted) read back
// from the log: when the request arrived (requested_at) and when it was applied (the
// entry's time). Delivered is left empty until exports exist.
type DeprovisioningEvent struct {
	Seq         int64     `json:"seq"`
	UserID      string    `json:"user_id"`
	Action      string    `json:"action"`
	Channel     string    `json:"channel"`
	RequestedAt time.Time `json:"requested_at,omitzero"`
	AppliedAt   time.Time `json:"applied_at"`
	LatencyMS   *float64  `json:"latency_ms"` // null when the entry has no requested_at
}

// DeprovisioningReport is the deprovisioning-latency report of a tenant.
type DeprovisioningReport struct {
	Tenant    string                `json:"tenant"`
	LedgerAt  int64                 `json:"ledger_size"`
	Count     int                   `json:"count"`
	P50MS     float64               `json:"p50_ms"`
	P95MS     float64               `json:"p95_ms"`
	MaxMS     float64               `json:"max_ms"`
	Events    []DeprovisioningEvent `json:"events"`
	Delivered *string               `json:"delivered"` // null: exports do not exist yet
}

type reportEntry struct {
	Seq     int64              `json:"seq"`
	Time    string             `json:"time"`
	Action  string             `json:"action"`
	Channel string             `json:"channel"`
	Target  *scimtrail.Target  `json:"target"`
	Changes []scimtrail.Change `json:"changes"`
	Actor   scimtrail.Actor    `json:"actor"`
}

// scanLedger reads every entry of the tenant whose action matches one of actions, in seq
// order, up to the head it returns.
func scanLedger(ctx context.Context, tx scimtrail.ReadTx, tenant string, actions []string, fn func(reportEntry) error) (int64, error) {
	head, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return 0, err
	}
	for _, act := range actions {
		var after int64
		for {
			es, err := tx.Entries(ctx, tenant, after, 1000, scimtrail.EntryFilter{Action: act})
			if err != nil {
				return 0, err
			}
			for _, se := range es {
				if se.Seq > head.Size {
					break
				}
				var e reportEntry
				if err := json.Unmarshal(se.Body, &e); err != nil {
					return 0, err
				}
				if err := fn(e); err != nil {
					return 0, err
				}
			}
			if len(es) < 1000 {
				break
			}
			after = es[len(es)-1].Seq
		}
	}
	return head.Size, nil
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

// DeprovisioningLatency reports, for every deactivation and deletion of a user in the
// tenant's log, the time from the request's arrival to its application.
func (s *Service) DeprovisioningLatency(ctx context.Context, tenant string) (DeprovisioningReport, error) {
	rep := DeprovisioningReport{Tenant: tenant, Events: []DeprovisioningEvent{}}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var lat []float64
		size, err := scanLedger(ctx, tx, tenant, []string{"user.deactivated", "user.deleted"}, func(e reportEntry) error {
			applied, err := time.Parse(time.RFC3339Nano, e.Time)
			if err != nil {
				return err
			}
			ev := DeprovisioningEvent{Seq: e.Seq, Action: e.Action, Channel: e.Channel, AppliedAt: applied}
			if e.Target != nil {
				ev.UserID = e.Target.ID
			}
			for _, c := range e.Changes {
				if str, ok := c.New.(string); ok && c.Path == "requested_at" {
					if req, err := time.Parse(time.RFC3339Nano, str); err == nil {
						ev.RequestedAt = req
						ms := max(0, float64(applied.Sub(req).Microseconds())/1000)
						ev.LatencyMS = &ms
						lat = append(lat, ms)
					}
				}
			}
			rep.Events = append(rep.Events, ev)
			return nil
		})
		rep.LedgerAt = size
		slices.SortFunc(rep.Events, func(a, b DeprovisioningEvent) int { return int(a.Seq - b.Seq) })
		slices.Sort(lat)
		rep.Count = len(rep.Events)
		rep.P50MS, rep.P95MS = percentile(lat, 0.5), percentile(lat, 0.95)
		if len(lat) > 0 {
			rep.MaxMS = lat[len(lat)-1]
		}
		return err
	})
	return rep, err
}

// Credential is one row of the credential lifecycle report: a SCIM token or an NHI key.
type Credential struct {
	Kind     string    `json:"kind"` // "scim_token" or "nhi_key"
	ID       string    `json:"id"`
	Owner    string    `json:"owner,omitempty"` // the service account of an NHI key
	Issued   time.Time `json:"issued"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Rotated  time.Time `json:"rotated,omitzero"`
	Revoked  time.Time `json:"revoked,omitzero"`
	Expires  time.Time `json:"expires,omitzero"`
	AgeDays  int       `json:"age_days"`
	State    string    `json:"state"` // active, expired, revoked
}

// CredentialReport is the credential lifecycle report of a tenant.
type CredentialReport struct {
	Tenant      string       `json:"tenant"`
	At          time.Time    `json:"at"`
	LedgerAt    int64        `json:"ledger_size"`
	Credentials []Credential `json:"credentials"`
}

func credState(revoked, expires, now time.Time) string {
	switch {
	case !revoked.IsZero():
		return "revoked"
	case !expires.IsZero() && !now.Before(expires):
		return "expired"
	}
	return "active"
}

// Credentials reports every SCIM token and NHI key of the tenant.
func (s *Service) Credentials(ctx context.Context, tenant string) (CredentialReport, error) {
	now := s.now().UTC()
	rep := CredentialReport{Tenant: tenant, At: now, Credentials: []Credential{}}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return err
		}
		rep.LedgerAt = head.Size
		toks, err := tx.Tokens(ctx, tenant)
		if err != nil {
			return err
		}
		for _, t := range toks {
			if t.Kind != scimtrail.TokenSCIM {
				continue
			}
			rep.Credentials = append(rep.Credentials, Credential{Kind: "scim_token", ID: t.ID, Issued: t.Created, Rotated: t.Rotated,
				Revoked: t.Revoked, Expires: t.Expires, AgeDays: int(now.Sub(t.Created).Hours() / 24), State: credState(t.Revoked, t.Expires, now)})
		}
		keys, err := tx.NHIKeys(ctx, tenant, "")
		if err != nil {
			return err
		}
		for _, k := range keys {
			rep.Credentials = append(rep.Credentials, Credential{Kind: "nhi_key", ID: k.ID, Owner: k.AccountID, Issued: k.Created, LastUsed: k.LastUsed,
				Rotated: k.Rotated, Revoked: k.Revoked, Expires: k.Expires, AgeDays: int(now.Sub(k.Created).Hours() / 24), State: credState(k.Revoked, k.Expires, now)})
		}
		return nil
	})
	return rep, err
}
