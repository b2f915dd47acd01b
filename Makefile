# shadowd: `make run` and `make test` do all set-up themselves, idempotently.
#
# Python packages come from the hashed lock files in lock/ and nothing else: every `make
# run` / `make test` re-syncs .venv to lock/dev.txt (uv pip sync: adds what is missing,
# puts back a version changed by hand, removes what the lock does not name), so the
# environment tested is exactly the one locked. `make lock` re-resolves after pyproject.toml
# changed (keeping every pin it can); `make upgrade` moves every pin to the newest release.
SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
CACHE      := .cache
UV         := $(CACHE)/uv/bin/uv
KAFKA_JARS := $(CACHE)/kafka/jars
STATE      := .state/run
APT_PKGS   := frr mosquitto mosquitto-clients iproute2 iputils-ping iperf3 chromium systemd zsh

export SHADOWD_KAFKA_JARS := $(abspath $(KAFKA_JARS))
# uv uses this machine's Python; it never downloads an interpreter of its own.
export UV_PYTHON_DOWNLOADS := never

# The lock: what `uv pip compile` writes, for Python 3.11, with every file's hash and no
# download address (the installer finds the registry as this machine is set up for it).
COMPILE := $(UV) pip compile --quiet --generate-hashes --no-emit-index-url \
           --python-version 3.11 --custom-compile-command "make lock"

.PHONY: run test unit lint bench deps venv sysdeps kafka lock upgrade clean

run: venv
	@-$(MAKE) --no-print-directory sysdeps >/dev/null 2>&1 || echo "FRR not installed: running the model shadow only"
	$(BIN)/shadowd run --guided --config config/shadowd.toml --state-dir $(STATE) --socket $(STATE)/shadowd.sock

test: deps
	$(BIN)/ruff check shadowd tests bench
	$(BIN)/mypy
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

lint: venv
	$(BIN)/ruff check shadowd tests bench
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m bench

deps: venv sysdeps kafka

# uv itself, pinned by hash, in a venv of its own (pip verifies it before it runs).
$(UV): lock/uv.txt
	test -x $(CACHE)/uv/bin/python || $(PYTHON) -m venv $(CACHE)/uv
	$(CACHE)/uv/bin/pip install --quiet --require-hashes --no-deps -r lock/uv.txt
	touch $@

# Every time: a sync that finds the venv as locked changes nothing and takes a blink.
# shadowd itself is installed editable, built by the setuptools that lock/build.txt pins,
# as a plain path entry (compat): setuptools' default import hook costs every command
# (shadowctl status in a loop) 20 ms at start-up. Bytecode is compiled here, as pip does,
# so that a command does not compile every module it imports on each start where
# PYTHONDONTWRITEBYTECODE is set (compileall skips what is up to date).
venv: $(UV)
	test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --python $(BIN)/python --build-constraints lock/build.txt \
	  --config-setting editable_mode=compat --compile-bytecode lock/dev.txt lock/editable.txt
	$(BIN)/python -m compileall -q shadowd

lock: $(UV)
	$(MAKE) --no-print-directory _compile COMPILE_FLAGS=

upgrade: $(UV)
	$(MAKE) --no-print-directory _compile COMPILE_FLAGS=--upgrade

# dev.txt first (a superset); run.txt is held to the same versions.
_compile:
	$(COMPILE) $(COMPILE_FLAGS) --extra dev pyproject.toml -o lock/dev.txt
	$(COMPILE) $(COMPILE_FLAGS) -c lock/dev.txt pyproject.toml -o lock/run.txt
	$(CACHE)/uv/bin/python tools/build_requires.py \
	  | $(COMPILE) $(COMPILE_FLAGS) - -o lock/build.txt
	$(COMPILE) $(COMPILE_FLAGS) lock/uv.in -o lock/uv.txt

# Debian packages: install only what is missing, so a second run costs nothing. These are
# the one floating part of the set-up: Debian's stable archive pins their versions.
sysdeps:
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Kafka broker jars from Maven Central (versions, plugin included, pinned by the pom), for
# the integration tests' single-node KRaft broker.
kafka: $(KAFKA_JARS)/.resolved

$(KAFKA_JARS)/.resolved: tools/kafka/pom.xml
	mkdir -p $(KAFKA_JARS)
	mvn -q -B -f tools/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(KAFKA_JARS))
	touch $@

clean:
	rm -rf $(VENV) $(CACHE) .state .mypy_cache .ruff_cache .pytest_cache
