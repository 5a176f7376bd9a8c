# The web console's browser tests (e2e/): node:test + playwright-core driving Debian's Chromium.
# Included by the top-level Makefile; paths are relative to the repository root.
#
#   make e2e-tools   Debian's chromium (when missing) and the pinned npm packages of e2e/
#   make test-e2e    build cmd/local, start it with DynamoDB Local, run the browser tests;
#                    screenshots go to build/screenshots/ (make screenshots: docs/screenshots/)

E2E_DIR := e2e
CHROMIUM ?= /usr/bin/chromium
E2E_STAMP := $(E2E_DIR)/node_modules/.e2e-installed
# apt-get needs root; CI runs as root, a developer's machine may have sudo.
E2E_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: e2e-tools e2e-chromium test-e2e screenshots

e2e-tools: e2e-chromium $(E2E_STAMP)

e2e-chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "installing Debian's chromium"; \
		$(E2E_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(E2E_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-liberation; \
	fi
	@test -x "$(CHROMIUM)" || { echo "no Chromium at $(CHROMIUM)" >&2; exit 1; }

# playwright-core never downloads a browser; the tests hand it $(CHROMIUM).
$(E2E_STAMP): $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	npm ci --prefix $(E2E_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

## test-e2e: the console in headless Chromium against the real server (cmd/local)
test-e2e: e2e-tools dynamodb-local
	cd $(E2E_DIR) && CHROMIUM_PATH=$(CHROMIUM) node --test --test-concurrency=1 --test-timeout=600000 tests/

## screenshots: run the browser tests writing their screenshots to docs/screenshots (the README's)
screenshots:
	@SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(MAKE) --no-print-directory test-e2e
