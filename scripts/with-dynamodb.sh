#!/usr/bin/env bash
# Runs a command with DynamoDB Local listening, unless DYNAMODB_ENDPOINT already points at one.
# Starts it in memory on a free port, exports DYNAMODB_ENDPOINT, and stops it when the command ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n "${DYNAMODB_ENDPOINT:-}" ]]; then exec "$@"; fi
dir="$root/.local/dynamodb"
[[ -f "$dir/DynamoDBLocal.jar" ]] || { echo "DynamoDB Local missing: run make dynamodb-local" >&2; exit 1; }
port=${DYNAMODB_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
log="$root/.local/dynamodb.log"
(cd "$dir" && exec java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
  -inMemory -sharedDb -port "$port" >"$log" 2>&1) &
ddb=$!
trap 'kill $ddb 2>/dev/null || true; wait $ddb 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 150); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 $ddb 2>/dev/null || { echo "DynamoDB Local exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
echo "DynamoDB Local on $DYNAMODB_ENDPOINT" >&2
"$@"
