package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// cliOrigin is who the ledger records for changes made with the CLI: whoever can open the
// database file is an administrator of the install.
var cliOrigin = service.Origin{
	Actor:   scimtrail.Actor{Type: scimtrail.ActorAdmin, ID: "cli"},
	Channel: scimtrail.ChannelAdminAPI,
}

// withService opens the database, runs fn with a Service over it, and closes the database
// (which waits for fn's writes) whatever fn returned.
func (m *Main) withService(ctx context.Context, dsn string, fn func(svc *service.Service, store scimtrail.Store) error) (err error) {
	store, err := openStore(ctx, dsn, nil)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redactDSN(dsn), err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	return fn(service.New(store, service.Options{}), store)
}

const tenantUsage = `Usage:
  scimtrail tenant create ID [--name NAME] [--db DSN]
  scimtrail tenant list [--db DSN]

Creates or lists tenants: the customer organisations whose IdPs provision users.
A tenant ID appears in URLs (/scim/v2/ID) and never changes.

Flags:
  --name NAME   display name of the tenant (default: the ID)
  --db DSN      SQLite file or postgres:// URL (default ` + defaultDB + `; env SCIMTRAIL_DB)
`

func (m *Main) runTenant(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return m.usage(tenantUsage, fmt.Errorf("tenant: missing subcommand (create or list)"))
	}
	switch args[0] {
	case "create":
		c := m.newCommand("tenant create", tenantUsage)
		name := c.fs.String("name", "", "")
		dsn := c.fs.String("db", defaultDB, "")
		pos, err := c.parse(args[1:])
		if err != nil {
			return err
		}
		if err := c.wantArgs(pos, "tenant ID"); err != nil {
			return err
		}
		return m.withService(ctx, *dsn, func(svc *service.Service, _ scimtrail.Store) error {
			n := *name
			if n == "" {
				n = pos[0]
			}
			t, _, err := svc.CreateTenant(ctx, cliOrigin, pos[0], n)
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "created tenant %s (%s)\n", t.ID, t.Name)
			return nil
		})
	case "list":
		c := m.newCommand("tenant list", tenantUsage)
		dsn := c.fs.String("db", defaultDB, "")
		pos, err := c.parse(args[1:])
		if err != nil {
			return err
		}
		if err := c.wantArgs(pos); err != nil {
			return err
		}
		return m.withService(ctx, *dsn, func(svc *service.Service, _ scimtrail.Store) error {
			ts, err := svc.Tenants(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tCREATED")
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%s\t%s\n", t.ID, t.Name, t.Created.UTC().Format(time.RFC3339))
			}
			return w.Flush()
		})
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, tenantUsage)
		return errHelp
	default:
		return m.usage(tenantUsage, fmt.Errorf("tenant: unknown subcommand %q", args[0]))
	}
}

const tokenUsage = `Usage:
  scimtrail token issue --tenant ID --kind scim|admin|auditor|app [--name NAME] [--expires 90d] [--db DSN]
  scimtrail token list [--tenant ID] [--db DSN]
  scimtrail token revoke TOKEN-ID [--db DSN]

issue    creates a bearer token and prints its secret on stdout. The secret is
         shown only this once: scimtrail keeps nothing but its SHA-256.
list     lists a tenant's tokens, or the operator tokens when --tenant is not given.
revoke   revokes a token; the next request that uses it is refused.

Flags:
  --tenant ID      the tenant the token belongs to
  --kind KIND      scim (an IdP's provisioning), admin (the tenant's administrators),
                   auditor (read-only: log, proofs, reports) or app (the vendor's app)
  --name NAME      a label, e.g. "okta" or "entra-prod"
  --expires D      lifetime: Nd, Nh, Nm or a Go duration such as 36h (default: never)
  --db DSN         SQLite file or postgres:// URL (default ` + defaultDB + `; env SCIMTRAIL_DB)
`

