# The two commands a new user needs: `make run` and `make test`. Everything else after.

# The Python of the Lambda runtime (serverless.yml's `python` parameter). .venv is made with
# it when this machine has one, so the suite runs on what Lambda runs; otherwise with
# python3 (3.11 or later), which is enough for `make run` (under CI=true the suite fails).
LAMBDA_PYTHON := $(shell sed -n 's/^ *python: "\([0-9.]*\)".*/\1/p' serverless.yml)
PYTHON ?= $(shell deploy/find-python $(LAMBDA_PYTHON) 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt when the interpreter changes, not only when the dependencies do.
VENV_PYTHON := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SERVING := $(VENV)/.serving-$(VENV_PYTHON)
INSTALLED := $(VENV)/.installed-$(VENV_PYTHON)

.PHONY: print-python test-oldest-python run test lint typecheck test-sqlite test-postgres package lambda offline migrate data docs-screenshot docker bench reliability clean

# What serving needs (`make run`): the runtime dependencies and uvicorn, nothing else.
$(SERVING): pyproject.toml constraints.txt
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e . uvicorn
	touch $@

# On top, for every other target: the test, lint, packaging and benchmark toolchain.
$(INSTALLED): $(SERVING)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

## Create .venv, migrate the embedded SQLite database, serve on http://127.0.0.1:8000 (/docs).
## The orders routes take ORDERS_KEY as a bearer token (make run, lambda and offline; set your
## own with make run ORDERS_KEY=...).
ORDERS_KEY ?= local-orders-key-for-make-run
run: $(SERVING)
	$(BIN)/alembic upgrade head
	REFDATA_ORDERS_API_KEY='$(ORDERS_KEY)' $(BIN)/python -m app --host 127.0.0.1 --port 8000

## Lint, types, the whole suite on SQLite and on a throwaway PostgreSQL, and the Lambda package gate.
test: lint typecheck package test-sqlite test-postgres test-oldest-python

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

test-sqlite: $(INSTALLED)
	$(BIN)/pytest --db=sqlite

test-postgres: $(INSTALLED)
	$(BIN)/pytest --db=postgresql

## `make run` on the oldest Python it supports (3.11): the service installed into a venv of
## its own, migrated and served under uvicorn, /health and /countries/VN checked.
OLDEST_PYTHON ?= $(shell deploy/find-python 3.11 2>/dev/null)
test-oldest-python:
	@if [ -z "$(OLDEST_PYTHON)" ]; then \
		echo "no Python 3.11 here: make run on 3.11 not checked"; [ "$$CI" != true ]; exit; fi
	$(OLDEST_PYTHON) -m venv --clear .venv-3.11
	.venv-3.11/bin/python -m pip install --quiet --upgrade pip
	.venv-3.11/bin/python -m pip install --quiet -c constraints.txt . uvicorn
	.venv-3.11/bin/python scripts/serve_check.py

## Build the Lambda zip(s) with `serverless package` and check them (scripts/package_lambda.py).
package: $(INSTALLED) node_modules/.package-lock.json
	$(BIN)/python -m scripts.package_lambda

## The handler under AWS's runtime client on an emulated Runtime API; HTTP on 127.0.0.1:3000.
lambda: $(INSTALLED)
	$(BIN)/alembic upgrade head
	REFDATA_ORDERS_API_KEY='$(ORDERS_KEY)' $(BIN)/python -m harness.lambda_runtime --port 9001 --http-port 3000

## serverless-offline on http://127.0.0.1:3000, running the handler with .venv's Python.
offline: $(INSTALLED) node_modules/.package-lock.json
	$(BIN)/alembic upgrade head
	PATH="$(CURDIR)/$(BIN):$$PATH" npx serverless offline --stage local \
		--param="databaseUrl=sqlite:///$(CURDIR)/refdata.db" --param="ordersApiKey=$(ORDERS_KEY)"

## Both Docker images and the compose stack, built and run with podman on stand-in base
## images (tests/test_containers.py, also part of `make test`); writes docs/images.md.
docker: $(INSTALLED)
	$(BIN)/pytest --db=postgresql tests/test_containers.py
	$(BIN)/python -m scripts.images docs/images.md

## Regenerate docs/docs-screenshot.png (the README's picture of /docs) in headless Chromium.
docs-screenshot: $(INSTALLED)
	$(BIN)/python -m harness.browser --screenshot docs/docs-screenshot.png

## Refdata against the uncached designs, warm and cold (about 12 min); writes docs/benchmarks.md/.png.
bench: $(INSTALLED)
	$(BIN)/python -m bench

## The long fault, load, fuzz and bad-event runs, and issue 21's hostile inputs sent again
## (about 15 min); writes docs/reliability.md.
reliability: $(INSTALLED)
	rm -rf .reliability
	-$(BIN)/python -m reliability.faults --restarts 20 --timeouts 10 --concurrent 8 --outages 5 --json .reliability/faults.json
	-$(BIN)/python -m reliability.load --db postgresql --orders 5000 --clients 32 --read-seconds 30 --json .reliability/load-postgresql.json
	-$(BIN)/python -m reliability.load --db sqlite --orders 2000 --clients 32 --read-seconds 30 --json .reliability/load-sqlite.json
	-$(BIN)/python -m reliability.bad_events --events 20000 --json .reliability/bad-events.json
	-$(BIN)/python -m reliability.fuzz --examples 1000 --json .reliability/fuzz.json
	-$(BIN)/python -m reliability.hostile --db postgresql --clients 200 --rounds 5 --memory-batches 70 --invokes 20 --json .reliability/hostile.json
	$(BIN)/python -m reliability.report .reliability docs/reliability.md

## Apply migrations to $$REFDATA_DATABASE_URL (default: ./refdata.db).
migrate: $(INSTALLED)
	$(BIN)/alembic upgrade head

## Runtime pins for the Lambda package and images, from constraints.txt.
requirements.txt: pyproject.toml constraints.txt
	$(BIN)/python -m pip install --dry-run --ignore-installed --quiet --report - \
		-c constraints.txt . | $(BIN)/python scripts/pins.py > $@

## Regenerate alembic/data/*.csv from pycountry and vietnam-provinces, with the Lambda
## runtime's Python (vietnam-provinces 2026 needs 3.12 or later).
DATA_PYTHON ?= $(shell deploy/find-python $(LAMBDA_PYTHON))
data:
	$(DATA_PYTHON) -m venv --clear /tmp/refdata-data
	/tmp/refdata-data/bin/pip install --quiet pycountry==26.2.16 vietnam-provinces==2026.9.0
	/tmp/refdata-data/bin/python -m scripts.generate_data

## The Lambda runtime's Python version, and the version .venv is made with.
print-python:
	@echo $(LAMBDA_PYTHON) $(VENV_PYTHON)

clean:
	rm -rf $(VENV) .venv-3.11 build node_modules .mypy_cache .ruff_cache .pytest_cache .serverless .serverless-ci .reliability refdata.db
