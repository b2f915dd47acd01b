# shadowd: `make run` and `make test` do all set-up themselves, idempotently.
SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
CACHE      := .cache
KAFKA_JARS := $(CACHE)/kafka/jars
STATE      := .state/run
APT_PKGS   := frr mosquitto iproute2 iputils-ping iperf3 chromium systemd

export SHADOWD_KAFKA_JARS := $(abspath $(KAFKA_JARS))

.PHONY: run test unit lint bench deps sysdeps kafka clean

run: $(VENV)/.installed
	@-$(MAKE) --no-print-directory sysdeps >/dev/null 2>&1 || echo "FRR not installed: running the model shadow only"
	$(BIN)/shadowd run --guided --config config/shadowd.toml --state-dir $(STATE) --socket $(STATE)/shadowd.sock

test: deps
	$(BIN)/ruff check shadowd tests bench
	$(BIN)/mypy
	$(BIN)/pytest

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit

lint: $(VENV)/.installed
	$(BIN)/ruff check shadowd tests bench
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python -m bench

deps: $(VENV)/.installed sysdeps kafka

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian packages: install only what is missing, so a second run costs nothing.
sysdeps:
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Kafka broker jars from Maven Central, for the integration tests' single-node KRaft broker.
kafka: $(KAFKA_JARS)/.resolved

$(KAFKA_JARS)/.resolved: tools/kafka/pom.xml
	mkdir -p $(KAFKA_JARS)
	mvn -q -B -f tools/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(KAFKA_JARS))
	touch $@

clean:
	rm -rf $(VENV) $(CACHE) .state .mypy_cache .ruff_cache .pytest_cache
