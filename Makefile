# bids_deface: fresh machine -> demo, tests, benchmarks, docs.
#   make demo    create .venv, install, deface the bundled demo dataset (no download)
#   make test    create .venv, install with test extras and test tools, run the test suite
#   make bench   time and measure memory per stage on ../shared/data/heads (or the demo), next to BET + quickshear
#   make docs    build the documentation (Sphinx, warnings are errors) into docs/_build/html
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NPM_PREFIX := .cache/npm
SHARED ?= ../shared/data/heads
DEMO   ?= demo

.PHONY: install demo test test-fast lint test-tools bench docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m bids_deface.data.demo $(DEMO)/bids
	$(VENV)/bin/bids-deface $(DEMO)/bids $(DEMO)/out participant -w $(DEMO)/work
	$(VENV)/bin/bids-deface $(DEMO)/bids $(DEMO)/out group
	@echo "Outputs in $(DEMO)/out"

# Tools some tests use (headless Chromium, the npm bids-validator); tests skip when absent.
test-tools:
	bash .ci/test-tools.sh $(NPM_PREFIX)

# Screenshots of the participant and group reports (headless Chromium) are kept in test-artifacts/.
test: install test-tools
	BIDS_DEFACE_SCREENSHOTS=$(CURDIR)/test-artifacts/screenshots $(PY) -m pytest -n 2 --dist loadgroup --durations=15 tests

# The quick subset: unit tests on phantoms and the packaged template (no real heads, no
# SLURM, browser or validator runs, nothing marked slow); about 4 minutes on 2 cores.
test-fast: install
	$(PY) -m pytest -n 2 -q -m "not heads and not slow and not slurm and not browser and not validator" tests

lint: install
	$(VENV)/bin/ruff check bids_deface tests benchmarks
	$(VENV)/bin/ruff format --check bids_deface tests benchmarks

bench: install
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/bench_participant.py $(if $(wildcard $(SHARED)),$(SHARED),--demo)

docs: install
	$(PY) -m pip install --quiet -e ".[docs]"
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html
	@echo "Documentation in docs/_build/html/index.html"

clean:
	rm -rf $(DEMO) work build dist .pytest_cache test-artifacts
