#!/usr/bin/env bash
# Walks the API deployed on LocalStack end to end: health, a group with a setting, a user in it,
# the user's effective settings, a session, a keepalive, and an expiry by a sweep.
#
# Usage: localstack/smoke.sh [API_URL]
#   API_URL        base URL of the API; default: derived from the stack outputs that
#                  `make localstack-deploy` wrote to OUTPUTS_FILE
#   ADMIN_API_KEY  the admin key (default: read from the AdminKeySecretArn secret the stack
#                  generated, with curl's SigV4 signing against LocalStack)
#   STACK_NAME     stack name (default WsPolicy)
#   OUTPUTS_FILE   default build/localstack/outputs.json
#   AWS_ENDPOINT_URL  LocalStack's address (default http://localhost:4566)
# Needs bash, curl and python3 (for JSON), nothing else.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_NAME=${STACK_NAME:-WsPolicy}
OUTPUTS_FILE=${OUTPUTS_FILE:-$root/build/localstack/outputs.json}
endpoint=${AWS_ENDPOINT_URL:-http://localhost:4566}

fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}

# json EXPR: evaluates a Python expression over the JSON document on stdin, bound to d.
json() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# The API URL: the argument, or the stack output rewritten to LocalStack's execute-api host
# (<api-id>.execute-api.localhost.localstack.cloud, which resolves to 127.0.0.1).
api_url() {
	if [[ -n ${1:-} ]]; then
		echo "${1%/}"
		return
	fi
	[[ -f $OUTPUTS_FILE ]] || fail "no $OUTPUTS_FILE: run \`make localstack-deploy\` or pass the API URL"
	local url id port
	url=$(json "d['$STACK_NAME']['ApiUrl']" <"$OUTPUTS_FILE") || fail "no ApiUrl for $STACK_NAME in $OUTPUTS_FILE"
	id=$(sed -E 's#^https?://([^.]+)\.execute-api\..*#\1#' <<<"$url")
	port=$(sed -E 's#^https?://[^:/]+:?([0-9]*).*#\1#' <<<"$endpoint")
	echo "http://$id.execute-api.localhost.localstack.cloud:${port:-4566}"
}

# admin_key reads the bootstrap admin key from the stack's secret (Secrets Manager's JSON API,
# signed by curl, which needs curl 7.75 or later).
admin_key() {
	local arn
	[[ -f $OUTPUTS_FILE ]] || fail "no $OUTPUTS_FILE and no ADMIN_API_KEY"
	arn=$(json "d['$STACK_NAME']['AdminKeySecretArn']" <"$OUTPUTS_FILE") || fail "no AdminKeySecretArn in $OUTPUTS_FILE"
	curl -fsS "$endpoint" --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:secretsmanager" \
		--user "${AWS_ACCESS_KEY_ID:-test}:${AWS_SECRET_ACCESS_KEY:-test}" \
		-H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: secretsmanager.GetSecretValue' \
		--data "{\"SecretId\": \"$arn\"}" | json "d['SecretString']" || fail "could not read the admin key secret $arn"
}

ADMIN_API_KEY=${ADMIN_API_KEY:-$(admin_key)}
base=$(api_url "${1:-}")
echo "smoke: API at $base"
body=$(mktemp)
trap 'rm -f "$body"' EXIT

# call METHOD PATH [JSON]: sends the request with the admin key, leaves the response body in
# $body and prints the status code.
call() {
	local args=(-sS -o "$body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $ADMIN_API_KEY")
	if [[ -n ${3:-} ]]; then
		args+=(-H 'Content-Type: application/json' --data "$3")
	fi
	curl "${args[@]}" "$base$2"
}

# expect WANT METHOD PATH [JSON]: the request must answer with status WANT.
expect() {
	local want=$1 got
	shift
	got=$(call "$@") || fail "$1 $2: curl failed"
	[[ $got == "$want" ]] || fail "$1 $2: got $got, want $want: $(cat "$body")"
	echo "smoke: ok  $1 $2 -> $got"
}

field() { json "$1" <"$body"; }

run=$(date +%s)

expect 200 GET /v1/health
[[ $(field "d['status']") == ok ]] || fail "health: $(cat "$body")"

expect 201 POST /v1/groups "{\"name\":\"smoke-$run\",\"priority\":10,\"description\":\"LocalStack smoke test\"}"
group=$(field "d['group_id']")

expect 200 PUT "/v1/groups/$group/settings/max_kasms_per_user" '{"value":3}'

expect 201 POST /v1/users "{\"username\":\"smoke-$run\"}"
user=$(field "d['user_id']")

expect 204 PUT "/v1/groups/$group/members/$user"

expect 200 GET "/v1/users/$user/effective-settings"
got=$(field "[d['settings']['max_kasms_per_user']['value'], d['settings']['max_kasms_per_user']['source'].get('group', {}).get('group_id')]")
[[ $got == "[3, \"$group\"]" ]] || fail "effective max_kasms_per_user: got $got, want [3, \"$group\"]"
echo "smoke: ok  effective max_kasms_per_user = 3 from group $group"

expect 201 POST /v1/sessions "{\"user_id\":\"$user\",\"image_id\":\"smoke-image\",\"container\":true}"
session=$(field "d['session_id']")

expect 200 POST "/v1/sessions/$session/keepalive" '{}'
field "d['expires_at']" >/dev/null || fail "keepalive: no expires_at: $(cat "$body")"

# A 2-second keepalive expiration: the next sweep applies it to the running session, a keepalive
# arms it, and a sweep after it has passed deletes the session.
expect 200 PUT "/v1/groups/$group/settings/keepalive_interval" '{"value":1}'
expect 200 PUT "/v1/groups/$group/settings/keepalive_expiration" '{"value":2}'
expect 200 POST /v1/sweeps '{}'
expect 200 POST "/v1/sessions/$session/keepalive" '{}'

status=
for _ in $(seq 1 15); do
	sleep 3
	expect 200 POST /v1/sweeps '{}' >/dev/null
	code=$(call GET "/v1/sessions/$session") || fail "GET session: curl failed"
	if [[ $code == 410 || $code == 404 ]]; then
		status=deleted
		break
	fi
	[[ $code == 200 ]] || fail "GET /v1/sessions/$session: got $code: $(cat "$body")"
	status=$(field "d['status']")
	[[ $status == deleted ]] && break
done
[[ $status == deleted ]] || fail "session $session: status $status after the sweeps, want deleted"
echo "smoke: ok  session $session expired (keepalive_expiration 2 s) and was deleted by a sweep"

expect 410 POST "/v1/sessions/$session/keepalive" '{}'
echo "smoke: PASS"
