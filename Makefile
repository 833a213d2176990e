# seqcourse: `make book` and `make test` set everything up on a fresh machine, then build / test.
# Re-running is cheap: each setup step is guarded by a stamp that depends on the files it installs from.

SHELL        := /bin/bash
PYTHON       ?= python3
VENV         := .venv
PY           := $(VENV)/bin/python
# A local CPU wheel of this version exists on the course machines; an unpinned torch would pull CUDA wheels.
TORCH_VERSION ?= 2.13.0
APT_PACKAGES := chromium postgresql fonts-noto-cjk bubblewrap
BUILD_DIR    := _build
HOST         ?= 127.0.0.1
PORT         ?= 8000
# two pytest-xdist workers: one file per worker at a time, in file order (the scheduler is in
# tests/conftest.py); the CPU is kept busy while the other worker waits on browsers, servers and kernels
PYTEST_ARGS  ?= --durations=40 -n 2 --dist loadscope --no-loadscope-reorder

.PHONY: setup python-env node-env apt-env vendor book test test-exhaustive unit lint serve release grade student-edition hub hub-stop bench screenshots gpu-check clean help

help:
	@echo "make book    - set up, then build the book executing every chapter (warnings are errors)"
	@echo "make test    - set up, build the book, then run the whole test suite"
	@echo "make unit    - set up, then run the tests without building the book (fast inner loop)"
	@echo "make serve   - serve the built site on http://$(HOST):$(PORT)"
	@echo "make release - regenerate assignments/ from solutions/ with nbgrader"
	@echo "make grade ASSIGNMENT=a00_warmup SUBMISSIONS=dir OUT=dir - grade submissions securely"
	@echo "make student-edition DEST=dir - write the public student repository (no solutions, no hidden tests)"
	@echo "make hub     - (root) start the course hub on http://$(HOST):$(HUB_PORT) with demo users; make hub-stop"
	@echo "make bench   - run the speed and memory benchmarks"
	@echo "make screenshots - (root) retake the README's screenshots in Chromium into docs/screenshots/"
	@echo "make gpu-check [GPU_PYTHON=python3] - run the package tests and every chapter on a GPU (table of times)"

setup: python-env node-env apt-env vendor

# --- Python: .venv with torch pinned first, then the package and every extra --------------------------------
python-env: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

# --- npm: MathJax, vega / vega-lite / vega-embed and configurable-http-proxy, exactly as locked ----------------
node-env: node_modules/.stamp
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# --- Debian packages (browser tests, PostgreSQL grading tests, CJK fonts, bubblewrap for the grading sandbox)
apt-env:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "warning: Debian packages missing:$$missing (not root: install them with sudo apt-get install$$missing)"; \
	fi

# --- Local copies of the site's JavaScript (never under _static: Jupyter Book would add every .js to every page)
vendor: _vendor/.stamp
_vendor/.stamp: node_modules/.stamp Makefile
	rm -rf _vendor && mkdir -p _vendor/vega
	cp -r node_modules/mathjax/es5 _vendor/mathjax
	cp node_modules/vega/build/vega.min.js node_modules/vega-lite/build/vega-lite.min.js \
	   node_modules/vega-embed/build/vega-embed.min.js _vendor/vega/
	@touch $@

# --- The two commands -------------------------------------------------------------------------------------------
book: setup
	# jupyter-book build . -W -n --keep-going, executing chapters in parallel (tools/build_book.py: BOOK_JOBS
	# processes, by default two per core);
	# one intra-op thread: the chapters train tiny models, for which threads only add overhead
	OMP_NUM_THREADS=1 $(PY) tools/build_book.py $(if $(BOOK_JOBS),--jobs $(BOOK_JOBS))
	@echo "The book is at $(abspath $(BUILD_DIR))/html/index.html"

test: book
	$(PY) -m pytest -m "not exhaustive" $(PYTEST_ARGS)

# every mutant of every assignment through nbgrader autograde as well (make test: solution and release there)
test-exhaustive: book
	$(PY) -m pytest -m exhaustive $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -m "not book and not exhaustive" $(PYTEST_ARGS)

lint: python-env
	$(VENV)/bin/ruff check .

serve:
	@test -f $(BUILD_DIR)/html/index.html || { echo "no built site: run make book first"; exit 1; }
	@echo "Serving http://$(HOST):$(PORT)/index.html (Ctrl-C to stop)"
	$(PY) -m http.server $(PORT) --bind $(HOST) --directory $(BUILD_DIR)/html

release: python-env
	$(PY) -m seqcourse.grading.release

grade: python-env
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" -a -n "$(OUT)" || \
	  { echo "usage: make grade ASSIGNMENT=a00_warmup SUBMISSIONS=path OUT=dir [WORKERS=n]"; exit 2; }
	$(VENV)/bin/seqcourse-grade $(ASSIGNMENT) $(SUBMISSIONS) --out $(OUT) $(if $(WORKERS),--workers $(WORKERS))

# The public student repository: book, released assignments, package; checked for solution / hidden-test lines
student-edition: python-env
	@test -n "$(DEST)" || { echo "usage: make student-edition DEST=dir (a new or empty folder)"; exit 2; }
	$(PY) -m seqcourse.grading.edition $(DEST)

# --- The course hub (root: one OS account per hub user) --------------------------------------------------------
HUB_DIR      ?= /tmp/seqcourse-hub
HUB_PORT     ?= 8100

hub: python-env node-env
	$(PY) hub/demo.py start --dir $(HUB_DIR) --ip $(HOST) --port $(HUB_PORT)

hub-stop:
	$(PY) hub/demo.py stop --dir $(HUB_DIR)

bench: python-env
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The README's pictures: the browser tests that take them (the hub's needs root), then docs/screenshots/
screenshots: setup
	$(PY) -m pytest -p no:cacheprovider -q tests/test_hub_e2e.py tests/test_similarity.py tests/test_quality.py \
	  tests/test_verify.py -k "browser or chromium"
	$(PY) tools/readme_screenshots.py

# The course venv pins torch's CPU wheel: on a GPU machine pass a Python whose torch has CUDA, e.g.
# make gpu-check GPU_PYTHON=/opt/torch/.venv/bin/python3. Without a visible GPU it says so and exits 0.
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),python3)
gpu-check:
	$(GPU_PYTHON) tools/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf $(BUILD_DIR) _vendor
