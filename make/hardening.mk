# Hardening: the long versions of what `make test` runs short (docs/reliability.md).
# Included by the top-level Makefile.
#
#   make fuzz                 every Fuzz* target of the repository for FUZZTIME each
#   make fuzz FUZZTIME=5m     longer
#   make load                 the bounded load run (cmd/load) on a fresh DynamoDB Local
#   make load LOAD_FLAGS='-sessions 4000 -duration 120s'
#   make load LOAD_FLAGS='-url http://127.0.0.1:8080'   against a running `make run`

FUZZTIME ?= 30s
LOAD_FLAGS ?=

.PHONY: fuzz fuzz-run load

## fuzz: run every Fuzz* target of the repository for FUZZTIME each (default 30s); new
## failing inputs land in the package's testdata/fuzz/<target>/. The targets of the API and the
## store (issue 21) run on DynamoDB Local, started here once for all of them.
fuzz: dynamodb-local
	@scripts/with-dynamodb.sh $(MAKE) --no-print-directory fuzz-run

fuzz-run:
	@set -e; found=0; \
	for file in $$(git ls-files '*_test.go'); do \
	  for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
	    found=$$((found+1)); dir=./$$(dirname $$file); \
	    echo "== $$dir $$target for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done; \
	echo "== $$found fuzz targets, $(FUZZTIME) each: no failure"

## load: a bounded load run on loopback (default 2,000 sessions for 60 s) that stops by
## itself and prints throughput, p50/p99 per route, errors and a consistency check
load: dynamodb-local
	@mkdir -p $(LOCAL)
	@scripts/with-dynamodb.sh $(GO) run ./cmd/load -server-log $(LOCAL)/load-server.log $(LOAD_FLAGS)
