# labkit: the two commands users need are `make lab` and `make test`.
# Both create .venv and install everything on first use.

# libtorrent has wheels for CPython 3.9-3.13: take the newest such python3 on the PATH.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3.10 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3,10) <= sys.version_info[:2] <= (3,13))' 2>/dev/null \
            && echo $$p && break; done)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]-*.ipynb))

# The suite's areas (tests/areas.py maps every test file to one): `make test-node` runs one, in under a minute.
AREAS := consensus sharing node course lessons notebooks browser hub package

.PHONY: help install lab test test-fast test-slow $(addprefix test-,$(AREAS)) bench fuzz student clean-notebooks clean

help:
	@echo "make lab              set up .venv and open the workbook in JupyterLab"
	@echo "make test             set up .venv and run every test (unit, notebooks, student build, browser)"
	@echo "make test-fast        every test but the slow, notebook and browser ones (a few minutes)"
	@echo "make test-AREA        one area, slow tests aside: AREA is one of $(AREAS)"
	@echo "                      (make test-node SLOW=1 adds its slow tests; make test-consensus also runs"
	@echo "                      the consensus tests on every supported Python)"
	@echo "make test-slow        only the slow tests"
	@echo "make bench            run the benchmarks, write benchmarks/RESULTS.md"
	@echo "make fuzz             10,000 mutations of valid chains; none may be accepted"
	@echo "make student          write the student version of the notebooks to student/"
	@echo "make clean-notebooks  strip outputs and execution counts from notebooks/, write nbgrader's metadata"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "labkit needs Python 3.10-3.13 (libtorrent has no wheels for newer)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# jupyter-events asks for jsonschema's format-nongpl extra, which brings rfc3987-syntax; jsonschema
	@# imports it, and it builds an Earley parser for IRIs at import: 1.5 s of CPU in every process that
	@# imports nbformat or jupyter_server (each test worker, JupyterLab, nbgrader), for "iri" format
	@# checks that nothing here asks for. Without it jsonschema leaves those two formats unchecked.
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	touch $@

install: $(STAMP)

# JupyterHub's proxy, for the hub test and benchmark (tests/test_hub.py, benchmarks/hub.py): from the
# npm registry, at the versions tests/hub/package-lock.json pins, into .hub/ (git-ignored).
HUB_PROXY := .hub/node_modules/.bin/configurable-http-proxy

$(HUB_PROXY): tests/hub/package.json tests/hub/package-lock.json
	@command -v npm >/dev/null || { echo "the hub test needs Node.js and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	mkdir -p .hub && cp tests/hub/package.json tests/hub/package-lock.json .hub/
	npm ci --prefix .hub --no-audit --no-fund --loglevel=error
	touch $@

hub-proxy: $(HUB_PROXY)

# JupyterLab listens on this machine only unless told otherwise (make lab LAB_HOST=0.0.0.0 LAB_PORT=9000);
# if LAB_PORT is taken it tries the next ones. It prints the address to open, with its token.
LAB_HOST ?= 127.0.0.1
LAB_PORT ?= 8888

# As root (containers, CI) JupyterLab refuses to start without --allow-root; where no browser can be
# shown (ssh, containers: no DISPLAY or BROWSER) it is asked not to try, rather than start a text browser.
lab: install
	@flags=""; \
	if [ "$$(id -u)" = 0 ]; then \
	    echo "make lab: running as root, so JupyterLab gets --allow-root"; flags="--allow-root"; fi; \
	if [ "$$(uname)" != Darwin ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY$$BROWSER" ]; then \
	    echo "make lab: no display here, so no browser: open the /lab?token= address JupyterLab prints below"; \
	    flags="$$flags --no-browser"; fi; \
	set -x; exec $(BIN)/jupyter lab notebooks/ --ip=$(LAB_HOST) --port=$(LAB_PORT) $$flags

# tests/ holds unit tests, the notebooks' runs (each notebook executed once, its checks sharing the run),
# the student-build check and the browser tests, and (tests/test_other_pythons.py) the consensus tests
# (vectors, properties) again under the oldest and newest supported Python, or the versions named here.
CONSENSUS_PYTHONS ?=
export CONSENSUS_PYTHONS
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
# The suite starts hundreds of Python processes (kernels, nodes, command lines, servers). Where the
# environment says PYTHONDONTWRITEBYTECODE (some container images do), each of them compiled labkit's and the
# tests' modules from source again, pytest rewrote every test module's asserts in each worker, and
# nothing was kept: writing bytecode (into each package's __pycache__/, which git ignores) compiles each once.
unexport PYTHONDONTWRITEBYTECODE

# The suite runs in JOBS worker processes (pytest-xdist): much of its time is spent waiting (kernels, live
# nodes, JupyterLab, the hub), so on two cores four workers took make test's pytest from 20-30 minutes to 11
# (a shared machine). Each file runs whole on one worker, and tests that share an expensive fixture run
# together (tests/areas.py group_of, tests/conftest.py). JOBS=0 runs in this process alone.
JOBS ?= 4
PARALLEL = $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadgroup --no-loadscope-reorder)
# nbval runs the workbook as written (notebooks/); the checks that read a notebook's outputs share one
# more run of each (tests/notebook_runs.py: the student build's exercises, then the instructor's).
PYTEST_NB := --nbval-lax --nbval-cell-timeout=240

test: install hub-proxy
	$(PYTEST) $(PARALLEL) tests notebooks $(PYTEST_NB) $(PYTEST_ARGS)

test-fast: install
	$(PYTEST) $(PARALLEL) tests -m "not slow and not browser and not notebooks and not hub" -x -q $(PYTEST_ARGS)

# One area: only its files are collected (tests/areas.py lists them), its slow tests left out unless SLOW=1.
$(addprefix test-,$(AREAS)): test-%: install
	$(PYTEST) $(PARALLEL) $$($(BIN)/python tests/areas.py $*) -m "$*$(if $(SLOW),, and not slow)" -q $(PYTEST_ARGS)
	$(if $(filter consensus,$*),tools/test-on-pythons $(CONSENSUS_PYTHONS))

test-slow: install
	$(PYTEST) $(PARALLEL) tests -m slow -q $(PYTEST_ARGS)

bench: install hub-proxy
	$(BIN)/python benchmarks/run.py

fuzz: install
	LABKIT_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest tests/test_fuzz.py -q -p no:cacheprovider

student: install
	$(BIN)/python tools/student.py notebooks student

# Outputs stripped, and nbgrader's cell metadata written from the exercise registry (never by hand).
clean-notebooks: install
	$(BIN)/python tools/student.py --clean notebooks
	$(BIN)/python tools/nbgrader_meta.py notebooks

clean:
	rm -rf $(VENV) .venv-3.* student work test-artifacts .pytest_cache
