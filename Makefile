# Parley: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run setup test lint format bench serve-uvicorn clean messages

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

## serve-uvicorn: production server (uvloop, httptools); needs the production env (docs/performance.md).
WORKERS ?= 1
WS ?= websockets-sansio
serve-uvicorn: $(VENV)/.installed
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --workers $(WORKERS) \
		--loop uvloop --http httptools --ws $(WS) --ws-max-size 131072 --lifespan off --no-access-log

messages:
	$(BIN)/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=staticfiles
	$(BIN)/python manage.py makemessages -d djangojs -l zh_Hans --ignore=.venv --ignore=staticfiles

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 .pytest_cache