func (m *Main) runToken(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return m.usage(tokenUsage, fmt.Errorf("token: missing subcommand (issue, list or revoke)"))
	}
	switch args[0] {
	case "issue":
		c := m.newCommand("token issue", tokenUsage)
		tenant := c.fs.String("tenant", "", "")
		kind := c.fs.String("kind", "", "")
		name := c.fs.String("name", "", "")
		expires := c.fs.String("expires", "", "")
		dsn := c.fs.String("db", defaultDB, "")
		pos, err := c.parse(args[1:])
		if err != nil {
			return err
		}
		if err := c.wantArgs(pos); err != nil {
			return err
		}
		if *tenant == "" {
			return m.usage(tokenUsage, fmt.Errorf("token issue: --tenant is required"))
		}
		k := scimtrail.TokenKind(*kind)
		switch k {
		case scimtrail.TokenSCIM, scimtrail.TokenAdmin, scimtrail.TokenAuditor, scimtrail.TokenApp:
		default:
			return m.usage(tokenUsage, fmt.Errorf("token issue: --kind must be scim, admin, auditor or app, not %q", *kind))
		}
		ttl, err := parseExpiry(*expires)
		if err != nil {
			return m.usage(tokenUsage, fmt.Errorf("token issue: --expires: %w", err))
		}
		return m.withService(ctx, *dsn, func(svc *service.Service, _ scimtrail.Store) error {
			it, _, err := svc.IssueToken(ctx, cliOrigin, *tenant, k, *name, ttl)
			if err != nil {
				return err
			}
			// The secret alone goes to stdout so that TOKEN=$(scimtrail token issue …)
			// works; the description goes to stderr.
			fmt.Fprintln(m.Stdout, it.Secret)
			exp := "never expires"
			if !it.Expires.IsZero() {
				exp = "expires " + it.Expires.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(m.Stderr, "issued %s token %s for tenant %s (%s); the secret above is shown only once\n", it.Kind, it.ID, it.Tenant, exp)
			return nil
		})
	case "list":
		c := m.newCommand("token list", tokenUsage)
		tenant := c.fs.String("tenant", "", "")
		dsn := c.fs.String("db", defaultDB, "")
		pos, err := c.parse(args[1:])
		if err != nil {
			return err
		}
		if err := c.wantArgs(pos); err != nil {
			return err
		}
		return m.withService(ctx, *dsn, func(svc *service.Service, _ scimtrail.Store) error {
			ts, err := svc.Tokens(ctx, *tenant)
			if err != nil {
				return err
			}
			now := time.Now()
			w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tTENANT\tKIND\tNAME\tSTATUS\tCREATED\tEXPIRES")
			for _, t := range ts {
				tenant, name, expires := t.Tenant, t.Name, "never"
				if tenant == "" {
					tenant = "-"
				}
				if name == "" {
					name = "-"
				}
				if !t.Expires.IsZero() {
					expires = t.Expires.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, tenant, t.Kind, name, tokenStatus(t, now),
					t.Created.UTC().Format(time.RFC3339), expires)
			}
			return w.Flush()
		})
	case "revoke":
		c := m.newCommand("token revoke", tokenUsage)
		dsn := c.fs.String("db", defaultDB, "")
		pos, err := c.parse(args[1:])
		if err != nil {
			return err
		}
		if err := c.wantArgs(pos, "token ID"); err != nil {
			return err
		}
		return m.withService(ctx, *dsn, func(svc *service.Service, store scimtrail.Store) error {
			// Token ids are unique across the install, so the CLI needs no --tenant: look
			// up which tenant's log the revocation belongs in.
			var tok scimtrail.Token
			err := store.View(ctx, func(tx scimtrail.ReadTx) error {
				var err error
				tok, err = tx.Token(ctx, pos[0])
				return err
			})
			if err != nil {
				return err
			}
			if _, err := svc.RevokeToken(ctx, cliOrigin, tok.Tenant, tok.ID); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "revoked token %s\n", tok.ID)
			return nil
		})
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, tokenUsage)
		return errHelp
	default:
		return m.usage(tokenUsage, fmt.Errorf("token: unknown subcommand %q", args[0]))
	}
}

func tokenStatus(t scimtrail.Token, now time.Time) string {
	switch {
	case !t.Revoked.IsZero():
		return "revoked"
	case !t.Usable(now):
		return "expired"
	default:
		return "active"
	}
}

const migrateUsage = `Usage: scimtrail migrate [--db DSN]

Applies any pending database migrations and exits. serve also migrates on start;
run this first when several replicas share one PostgreSQL database and you want
the schema change to happen before any of them is replaced.

Flags:
  --db DSN   SQLite file or postgres:// URL (default ` + defaultDB + `; env SCIMTRAIL_DB)
`

func (m *Main) runMigrate(ctx context.Context, args []string) error {
	c := m.newCommand("migrate", migrateUsage)
	dsn := c.fs.String("db", defaultDB, "")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.wantArgs(pos); err != nil {
		return err
	}
	return m.withService(ctx, *dsn, func(svc *service.Service, store scimtrail.Store) error {
		// Opening migrated the database; Ping confirms the schema is the one this build
		// expects.
		if err := store.Ping(ctx); err != nil {
			return err
		}
		// Logs written before ledger tiles existed get theirs now (serve does it too).
		if err := svc.BackfillTiles(ctx, nil); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "database %s is migrated\n", redactDSN(*dsn))
		return nil
	})
}
