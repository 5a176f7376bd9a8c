# wspolicy: serverless control plane for remote-workspace session policies.
# The two first commands: `make run` (the service on 127.0.0.1:8080) and `make test`.

SHELL := /bin/bash
GO ?= go
LOCAL := $(CURDIR)/.local
DDB_DIR := $(LOCAL)/dynamodb
DDB_VERSION := 2.9.30
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: all run test test-go check-go tidy-check staticcheck dynamodb-local tools vet fmt clean

all: test

## run: DynamoDB Local + tables + API on 127.0.0.1:$(PORT) (default 8080) + sweeps every $(SWEEP_INTERVAL)
run: dynamodb-local
	@mkdir -p build
	$(GO) build -o build/local ./cmd/local
	@scripts/with-dynamodb.sh build/local

## test: every test, including those against DynamoDB Local (started and stopped here), then
## the review checks of the template and the OpenAPI document (make/lint.mk)
test: tools check-go
	@scripts/with-dynamodb.sh $(MAKE) --no-print-directory test-go test-e2e
	@$(MAKE) --no-print-directory lint-template-only lint-openapi

# The infra tests write the template they synthesized for cfn-lint (lint-template-only).
test-go:
	$(GO) vet ./...
	WSPOLICY_TEMPLATE_OUT=$(CURDIR)/build/infra/template.json $(GO) test -count=1 -timeout 20m ./...

## check-go: the static checks: go.mod tidy, staticcheck (zero findings). (The generated code's
## freshness is a Go test: internal/settings TestGeneratedAccessorsCurrent.)
check-go: tidy-check staticcheck

## tidy-check: `go mod tidy` would change nothing in go.mod/go.sum
tidy-check:
	$(GO) mod tidy -diff

## staticcheck: honnef.co/go/tools, pinned as a tool in go.mod (`go tool` builds it on first use)
staticcheck:
	$(GO) tool staticcheck ./...

## dynamodb-local: AWS's DynamoDB Local, from the npm package that bundles it, into .local/
dynamodb-local: $(DDB_DIR)/DynamoDBLocal.jar

$(DDB_DIR)/DynamoDBLocal.jar:
	@mkdir -p $(LOCAL)/tmp $(DDB_DIR)
	cd $(LOCAL)/tmp && npm pack --silent amplify-dynamodb-simulator@$(DDB_VERSION) >/dev/null
	tar -xzf $(LOCAL)/tmp/amplify-dynamodb-simulator-$(DDB_VERSION).tgz -C $(LOCAL)/tmp package/emulator
	cp -r $(LOCAL)/tmp/package/emulator/. $(DDB_DIR)/
	rm -rf $(LOCAL)/tmp
	@test -f $@

## tools: everything the tests need that is not Go (DynamoDB Local, npm tools, linters)
tools: dynamodb-local node-tools e2e-tools lint-tools

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf build

-include make/*.mk
