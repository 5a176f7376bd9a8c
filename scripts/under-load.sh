#!/usr/bin/env bash
# Runs a command RUNS times in a row with two CPU-burning processes beside it, the way flakes
# are hunted here (docs/reliability.md), and prints how many runs passed with each run's time.
#
#   scripts/under-load.sh 10 make test-e2e
#   scripts/under-load.sh 1 go test -count=3 ./...
#
# Each run's output goes to .local/under-load/run-N.log. Exits non-zero when any run failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:?usage: scripts/under-load.sh RUNS COMMAND...}
shift
[[ $# -gt 0 ]] || { echo "usage: scripts/under-load.sh RUNS COMMAND..." >&2; exit 2; }
logs="$root/.local/under-load"
mkdir -p "$logs"
burners=()
for _ in 1 2; do
  (while :; do :; done) &
  burners+=($!)
done
trap 'kill "${burners[@]}" 2>/dev/null; wait "${burners[@]}" 2>/dev/null' EXIT INT TERM
passed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if "$@" >"$logs/run-$i.log" 2>&1; then
    passed=$((passed + 1)); verdict=passed
  else
    verdict="FAILED (see $logs/run-$i.log)"
  fi
  echo "run $i: $verdict in $(( $(date +%s) - start )) s"
done
echo "$passed passed, $((runs - passed)) failed"
[[ $passed -eq $runs ]]
