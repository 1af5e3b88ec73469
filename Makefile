# Two commands on a fresh machine with Python 3.11+ and make:
#   make run    set up, generate recent days of the synthetic shop, materialise the graph
#   make test   set up and pass the tests
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DAYS ?= 7
EVENTS_PER_DAY ?= 100000
DEV_PORT ?= 3000

# Tools of the project venv (dbt, dagster) first, also for the programs they start.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export ECOMMERCE_DUCKDB_PATH ?= $(CURDIR)/data/ecommerce.duckdb
export ECOMMERCE_LANDING_DIR ?= $(CURDIR)/data/landing

DAGSTER := $(BIN)/dagster
CLI := $(BIN)/ecommerce-assets
DEFS := -m ecommerce_assets.definitions
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros dbt_project/snapshots dbt_project/tests -type f 2>/dev/null) dbt_project/dbt_project.yml dbt_project/profiles.yml

.PHONY: help install manifest run test dev docs bench clean

help:
	@echo "make run    set up and run the main job on the embedded default (synthetic shop, DuckDB file)"
	@echo "make test   set up and pass the tests"
	@echo "make dev    the Dagster UI with its daemons on http://127.0.0.1:$(DEV_PORT)"
	@echo "make docs   build the dbt docs site (after make run)"
	@echo "make bench  the benchmarks (benchmarks/)"

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

# The dbt manifest is prepared once here, never parsed at import (only `dagster dev` re-prepares).
# dbt's partial parse can lose a snapshot defined in YAML when the project's files change
# under it (seen on a pull: "depends on a node named 'products_snapshot' which was not
# found"); a full parse is the cure, so a failed prepare is retried once without it.
PREPARE := $(BIN)/dagster-dbt project prepare-and-package --file ecommerce_assets/dbt_project.py
$(MANIFEST): $(VENV)/.installed $(DBT_SOURCES)
	$(PREPARE) || { rm -f dbt_project/target/partial_parse.msgpack && $(PREPARE); }
	@touch $@

manifest: $(MANIFEST)

$(DAGSTER_HOME)/dagster.yaml: instance/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp instance/dagster.yaml $@

run: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(CLI) generate --days $(DAYS) --events-per-day $(EVENTS_PER_DAY)
	$(DAGSTER) asset materialize $(DEFS) --select "$$($(CLI) selection snapshots)"
	$(DAGSTER) asset materialize $(DEFS) --select "$$($(CLI) selection daily)" \
		--partition-range "$$($(CLI) partition-range --days $(DAYS))"
	$(DAGSTER) asset materialize $(DEFS) --select "$$($(CLI) selection history)"
	$(CLI) summary
	$(CLI) checks

test: $(MANIFEST)
	$(BIN)/pytest

dev: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(DAGSTER) dev -w workspace.yaml -h 127.0.0.1 -p $(DEV_PORT)

docs: $(MANIFEST)
	cd dbt_project && ../$(BIN)/dbt docs generate --profiles-dir . --quiet
	@echo "dbt docs site: dbt_project/target/index.html (serve it: cd dbt_project && ../$(BIN)/dbt docs serve --profiles-dir . --host 127.0.0.1)"

# Every benchmark scenario (25-50 minutes on 2 cores): benchmarks/results/latest.{json,md}.
# BENCH_ARGS picks a part or a smaller size, e.g. "--only daily" or "--scale 0.02 --repeat 1".
BENCH_ARGS ?=
bench: $(MANIFEST)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
