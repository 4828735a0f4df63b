# learnstreet: local stack and checks. Everything local lives in .local/ (git-ignored).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY    := .venv/bin/python
STACK := $(PY) deploy/local/stack.py
TEST_STARTED := .local/run/test-started

# Topology of the local stack (deploy/local/topology.py): `make up BROKERS=3 REPLICAS=2` runs a
# three-broker KRaft cluster and two instances of every service. Unset, the defaults are 1 and 1,
# or what the running stack already has. Exported, so `make chaos BROKERS=3 REPLICAS=2` works too.
ifdef STREETS
export LS_STREETS := $(STREETS)
endif
ifdef BROKERS
export LS_KAFKA_BROKERS := $(BROKERS)
endif
ifdef REPLICAS
export LS_REPLICAS := $(REPLICAS)
endif

.PHONY: help setup up infra down status provision kafka-up pg-up services-up services-down \
        test lint lock demo chaos chaos-ci bench cluster-check

help:
	@echo "make setup      install what is missing (Debian packages, .venv, Kafka jars, Keycloak, credentials)"
	@echo "make up         Kafka + PostgreSQL + Keycloak + topics/ACLs/databases + the four services"
	@echo "                (BROKERS=3: a three-broker KRaft cluster, RF 3; REPLICAS=2: two instances of each service;"
	@echo "                 LS_STREETS=nanwan: a second street beside Pinghu over SASL_SSL, and the district view)"
	@echo "make infra      Kafka + PostgreSQL + provisioning only"
	@echo "make status     health of every component"
	@echo "make down       stop what 'make up' started (every instance, every broker)"
	@echo "make cluster-check  BROKERS=3 REPLICAS=2 up, check RF 3 / min.insync.replicas 2 on every topic, back down"
	@echo "make test       setup, start what is not running, pytest, stop what it started"
	@echo "make lint       ruff"
	@echo "make lock       re-lock requirements/*.txt with hashes after a change of pyproject.toml's pins"
	@echo "make demo       the main job: a Pinghu street, its live index and report (KEEP=1 keeps it running)"
	@echo "make chaos      fault test on 3 brokers x 2 instances: kills, pauses, bad input; nothing lost or doubled"
	@echo "make chaos-ci   the small chaos CI runs after make test (3 brokers, 2 instances)"
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

# Three brokers and two instances of each service, every topic checked for RF 3 and
# min.insync.replicas=2, `status` shown, then back down; a stack that was running comes back as it was.
cluster-check: setup
	@$(PY) deploy/local/cluster_check.py

# Starts only what is not running yet (remembered in $(TEST_STARTED)), runs the whole suite,
# stops what it started, and exits with pytest's status.
test: setup
	@rm -f $(TEST_STARTED); \
	trap '$(STACK) down --recorded $(TEST_STARTED)' EXIT; \
	$(STACK) up --record $(TEST_STARTED); \
	$(PY) -m pytest

lint:
	@.venv/bin/ruff check .

# Hash-locked dependency sets: runtime (the image) and dev (.venv: tests, local stack, bench, this
# tool). Existing pins are kept; only what pyproject.toml changed moves (--upgrade to move all).
LOCK := .venv/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links
lock: setup
	@$(LOCK) -o requirements/runtime.txt pyproject.toml requirements/build.in
	@$(LOCK) --extra dev --extra bench --extra local --extra lock -o requirements/dev.txt \
	    pyproject.toml requirements/build.in

# The main job: a Pinghu street through the real interfaces, then the live index and a report.
# Stops what it started unless KEEP=1 (then explore: make status, the dashboard, .local/mail).
DEMO_STARTED := .local/run/demo-started
demo: setup
	@rm -f $(DEMO_STARTED); \
	if [[ "$${KEEP:-0}" != 1 ]]; then trap '$(STACK) down --recorded $(DEMO_STARTED)' EXIT; fi; \
	$(STACK) up --record $(DEMO_STARTED); \
	$(PY) -m deploy.demo

# Fault test: load with crashes, broker restart and broker kills, paused consumers, dropped
# connections, on three brokers with two instances of every service (override with BROKERS= and
# REPLICAS=); checks nothing is lost or counted twice against an independent oracle.
CHAOS_BROKERS := $(or $(BROKERS),3)
CHAOS_REPLICAS := $(or $(REPLICAS),2)
chaos: setup
	@LS_KAFKA_BROKERS=$(CHAOS_BROKERS) LS_REPLICAS=$(CHAOS_REPLICAS) $(STACK) up
	@$(PY) -m chaos --brokers $(CHAOS_BROKERS) --replicas $(CHAOS_REPLICAS) $(CHAOS_ARGS)

# What CI runs after `make test`: a small chaos (3,000 check-ins, every fault kind once) on three
# brokers with two instances of every service; then, on the same three brokers, a second street
# (Nanwan) beside Pinghu over SASL_SSL with the district view (issue 19's done-when test, which
# `make test` runs on one broker too); stops what it started.
CHAOS_CI_STARTED := .local/run/chaos-ci-started
chaos-ci: setup
	@rm -f $(CHAOS_CI_STARTED); \
	trap '$(STACK) down --recorded $(CHAOS_CI_STARTED)' EXIT; \
	LS_KAFKA_BROKERS=3 LS_REPLICAS=2 $(STACK) up --record $(CHAOS_CI_STARTED); \
	$(PY) -m chaos --brokers 3 --replicas 2 --checkins 3000 --kills-per-service 1 --sigterms-per-service 1 \
	  --fault-services activities,scoring,notify,enrolment --kafka-restarts 1 --broker-kills 1 \
	  --pg-terminations 1 --pauses 1 --pause-targets activities,scoring --max-poll-interval-ms 8000 \
	  --load-seconds 45 --quiesce-timeout 300 && \
	LS_KAFKA_BROKERS=3 $(PY) -m pytest -q tests/integration/ops/test_streets_on_one_cluster.py

# Throughput, latency, ceilings, the Quix Streams peer, rebuild, enrolment API, memory.
bench: setup
	@$(STACK) up
	@$(PY) -m bench
