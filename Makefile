# The two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
# Debian's CPython 3.11 is built with profile-guided optimisation and runs the
# matching and session code about 30% faster than a plain source build: prefer it.
PYTHON ?= $(shell test -x /usr/bin/python3.11 && echo /usr/bin/python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PYTAG := $(shell $(PYTHON) -c 'import sys; print("py%d%d" % sys.version_info[:2])')
# The quickfix C++ build takes ~4 minutes: build its wheel once, outside the clone, and reuse it.
# It is built with OpenSSL (HAVE_SSL), for the TLS interop tests; --no-as-needed keeps
# libssl linked although only the C++ code uses it.
CACHE ?= $(HOME)/.cache/fix-exchange
QF_VERSION := 1.16.0
QF_WHEELS := $(CACHE)/wheels-$(PYTAG)-ssl
QF_BUILD_FLAGS := CPPFLAGS=-DHAVE_SSL=1 LDFLAGS="-Wl,--no-as-needed -lssl -lcrypto"

.PHONY: run test bench lint conformance clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

run: $(VENV)/.installed
	$(BIN)/fixserver

quickfix-wheel: | $(BIN)/python
	@if ls $(QF_WHEELS)/quickfix-$(QF_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "quickfix $(QF_VERSION): using the cached wheel in $(QF_WHEELS)"; \
	else \
	  echo "quickfix $(QF_VERSION): building the wheel once, with OpenSSL (about 4 minutes), into $(QF_WHEELS)"; \
	  scripts/need-openssl-headers && \
	  mkdir -p $(QF_WHEELS) && $(QF_BUILD_FLAGS) $(BIN)/pip wheel -q --no-deps --no-cache-dir \
	    -w $(QF_WHEELS) \
	    quickfix==$(QF_VERSION); \
	fi

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml | quickfix-wheel
	$(BIN)/pip install -q --find-links $(QF_WHEELS) -e '.[test]'
	@# The cached wheel even over a quickfix of the same version built another way (without TLS).
	$(BIN)/pip install -q --no-deps --force-reinstall $(QF_WHEELS)/quickfix-$(QF_VERSION)-*.whl
	touch $@

test: $(VENV)/.test-installed
	@# The operator page's browser test drives Debian's chromium; the alert rules are
	@# checked by promtool (both fail in CI when missing, rather than skip).
	scripts/need-chromium
	scripts/need-promtool
	scripts/run-tests

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

bench: $(VENV)/.installed
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

conformance: $(VENV)/.installed
	scripts/run-conformance

clean:
	rm -rf $(VENV) var build *.egg-info fixserver/_speedups.*.so venue/_report_writer.*.so
