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

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export ECOMMERCE_DUCKDB_PATH ?= $(CURDIR)/data/ecommerce.duckdb
export ECOMMERCE_LANDING_DIR ?= $(CURDIR)/data/landing

DAGSTER := $(BIN)/dagster
CLI := $(BIN)/ecommerce-assets
DEFS := -m ecommerce_assets.definitions
SNAPSHOTS := raw/products,raw/users
PARTITIONED := raw/carts,raw/events

.PHONY: help install run test dev bench clean

help:
	@echo "make run    set up and run the main job on the embedded default (synthetic shop, DuckDB file)"
	@echo "make test   set up and pass the tests"
	@echo "make dev    the Dagster UI with its daemons on http://127.0.0.1:$(DEV_PORT)"
	@echo "make bench  the ingest benchmark (benchmarks/)"

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

run: install $(DAGSTER_HOME)/dagster.yaml
	$(CLI) generate --days $(DAYS) --events-per-day $(EVENTS_PER_DAY)
	$(DAGSTER) asset materialize $(DEFS) --select '$(SNAPSHOTS)'
	$(DAGSTER) asset materialize $(DEFS) --select '$(PARTITIONED)' \
		--partition-range "$$($(CLI) partition-range --days $(DAYS))"
	$(CLI) summary

test: install
	$(BIN)/pytest

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(DAGSTER) dev -w workspace.yaml -h 127.0.0.1 -p $(DEV_PORT)

bench: install
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf data .dagster_home
