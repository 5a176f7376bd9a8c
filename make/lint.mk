# Review checks of the deployment and the API description (issue 17). Included by the top-level
# Makefile; `make test` runs them after the Go tests.
#
#   make lint             all of them: the template's (cdk-nag + cfn-lint) and the OpenAPI's
#   make lint-template    synthesize the stack with cdk-nag's AwsSolutions and Serverless packs
#                         (the infra tests: zero unsuppressed findings) and cfn-lint the template
#   make lint-openapi     Redocly's recommended rules and Spectral's spectral:oas on
#                         internal/httpapi/openapi.json (redocly.yaml, .spectral.yaml)
#
# The npm linters are pinned and installed into .local/node-lint; cfn-lint is the one on PATH,
# else a pinned one installed with pip into .local/cfn-lint.

LINT_NODE_DIR := .local/node-lint
LINT_NODE_BIN := $(LINT_NODE_DIR)/node_modules/.bin
LINT_NODE_PKGS := @redocly/cli@2.77.0 @stoplight/spectral-cli@6.16.3
LINT_NODE_STAMP := $(LINT_NODE_DIR)/.installed-$(subst /,-,$(subst @,-,$(subst $() ,_,$(LINT_NODE_PKGS))))
CFN_LINT_VERSION := 1.51.0
CFN_LINT_VENV := .local/cfn-lint
CFN_LINT ?= $(or $(shell command -v cfn-lint 2>/dev/null),$(CFN_LINT_VENV)/bin/cfn-lint)
OPENAPI_DOC := internal/httpapi/openapi.json
# The infra tests write the template they synthesized (and checked with cdk-nag) here.
INFRA_TEMPLATE := build/infra/template.json

# The Node-version banners of the linters (Node 20 still runs them).
export REDOCLY_SUPPRESS_UPDATE_NOTICE ?= true
export REDOCLY_TELEMETRY ?= off

.PHONY: lint lint-tools lint-template lint-template-only lint-openapi cfn-lint-tool

lint: lint-template lint-openapi

lint-tools: $(LINT_NODE_STAMP) cfn-lint-tool

$(LINT_NODE_STAMP):
	mkdir -p $(LINT_NODE_DIR)
	npm install --prefix $(LINT_NODE_DIR) --no-fund --no-audit --save-exact --loglevel=error $(LINT_NODE_PKGS)
	rm -f $(LINT_NODE_DIR)/.installed-*
	touch $@

# cfn-lint comes preinstalled on CI machines; elsewhere a pinned one goes into a virtualenv.
cfn-lint-tool:
	@if [ ! -x "$(CFN_LINT)" ]; then \
		echo "installing cfn-lint $(CFN_LINT_VERSION) into $(CFN_LINT_VENV)"; \
		python3 -m venv $(CFN_LINT_VENV) && $(CFN_LINT_VENV)/bin/pip install --quiet cfn-lint==$(CFN_LINT_VERSION); \
	fi

## lint-template: cdk-nag (in the infra tests) and cfn-lint on the template they synthesized
lint-template: lint-tools
	WSPOLICY_TEMPLATE_OUT=$(CURDIR)/$(INFRA_TEMPLATE) $(GO) test -count=1 -run 'TestCdkNag' ./infra/
	@$(MAKE) --no-print-directory lint-template-only

# cfn-lint on the template the last infra test run wrote: errors fail, warnings are shown.
lint-template-only: cfn-lint-tool
	@test -f $(INFRA_TEMPLATE) || { echo "no $(INFRA_TEMPLATE): run make lint-template" >&2; exit 1; }
	$(CFN_LINT) --non-zero-exit-code error $(INFRA_TEMPLATE)
	@echo "cfn-lint: no errors in $(INFRA_TEMPLATE)"

## lint-openapi: Redocly (recommended) and Spectral (spectral:oas) on the OpenAPI document
lint-openapi: $(LINT_NODE_STAMP)
	$(LINT_NODE_BIN)/redocly lint --format=summary $(OPENAPI_DOC)
	$(LINT_NODE_BIN)/spectral lint --fail-severity=warn $(OPENAPI_DOC)
