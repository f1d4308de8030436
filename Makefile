# Two commands: `make run` (install, migrate, serve on SQLite) and `make test` (install, test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_FIXTURE := tests/oidc_provider
FORGE := forge
HOST ?= 127.0.0.1
PORT ?= 8000
# `make run` is for a developer's machine; production runs the container (see README).
export APP_ENV ?= development

.PHONY: install run migrate test lint format descriptor system-deps clean forge-build forge-validate lock audit i18n demo

UV_VERSION := 0.13.9
# Everything from uv.lock, exactly the versions the suite ran with (the app itself editable).
$(STAMP): pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --quiet --frozen --inexact --extra dev --extra postgres
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python -m app.cli.migrate

run: migrate
	$(BIN)/uvicorn app.main:production_app --factory --host $(HOST) --port $(PORT) --proxy-headers --no-access-log

# The whole product on this machine, no Jira site needed: the service (DEMO=true, its own
# SQLite file), a sandbox Jira and a local OpenID Provider; prints the links. Ctrl-C stops it.
demo: install $(NODE_FIXTURE)/node_modules/.stamp
	PORT=$(PORT) $(BIN)/python -m demo

# What the end-to-end tests need besides Python: Node (the oidc-provider OpenID Provider)
# and Debian's Chromium (driven by Playwright; it cannot download its own browser here).
system-deps:
	scripts/install-system-deps

$(NODE_FIXTURE)/node_modules/.stamp: $(NODE_FIXTURE)/package.json $(NODE_FIXTURE)/package-lock.json
	cd $(NODE_FIXTURE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Forge app's tools: Atlassian's manifest validator and @forge/bridge, bundled into the
# admin UI's Forge host adapter (static/admin/host.js) by esbuild.
$(FORGE)/node_modules/.stamp: $(FORGE)/package.json $(FORGE)/package-lock.json
	cd $(FORGE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(FORGE)/static/admin/host.js: $(FORGE)/src/host-forge.js $(FORGE)/node_modules/.stamp
	cd $(FORGE) && npm run --silent build

forge-build: $(FORGE)/static/admin/host.js

# Atlassian's validator, offline (`forge lint` needs a login).
forge-validate: $(FORGE)/node_modules/.stamp
	cd $(FORGE) && npm run --silent validate

test: install system-deps $(NODE_FIXTURE)/node_modules/.stamp $(FORGE)/static/admin/host.js
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve uv.lock within pyproject.toml's ranges (newest allowed versions); then make test.
lock: install
	$(BIN)/uv lock --upgrade

# Known vulnerabilities in the locked versions (needs the advisory services, not reachable from
# every machine; see README).
audit: install
	$(BIN)/uv export --frozen --extra postgres --no-emit-project --format requirements-txt > $(VENV)/audit-requirements.txt
	$(BIN)/uv tool run pip-audit --disable-pip -r $(VENV)/audit-requirements.txt

# The customer portal's text: extract it from the templates and code (N_), and bring each
# language's catalog up to date; translate the new entries in app/locale/<lang>/LC_MESSAGES.
# The tests fail while an entry has no translation (tests/test_i18n.py).
i18n: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --omit-header -o app/locale/messages.pot .
	$(BIN)/pybabel update -i app/locale/messages.pot -d app/locale --no-fuzzy-matching --width 100

descriptor: install
	$(BIN)/python -m app.connect.descriptor > atlassian-connect.json

clean:
	rm -rf $(VENV) $(NODE_FIXTURE)/node_modules $(FORGE)/node_modules $(FORGE)/static/admin/host.js test-artifacts
