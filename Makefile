# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
DATA_PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE :=

.PHONY: run test lint typecheck test-sqlite test-postgres migrate data clean

$(BIN)/activate: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(BIN)/activate

venv: $(BIN)/activate

## Create .venv, migrate the embedded SQLite database, serve on http://127.0.0.1:8000 (/docs).
run: $(BIN)/activate
	$(BIN)/alembic upgrade head
	$(BIN)/uvicorn app.main:app --host 127.0.0.1 --port 8000

## Apply migrations to $$REFDATA_DATABASE_URL (default: ./refdata.db).
migrate: $(BIN)/activate
	$(BIN)/alembic upgrade head

## Lint, types, and the whole suite on SQLite and on a throwaway PostgreSQL server.
test: lint typecheck test-sqlite test-postgres

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/activate
	$(BIN)/mypy

test-sqlite: $(BIN)/activate
	$(BIN)/pytest --db=sqlite

test-postgres: $(BIN)/activate
	$(BIN)/pytest --db=postgresql

## Regenerate alembic/data/*.csv from pycountry and vietnam-provinces (needs Python 3.12+).
## (with pyenv: PYENV_VERSION=3.12.1 make data)
data:
	$(DATA_PYTHON) -m venv /tmp/refdata-data
	/tmp/refdata-data/bin/pip install --quiet pycountry==26.2.16 vietnam-provinces==2026.9.0
	/tmp/refdata-data/bin/python scripts/generate_data.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache refdata.db
