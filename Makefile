# The two commands: `make run` (the studio) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint format migrate messages benchmark clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_taxonomy

run: migrate
	$(PY) manage.py ensure_admin
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py runstudio

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Refresh the zh-hans catalogue after changing strings, translate, then compile.
messages: $(STAMP)
	$(PY) manage.py makemessages -l zh_Hans --no-obsolete --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*' --ignore 'benchmarks/*'
	$(PY) manage.py compilemessages -l zh_Hans --ignore '.venv/*'

benchmark: $(STAMP)
	$(PY) benchmarks/principles_list.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
