# learnstreet: local stack and checks. Everything local lives in .local/ (git-ignored).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY    := .venv/bin/python
STACK := $(PY) deploy/local/stack.py
TEST_STARTED := .local/run/test-started

.PHONY: help setup up infra down status provision kafka-up pg-up services-up services-down \
        test lint demo chaos bench

help:
	@echo "make setup      install what is missing (Debian packages, .venv, Kafka jars, credentials)"
	@echo "make up         Kafka + PostgreSQL + topics/ACLs/databases + the four services"
	@echo "make infra      Kafka + PostgreSQL + provisioning only"
	@echo "make status     health of every component"
	@echo "make down       stop what 'make up' started"
	@echo "make test       setup, start what is not running, pytest, stop what it started"
	@echo "make lint       ruff"
	@echo "make demo       the main job: a Pinghu street, its live index and report (KEEP=1 keeps it running)"
	@echo "make chaos      fault test: crashes, broker restart, bad input; nothing lost"
	@echo "make bench      performance figures against their ceilings and a Quix Streams peer"

setup:
	@bash deploy/local/setup.sh

up: setup
	@$(STACK) up

infra: setup
	@$(STACK) up --infra-only

kafka-up: setup
	@$(STACK) kafka-up

pg-up: setup
	@$(STACK) pg-up

provision: setup
	@$(STACK) provision

services-up: setup
	@$(STACK) services-up

services-down:
	@if [[ -x $(PY) ]]; then $(STACK) services-down; fi

status:
	@$(STACK) status

down:
	@if [[ -x $(PY) && -f .local/credentials.env ]]; then $(STACK) down; else echo "nothing to stop"; fi

# Starts only what is not running yet (remembered in $(TEST_STARTED)), runs the whole suite,
# stops what it started, and exits with pytest's status.
test: setup
	@rm -f $(TEST_STARTED); \
	trap '$(STACK) down --recorded $(TEST_STARTED)' EXIT; \
	$(STACK) up --record $(TEST_STARTED); \
	$(PY) -m pytest

lint:
	@.venv/bin/ruff check .

# The main job: a Pinghu street through the real interfaces, then the live index and a report.
# Stops what it started unless KEEP=1 (then explore: make status, the dashboard, .local/mail).
DEMO_STARTED := .local/run/demo-started
demo: setup
	@rm -f $(DEMO_STARTED); \
	if [[ "$${KEEP:-0}" != 1 ]]; then trap '$(STACK) down --recorded $(DEMO_STARTED)' EXIT; fi; \
	$(STACK) up --record $(DEMO_STARTED); \
	$(PY) -m deploy.demo

# Fault test: load with crashes, broker restart, dropped connections; checks nothing is lost.
chaos: setup
	@$(STACK) up
	@$(PY) -m chaos

# Throughput, latency, ceilings, the Quix Streams peer, rebuild, enrolment API, memory.
bench: setup
	@$(STACK) up
	@$(PY) -m bench
