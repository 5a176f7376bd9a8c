# Benchmarks (issue 6). Included by the top-level Makefile.
#
#   make bench                  every part, ~10 minutes on 2 cores: progress on stderr, the tables on
#                               stdout and in bench/results.md (+ results.json, sweep-scale.png)
#   make bench BENCH_FLAGS='-sweep-levels=1000,10000 -duration=5s'   a quicker run
#   make bench BENCH_FLAGS='-only=keepalive -profile=build/pprof'    one part, with CPU profiles
#
# It always starts a DynamoDB Local of its own (in memory, on a free port) so that nothing else
# shares it, even when DYNAMODB_ENDPOINT is set. `go run ./bench -h` lists the flags.

BENCH_FLAGS ?=

.PHONY: bench

bench: dynamodb-local rie
	@env -u DYNAMODB_ENDPOINT scripts/with-dynamodb.sh $(GO) run ./bench $(BENCH_FLAGS)
