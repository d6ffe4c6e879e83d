# scimtrail — see README.md. `make test` is what CI runs.
GO ?= go

.PHONY: test test-sqlite lint bench run fuzz screenshots soak

# Every test on SQLite and on a throwaway PostgreSQL cluster (installed from Debian's
# packages when missing, started on loopback in a temp dir, stopped afterwards), with
# Debian's chromium for the console's browser tests (installed when missing).
test:
	scripts/with-chromium scripts/with-postgres $(GO) test -race -count=1 ./...

# The same without PostgreSQL: quick, for a laptop.
test-sqlite:
	scripts/with-chromium $(GO) test -race -count=1 ./...

# Rewrite the console screenshots under docs/screenshots/ (the README shows them).
screenshots:
	scripts/with-chromium $(GO) test -count=1 -run Browser ./httpapi/console -screenshots

# The long forms of the reliability suites (docs/reliability.md): 200 SIGKILL cycles per
# backend, 20 replica and PostgreSQL-kill cycles, more If-Match rounds, more slowloris
# sockets; both backends.
soak:
	SCIMTRAIL_SOAK=1 SCIMTRAIL_CRASH_CYCLES=$${SCIMTRAIL_CRASH_CYCLES:-200} SCIMTRAIL_REPLICA_CYCLES=$${SCIMTRAIL_REPLICA_CYCLES:-20} scripts/with-postgres $(GO) test -count=1 -timeout 60m \
		-run 'TestCrash|TestTwoReplicas|TestKillPostgres|TestAuditVerifyCatchesTamperingAtScale|TestBulkAbuse|TestConsoleIsolation|TestIfMatchRace|TestConcurrentCreate|TestSlowloris|TestIsolation|TestAbuse|TestRateLimit|TestSecretsCanary|TestMassAssignment' \
		./httpapi/ ./cmd/scimtrail/

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt would change:"; gofmt -l .; exit 1)
	$(GO) vet ./...

# The standard SCIM workload (issue 8) against a fresh in-process server on a temp SQLite
# database, then the Go benchmarks. BENCHFLAGS passes flags to the load tool, e.g.
# BENCHFLAGS="--concurrency 64 --duration 60s" or --db postgres://… for PostgreSQL.
BENCHFLAGS ?= --users 10000 --concurrency 8 --duration 20s
bench:
	$(GO) run ./cmd/scimtrail-bench $(BENCHFLAGS)
	$(GO) test -run=NONE -bench=. -benchmem ./...

run:
	$(GO) run ./cmd/scimtrail serve

# A bounded run of every fuzz target (CI runs it; FUZZTIME=5m for a longer hunt). Go fuzzes
# one target per invocation; new findings are written under testdata/fuzz and fail the run.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run=NONE -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./scim/filter
	$(GO) test -run=NONE -fuzz='^FuzzParsePath$$' -fuzztime=$(FUZZTIME) ./scim/patch
	$(GO) test -run=NONE -fuzz='^FuzzApply$$' -fuzztime=$(FUZZTIME) ./scim/patch
