# The two commands a new user needs: `make run` and `make test`. Everything else after.
PYTHON ?= python3
DATA_PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck test-sqlite test-postgres package lambda offline migrate data docs-screenshot bench reliability clean

$(BIN)/activate: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(BIN)/activate

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

## Create .venv, migrate the embedded SQLite database, serve on http://127.0.0.1:8000 (/docs).
run: $(BIN)/activate
	$(BIN)/alembic upgrade head
	$(BIN)/uvicorn app.main:app --host 127.0.0.1 --port 8000

## Lint, types, the whole suite on SQLite and on a throwaway PostgreSQL, and the Lambda package gate.
test: lint typecheck package test-sqlite test-postgres

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/activate
	$(BIN)/mypy

test-sqlite: $(BIN)/activate
	$(BIN)/pytest --db=sqlite

test-postgres: $(BIN)/activate
	$(BIN)/pytest --db=postgresql

## Build the Lambda zip(s) with `serverless package` and check them (scripts/package_lambda.py).
package: $(BIN)/activate node_modules/.package-lock.json
	$(BIN)/python -m scripts.package_lambda

## The handler under AWS's runtime client on an emulated Runtime API; HTTP on 127.0.0.1:3000.
lambda: $(BIN)/activate
	$(BIN)/alembic upgrade head
	$(BIN)/python -m tests.lambda_runtime --port 9001 --http-port 3000

## serverless-offline on http://127.0.0.1:3000, running the handler with .venv's Python.
offline: $(BIN)/activate node_modules/.package-lock.json
	$(BIN)/alembic upgrade head
	PATH="$(CURDIR)/$(BIN):$$PATH" SLS_TELEMETRY_DISABLED=1 npx serverless offline --stage local \
		--param="runtime=python3.11" --param="databaseUrl=sqlite:///$(CURDIR)/refdata.db"

## Regenerate docs/docs-screenshot.png (the README's picture of /docs) in headless Chromium.
docs-screenshot: $(BIN)/activate
	$(BIN)/python -m tests.browser --screenshot docs/docs-screenshot.png

## Refdata against the uncached designs, warm and cold (about 5 min); writes docs/benchmarks.md/.png.
bench: $(BIN)/activate
	$(BIN)/python -m bench

## The long fault, load, fuzz and bad-event runs (about 10 min); writes docs/reliability.md.
reliability: $(BIN)/activate
	rm -rf .reliability
	-$(BIN)/python -m reliability.faults --restarts 20 --timeouts 10 --concurrent 8 --outages 5 --json .reliability/faults.json
	-$(BIN)/python -m reliability.load --db postgresql --orders 5000 --clients 32 --read-seconds 30 --json .reliability/load-postgresql.json
	-$(BIN)/python -m reliability.load --db sqlite --orders 2000 --clients 32 --read-seconds 30 --json .reliability/load-sqlite.json
	-$(BIN)/python -m reliability.bad_events --events 20000 --json .reliability/bad-events.json
	-$(BIN)/python -m reliability.fuzz --examples 1000 --json .reliability/fuzz.json
	$(BIN)/python -m reliability.report .reliability docs/reliability.md

## Apply migrations to $$REFDATA_DATABASE_URL (default: ./refdata.db).
migrate: $(BIN)/activate
	$(BIN)/alembic upgrade head

## Runtime pins for the Lambda package and images, from constraints.txt.
requirements.txt: pyproject.toml constraints.txt
	$(BIN)/python -m pip install --dry-run --ignore-installed --quiet --report - \
		-c constraints.txt . | $(BIN)/python scripts/pins.py > $@

## Regenerate alembic/data/*.csv from pycountry and vietnam-provinces (needs Python 3.12+;
## with pyenv: PYENV_VERSION=3.12.1 make data).
data:
	$(DATA_PYTHON) -m venv /tmp/refdata-data
	/tmp/refdata-data/bin/pip install --quiet pycountry==26.2.16 vietnam-provinces==2026.9.0
	/tmp/refdata-data/bin/python scripts/generate_data.py

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .serverless .serverless-ci .reliability refdata.db
