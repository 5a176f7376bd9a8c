# Lambda runtime interface emulator: the runtime-emulator tests (internal/lambdarie) run each
# function's bootstrap under aws-lambda-rie, installed here with go install into
# $(go env GOPATH)/bin (or $GOBIN). Included by the top-level Makefile.
#
#   make rie    install the pinned aws-lambda-rie (a no-op when that version is there)

RIE_MODULE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
# Keep in step with lambdarie.Version.
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE_BIN := $(or $(shell go env GOBIN),$(firstword $(subst :, ,$(shell go env GOPATH)))/bin)/aws-lambda-rie

.PHONY: rie

# Installs when missing or of another version (go version -m reads the module version).
rie:
	@go version -m $(RIE_BIN) 2>/dev/null | grep -q '$(RIE_VERSION)' || go install $(RIE_MODULE)@$(RIE_VERSION)

# make test needs it.
tools: rie
