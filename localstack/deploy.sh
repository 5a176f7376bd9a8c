#!/usr/bin/env bash
# Deploys the control-plane stack to a running LocalStack with cdklocal.
#
# Usually run as `make localstack-deploy`, which first builds the functions for the host's
# architecture into build/lambda-localstack. Environment:
#   STACK_NAME     stack name (default WsPolicy)
#   ASSET_DIR      folder of <function>/bootstrap (default build/lambda-localstack)
#   LAMBDA_ARCH    x86_64 or arm64: the architecture the bootstrap files were built for
#                  (default: the host's)
#   OUTPUTS_FILE   where the stack outputs are written (default build/localstack/outputs.json)
#   AWS_ENDPOINT_URL  LocalStack's address (default: unset, cdklocal's localhost.localstack.cloud:4566).
#                  When it is set, cdklocal 3.0.4 refuses to run without AWS_ENDPOINT_URL_S3
#                  too; this script then sets AWS_ENDPOINT_URL_S3 to the same address with
#                  path-style S3 (AWS_S3_FORCE_PATH_STYLE=1) unless you set it yourself.
#
# The bootstrap admin key is generated into Secrets Manager by the deployment (output
# AdminKeySecretArn); smoke.sh reads it from there.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

host_arch() {
	case "$(uname -m)" in
	aarch64 | arm64) echo arm64 ;;
	*) echo x86_64 ;;
	esac
}

STACK_NAME=${STACK_NAME:-WsPolicy}
ASSET_DIR=${ASSET_DIR:-build/lambda-localstack}
LAMBDA_ARCH=${LAMBDA_ARCH:-$(host_arch)}
OUTPUTS_FILE=${OUTPUTS_FILE:-build/localstack/outputs.json}
CDKLOCAL=${CDKLOCAL:-.local/node/node_modules/.bin/cdklocal}
endpoint=${AWS_ENDPOINT_URL:-http://localhost:4566}
if [[ -n ${AWS_ENDPOINT_URL:-} && -z ${AWS_ENDPOINT_URL_S3:-} ]]; then
	export AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL
	export AWS_S3_FORCE_PATH_STYLE=${AWS_S3_FORCE_PATH_STYLE:-1}
fi

# LocalStack accepts any credentials; its default account and region.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_DEFAULT_REGION=$AWS_REGION
export AWS_ENVAR_ALLOWLIST=AWS_REGION,AWS_DEFAULT_REGION
export CDK_DISABLE_CLI_TELEMETRY=true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-18,20}
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=${JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION:-1}

if [[ ! -x $CDKLOCAL ]]; then
	echo "deploy.sh: $CDKLOCAL not found: run \`make node-tools\` first" >&2
	exit 1
fi
if ! curl -fsS "$endpoint/_localstack/health" >/dev/null; then
	echo "deploy.sh: LocalStack does not answer at $endpoint: run \`make localstack-up\` first" >&2
	exit 1
fi

# The table goes with the stack on LocalStack: nothing there is worth keeping.
context=(
	-c "stackName=$STACK_NAME"
	-c "assetDir=$ASSET_DIR"
	-c "architecture=$LAMBDA_ARCH"
	-c tableRemovalPolicy=destroy
	-c deletionProtection=false
	-c reservedConcurrency=false
)

mkdir -p "$(dirname "$OUTPUTS_FILE")"
"$CDKLOCAL" bootstrap "aws://000000000000/$AWS_REGION" "${context[@]}"
"$CDKLOCAL" deploy "$STACK_NAME" "${context[@]}" \
	--require-approval never \
	--outputs-file "$OUTPUTS_FILE"
echo "deploy.sh: outputs in $OUTPUTS_FILE; next: make localstack-smoke"
