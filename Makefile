# scimtrail — see README.md. `make test` is what CI runs.
GO ?= go

.PHONY: test test-sqlite lint bench run fuzz soak

# Every test on SQLite and on a throwaway PostgreSQL cluster (installed from Debian's
# packages when missing, started on loopback in a temp dir, stopped afterwards).
test:
	scripts/with-postgres $(GO) test -race -count=1 ./...

# The same without PostgreSQL: quick, for a laptop.
test-sqlite:
	$(GO) test -race -count=1 ./...

# The long forms of the reliability suites (docs/reliability.md): more crash cycles, more
# If-Match rounds, more slowloris sockets; both backends.
soak:
	SCIMTRAIL_SOAK=1 SCIMTRAIL_CRASH_CYCLES=$${SCIMTRAIL_CRASH_CYCLES:-20} scripts/with-postgres $(GO) test -count=1 -timeout 60m \
		-run 'TestCrash|TestIfMatchRace|TestConcurrentCreate|TestSlowloris|TestIsolation|TestAbuse|TestRateLimit|TestSecretsCanary|TestMassAssignment' \
		./httpapi/ ./cmd/scimtrail/

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt would change:"; gofmt -l .; exit 1)
	$(GO) vet ./...

bench:
	$(GO) test -run=NONE -bench=. -benchmem ./...

run:
	$(GO) run ./cmd/scimtrail serve
