# Two commands for a fresh clone: `make demo` and `make test`. Both install what they need and are
# safe to re-run: the venv is rebuilt only when setup.py changes, apt runs only for what is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the embedded stack needs: Java 17 for Spark, PostgreSQL as the local RDS,
# and the PostgreSQL JDBC driver for Spark (Maven is out of reach, Debian ships the jar).
APT_PACKAGES := openjdk-17-jre-headless postgresql libpostgresql-jdbc-java

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
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP) spark-conf

# conf/spark becomes the venv's pyspark/conf (SPARK_HOME/conf of a pip-installed pyspark), so a plain
# `spark-submit` gets the same JVM settings, logging and loopback address as in-process sessions.
# Re-run every time: cheap, and it follows the clone if the venv is shared or pyspark reinstalled.
spark-conf: $(STAMP)
	@link="$$($(BIN)/python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "conf"))')"; \
	if [ -e "$$link" ] && [ ! -L "$$link" ]; then \
	  echo "$$link exists and is not our link to conf/spark: move it away, then re-run make" >&2; exit 1; \
	fi; \
	[ "$$(readlink "$$link")" = "$(CURDIR)/conf/spark" ] || ln -sfn "$(CURDIR)/conf/spark" "$$link"

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	touch $(STAMP)

bench: system-deps venv
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/partition_raw.py

# Spark ALS against the implicit library on `medium` data (about 20 minutes on 2 cores).
bench-als: system-deps venv
	$(BIN)/python bench/als.py --scale medium

services-down:
	-$(BIN)/fashion services down

clean: services-down
	rm -rf .state data spark-warehouse
