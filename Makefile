# status-fanout: every command a developer or CI needs.
# `make run` and `make test` create .venv on first use from a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help venv run demo test test-fast lint build deploy bench clean

help:
	@echo "make run      start the local stack (status page on http://127.0.0.1:$${PORT:-3000}/)"
	@echo "make demo     the local stack with the seed's Bottlenose page loaded"
	@echo "make test     run the whole test suite offline"
	@echo "make lint     ruff, mypy, cfn-lint and sam validate --lint"
	@echo "make bench    run the benchmarks (one JSON line per figure)"
	@echo "make build    sam build (no Docker)"
	@echo "make deploy   sam build && sam deploy --guided"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is needed (PYTHON=$(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/status-fanout local

# The local stack with the seed's Bottlenose page: its components and the
# "Mail platform outage" incident, backfilled (events/seed/).
demo: $(STAMP)
	$(BIN)/status-fanout local --demo

# A run the interpreter itself kills (a signal: exit status 128 + n) is run
# once more, loudly; a test that fails is never run again. CPython 3.11.7
# segfaulted once in the local stack's poller while it formatted a traceback
# (docs/testing.md, "An interpreter crash"); a failing test is still a failure.
test: $(STAMP)
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -ge 128 ]; then \
		echo "== pytest was killed by signal $$((status - 128)); running the suite once more"; \
		$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	fi; exit $$status

test-fast: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy layers/core/status_fanout local/status_fanout_local cli/status_fanout_cli bench
	@for f in functions/*/app.py; do $(BIN)/mypy $$f || exit 1; done
	$(BIN)/cfn-lint template.yaml
	scripts/sam.sh validate

build:
	scripts/sam.sh build

deploy:
	scripts/sam.sh deploy-guided

bench: $(STAMP)
	@for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache

# A screenshot of each public page (status, incident, subscribe) in headless
# Chromium, saved under docs/screenshots/ by the browser tests.
.PHONY: screenshots
screenshots: $(STAMP)
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/e2e/test_pages_browser.py $(PYTEST_ARGS)

# The burst test at full size (50 posts to one incident, 200 subscribes);
# prints one JSON line of counts. CI runs a smoke size in tests/e2e/test_burst.py.
.PHONY: loadtest
loadtest: $(STAMP)
	$(BIN)/python -m tests.load.burst $(LOADTEST_ARGS)
