# Two commands for a fresh clone: `make demo` and `make test`. Both install what they need and are
# safe to re-run: the venv is rebuilt only when setup.py changes, apt runs only for what is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the embedded stack needs: Java 17 for Spark, PostgreSQL as the local RDS,
# the PostgreSQL JDBC driver for Spark (Maven is out of reach, Debian ships the jar), and Chromium,
# which the storefront's and the dashboard's tests drive headless through Playwright.
APT_PACKAGES := openjdk-17-jre-headless postgresql libpostgresql-jdbc-java chromium

.PHONY: demo test system-deps venv spark-conf services-down clean bench bench-als

demo: system-deps venv
	$(BIN)/fashion demo

test: system-deps venv
	$(BIN)/python -m pytest -q tests

system-deps:
	@missing=""; \
	command -v java >/dev/null && java -version 2>&1 | grep -q '"17' || missing="$$missing openjdk-17-jre-headless"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -f /usr/share/java/postgresql.jar ] || missing="$$missing libpostgresql-jdbc-java"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP) spark-conf

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[local,airflow,dev,bench,web]"
	touch $(STAMP)

# The venv's pyspark/conf (SPARK_HOME/conf of a pip-installed pyspark) reads conf/spark, so a plain
# `spark-submit` gets the same JVM settings, logging and loopback address as in-process sessions, plus
# a class-data-sharing archive of Spark's classes built here once (about a minute, see
# lib/fashion_pipeline/local_spark.py). Cheap to re-run: it rebuilds only what changed.
spark-conf: system-deps $(STAMP)
	$(BIN)/python -m fashion_pipeline.local_spark

bench: system-deps venv
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/partition_raw.py

# Spark ALS against the implicit library on `medium` data (about 20 minutes on 2 cores).
bench-als: system-deps venv
	$(BIN)/python bench/als.py --scale medium

services-down:
	-$(BIN)/fashion services down

# Stops the services, deletes their data (the local database lives outside the clone when run as
# root: see services/postgres.py) and everything generated.
clean: services-down
	-$(BIN)/fashion services clean
	rm -rf .state data spark-warehouse
