# Parley: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run setup test lint format bench bench-compare serve-uvicorn clean messages close-codes

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py compilemessages --ignore=.venv >/dev/null 2>&1 || true
	$(BIN)/python manage.py demo_users

## run: set up, print the demo users, serve http://127.0.0.1:8000 (SQLite, in-memory channel layer).
run: setup
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## test: the whole suite (Redis, coturn and Chromium tests skip where absent unless REQUIRE_* is set).
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: the signaling benchmark (own Redis, PostgreSQL db parley_bench); see docs/performance.md.
bench: $(VENV)/.installed
	$(BIN)/python bench/signaling.py $(BENCH_ARGS)

## bench-compare: the seed's Node server (../shared/anchors/seed-node, npm ci in a temporary folder;
## skipped where node is missing), Parley x1 and x2 side by side, same client and workload.
bench-compare: $(VENV)/.installed
	$(BIN)/python bench/signaling.py --compare-seed $(BENCH_ARGS)

## serve-uvicorn: the production server as the Dockerfile runs it (config.serve: uvicorn, uvloop,
## httptools, sans-I/O WebSockets); needs the production env (docs/deploy.md). UVICORN_ARGS adds options.
WORKERS ?= 1
UVICORN_ARGS ?=
serve-uvicorn: $(VENV)/.installed
	$(BIN)/python -m config.serve --host $(HOST) --port $(PORT) --workers $(WORKERS) $(UVICORN_ARGS)

## close-codes: render static/js/close-codes.js from the table in calls/protocol/close_codes.py.
close-codes:
	$(BIN)/python -c "from calls.protocol.close_codes import close_codes_js; print(close_codes_js(), end='')" \
		> static/js/close-codes.js

messages:
	$(BIN)/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=staticfiles
	$(BIN)/python manage.py makemessages -d djangojs -l zh_Hans --ignore=.venv --ignore=staticfiles

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 .pytest_cache
