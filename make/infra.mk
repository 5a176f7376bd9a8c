# Infrastructure: Lambda packaging, the CDK app (infra/), LocalStack.
# Included by the top-level Makefile; every path is relative to the repository root.
#
#   make lambdas            build/lambda/<name>/bootstrap for each function (linux/arm64)
#   make node-tools         npm tools into .local/node: CDK CLI, cdklocal, asl-validator,
#                           aws-local-stepfunctions
#   make synth              CloudFormation template into cdk.out/
#   make deploy             deploy to the AWS account/region of your credentials
#   make destroy            delete the stack (the table is kept unless deployed otherwise)
#   make localstack-up      start LocalStack (Docker; needs LOCALSTACK_AUTH_TOKEN)
#   make localstack-deploy  deploy the stack to LocalStack with cdklocal
#   make localstack-smoke   walk the API deployed on LocalStack end to end
#   make localstack-down    stop LocalStack and drop its state

LAMBDAS := api sweeper publisher timelimit

# Stack name: one stack per name, so several copies can live in one account.
STACK_NAME ?= WsPolicy
# Lambda binaries: AWS runs them on arm64 (Graviton).
LAMBDA_GOARCH ?= arm64
LAMBDA_DIR ?= build/lambda
# LocalStack runs the functions in containers of the host's architecture.
LOCALSTACK_GOARCH ?= $(shell go env GOARCH)
LOCALSTACK_LAMBDA_DIR ?= build/lambda-localstack
LOCALSTACK_OUTPUTS ?= build/localstack/outputs.json

# npm tools, pinned, in a git-ignored folder.
INFRA_NODE_DIR := .local/node
INFRA_NODE_BIN := $(INFRA_NODE_DIR)/node_modules/.bin
INFRA_NODE_PKGS := aws-cdk@2.1148.1 aws-cdk-local@3.0.4 asl-validator@4.0.0
# aws-local-stepfunctions runs the countdown definition in internal/countdown's tests. It declares
# Node >= 22 but runs on Node 20 with the polyfill the test preloads (npm only warns).
INFRA_NODE_PKGS += aws-local-stepfunctions@3.0.0
INFRA_NODE_STAMP := $(INFRA_NODE_DIR)/.installed-$(subst @,-,$(subst $() ,_,$(INFRA_NODE_PKGS)))
CDK := $(INFRA_NODE_BIN)/cdk

# The CDK app runs on Node through jsii: quiet its Node-version banners, and keep the CLI off
# the network for telemetry and notices.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 18,20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION ?= 1
export CDK_DISABLE_CLI_TELEMETRY ?= true

infra_arch = $(if $(filter amd64,$(1)),x86_64,$(1))
INFRA_CONTEXT = -c stackName=$(STACK_NAME) -c assetDir=$(LAMBDA_DIR) -c architecture=$(call infra_arch,$(LAMBDA_GOARCH))

.PHONY: lambdas node-tools cdk-cli synth deploy destroy \
	localstack-up localstack-deploy localstack-smoke localstack-down

lambdas: $(LAMBDAS:%=$(LAMBDA_DIR)/%/bootstrap)

# $(call build_lambda,GOARCH): build the function named by the target's stem.
build_lambda = GOOS=linux GOARCH=$(1) CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags="-s -w" -o $@ ./functions/$*

# Always handed to go build, whose cache makes an unchanged function cheap.
$(LAMBDA_DIR)/%/bootstrap: FORCE
	$(call build_lambda,$(LAMBDA_GOARCH))

$(LOCALSTACK_LAMBDA_DIR)/%/bootstrap: FORCE
	$(call build_lambda,$(LOCALSTACK_GOARCH))

.PHONY: FORCE
FORCE:

node-tools: $(INFRA_NODE_STAMP)
cdk-cli: $(INFRA_NODE_STAMP)

$(INFRA_NODE_STAMP):
	mkdir -p $(INFRA_NODE_DIR)
	npm install --prefix $(INFRA_NODE_DIR) --no-fund --no-audit --save-exact $(INFRA_NODE_PKGS)
	rm -f $(INFRA_NODE_DIR)/.installed-*
	touch $@

synth: lambdas cdk-cli
	$(CDK) synth $(STACK_NAME) $(INFRA_CONTEXT) $(INFRA_FLAGS) --quiet
	@echo "template: cdk.out/$(STACK_NAME).template.json"

# The first deploy to an account/region bootstraps CDK there (a no-op afterwards). The bootstrap
# admin key is generated into Secrets Manager (output AdminKeySecretArn); INFRA_FLAGS adds CDK
# context, e.g. INFRA_FLAGS='-c throttleRate=20 -c throttleBurst=40 -c apiConcurrency=10'.
deploy: lambdas cdk-cli
	$(CDK) bootstrap $(INFRA_CONTEXT)
	$(CDK) deploy $(STACK_NAME) $(INFRA_CONTEXT) $(INFRA_FLAGS) --require-approval never \
		--outputs-file build/outputs.json

destroy: lambdas cdk-cli
	$(CDK) destroy $(STACK_NAME) $(INFRA_CONTEXT) --force

localstack-up:
	docker compose -f localstack/compose.yaml up -d --wait

localstack-deploy: $(LAMBDAS:%=$(LOCALSTACK_LAMBDA_DIR)/%/bootstrap) cdk-cli
	STACK_NAME=$(STACK_NAME) ASSET_DIR=$(LOCALSTACK_LAMBDA_DIR) \
		LAMBDA_ARCH=$(call infra_arch,$(LOCALSTACK_GOARCH)) OUTPUTS_FILE=$(LOCALSTACK_OUTPUTS) \
		bash localstack/deploy.sh

localstack-smoke:
	STACK_NAME=$(STACK_NAME) OUTPUTS_FILE=$(LOCALSTACK_OUTPUTS) bash localstack/smoke.sh

localstack-down:
	docker compose -f localstack/compose.yaml down -v
