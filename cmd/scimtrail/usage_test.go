package main

import (
	"strings"
	"testing"
	"time"
)

// These tests need no database: every case is refused before one is opened.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  env
		args []string
		want string // in stderr
	}{
		{"NoCommand", nil, nil, "no command given"},
		{"UnknownCommand", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"UnknownServeFlag", nil, []string{"serve", "--bogus"}, "flag provided but not defined: -bogus"},
		{"ServeExtraArg", nil, []string{"serve", "now"}, `unexpected argument "now"`},
		{"ServeCertWithoutKey", nil, []string{"serve", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"ServeBadLogFormat", nil, []string{"serve", "--log-format", "xml"}, "--log-format must be json or text"},
		{"ServeBadLogFormatFromEnv", env{"SCIMTRAIL_LOG_FORMAT": "xml"}, []string{"serve"}, "--log-format must be json or text"},
		{"ServeBadPublicURL", nil, []string{"serve", "--public-url", "scim.example.com"}, "--public-url must start with"},
		{"TenantNoSubcommand", nil, []string{"tenant"}, "missing subcommand"},
		{"TenantUnknownSubcommand", nil, []string{"tenant", "delete", "acme"}, `unknown subcommand "delete"`},
		{"TenantCreateNoID", nil, []string{"tenant", "create"}, "missing tenant ID"},
		{"TenantCreateTwoIDs", nil, []string{"tenant", "create", "a", "b"}, `unexpected argument "b"`},
		{"TenantCreateUnknownFlag", nil, []string{"tenant", "create", "acme", "--colour", "red"}, "flag provided but not defined"},
		{"TokenNoSubcommand", nil, []string{"token"}, "missing subcommand"},
		{"TokenIssueNoTenant", nil, []string{"token", "issue", "--kind", "scim"}, "--tenant is required"},
		{"TokenIssueBadKind", nil, []string{"token", "issue", "--tenant", "acme", "--kind", "root"}, `--kind must be scim, admin, auditor or app, not "root"`},
		{"TokenIssueOperatorKind", nil, []string{"token", "issue", "--tenant", "acme", "--kind", "operator"}, "--kind must be"},
		{"TokenIssueBadExpiry", nil, []string{"token", "issue", "--tenant", "acme", "--kind", "scim", "--expires", "soon"}, "--expires"},
		{"TokenIssueBadKindFromEnv", env{"SCIMTRAIL_KIND": "root"}, []string{"token", "issue", "--tenant", "acme"}, `not "root"`},
		{"TokenRevokeNoID", nil, []string{"token", "revoke"}, "missing token ID"},
		{"MigrateExtraArg", nil, []string{"migrate", "up"}, `unexpected argument "up"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code != 2 {
				t.Fatalf("exit code %d, want 2 (err %v)", r.code, r.err)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not mention %q:\n%s", tc.want, r.stderr)
			}
			if !strings.Contains(r.stderr, "Usage") {
				t.Errorf("stderr has no usage text:\n%s", r.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"serve", "-h"}, {"tenant", "create", "-h"}, {"token", "--help"}, {"migrate", "-h"}} {
		r := runCLI(t, nil, args...)
		if r.code != 0 {
			t.Errorf("%v: exit code %d, want 0 (err %v)", args, r.code, r.err)
		}
		if !strings.Contains(r.stdout, "Usage") {
			t.Errorf("%v: stdout has no usage text:\n%s", args, r.stdout)
		}
	}
}

// The flag beats the environment: a valid --log-format overrides an invalid
// SCIMTRAIL_LOG_FORMAT, so serve gets past validation to the (missing) certificate.
func TestFlagBeatsEnv(t *testing.T) {
	r := runCLI(t, env{"SCIMTRAIL_LOG_FORMAT": "xml", "SCIMTRAIL_TLS_CERT": "/nonexistent/c.pem", "SCIMTRAIL_TLS_KEY": "/nonexistent/k.pem"},
		"serve", "--log-format", "text")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1 (err %v)", r.code, r.err)
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "load TLS certificate") {
		t.Fatalf("err = %v, want the certificate from SCIMTRAIL_TLS_CERT to fail to load", r.err)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"db": "SCIMTRAIL_DB", "addr": "SCIMTRAIL_ADDR", "tls-cert": "SCIMTRAIL_TLS_CERT", "public-url": "SCIMTRAIL_PUBLIC_URL"} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "", want: 0},
		{in: "never", want: 0},
		{in: "90d", want: 90 * 24 * time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "12h", want: 12 * time.Hour},
		{in: "30m", want: 30 * time.Minute},
		{in: "36h30m", want: 36*time.Hour + 30*time.Minute},
		{in: "0d", bad: true},
		{in: "-5d", bad: true},
		{in: "-1h", bad: true},
		{in: "1.5d", bad: true},
		{in: "99999999d", bad: true},
		{in: "tomorrow", bad: true},
		{in: "90", bad: true},
	} {
		got, err := parseExpiry(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseExpiry(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		public, addr string
		tls          bool
		want         string
	}{
		{"", "127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"", "0.0.0.0:8443", true, "https://localhost:8443"},
		{"", "[::]:8080", false, "http://localhost:8080"},
		{"https://scim.example.com/", "127.0.0.1:8080", false, "https://scim.example.com"},
	} {
		if got := baseURL(tc.public, fakeAddr(tc.addr), tc.tls); got != tc.want {
			t.Errorf("baseURL(%q, %s, %v) = %q, want %q", tc.public, tc.addr, tc.tls, got, tc.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
