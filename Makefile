# The two commands of the README:
#   make book   builds the rendered HTML book into _build/html (stored outputs, no re-execution)
#   make test   runs the whole test suite: lint, unit tests, notebook freshness, nbval, browser
# Both create and fill the virtual environment .venv when it is missing or out of date.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MATHJAX_VERSION := 3.2.2
MATHJAX_SHA256 := 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
MATHJAX := .cache/static/mathjax/tex-mml-chtml.js
# Offline data: the shared folder beside the clone, when it exists (see book/setup.md).
SHARED_DATA := $(abspath ../shared/data)
ifeq ($(wildcard $(SHARED_DATA)),)
else
export RNN_TUTORIAL_DATA ?= $(SHARED_DATA)
endif
NB ?=

.PHONY: book test lint execute status venv clean gpu-smoke isa-limit check-runs

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# MathJax comes from the npm registry, checked against a pinned sha256, and is served from the
# book itself (html_static_path in _config.yml): equations render without any CDN. It is kept out
# of _static/, whose scripts Jupyter Book would add to every page.
$(MATHJAX):
	rm -rf .cache/mathjax && mkdir -p .cache/mathjax
	cd .cache/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	echo "$(MATHJAX_SHA256)  .cache/mathjax/mathjax-$(MATHJAX_VERSION).tgz" | sha256sum --check --quiet
	tar -xzf .cache/mathjax/mathjax-$(MATHJAX_VERSION).tgz -C .cache/mathjax package/es5
	rm -rf .cache/static && mkdir -p .cache/static && mv .cache/mathjax/package/es5 .cache/static/mathjax

book: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One worker. Two (pytest-xdist, -n 2 --dist loadscope) ran two notebooks at once on the 2-core
# CI machine and were no faster; set PARALLEL="-n 2 --dist loadscope" on a larger machine.
PARALLEL ?=
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	--nbval-cell-timeout 600 -p no:cacheprovider

test: $(STAMP) lint book
	$(BIN)/python tools/nbtools.py check
	$(BIN)/python tools/runs.py check
	$(BIN)/pytest tests chapters $(NBVAL) $(PARALLEL) --durations=30
	$(MAKE) --no-print-directory gpu-smoke
	$(MAKE) --no-print-directory isa-limit

# The GPU configurations (choose_config in rnn_tutorial.repro), executed on the CPU at reduced
# size, so that no code path of the book is one that never ran. Only the notebooks that have a
# GPU configuration run again.
gpu-smoke: $(STAMP)
	nbs="$$($(BIN)/python tools/nbtools.py gpu-notebooks)"; \
	if [ -z "$$nbs" ]; then echo "gpu-smoke: no notebook calls choose_config" >&2; exit 1; fi; \
	RNN_TUTORIAL_GPU_SMOKE=1 $(BIN)/pytest $$nbs $(NBVAL) $(PARALLEL)

# The notebooks whose path depends on the CPU's instruction set (bfloat16, oneDNN, OpenBLAS
# kernels), executed again as on an AVX2-only CPU: oneDNN and OpenBLAS are told to use nothing
# newer, so the path that a CPU without AVX-512, AVX512-BF16 or AMX takes runs in CI on any x86
# CPU. tests/test_cpu.py checks that the two variables really switch both libraries.
ISA_LIMIT := ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell
isa-limit: $(STAMP)
	nbs="$$($(BIN)/python tools/nbtools.py isa-notebooks)"; \
	if [ -z "$$nbs" ]; then echo "isa-limit: no notebook depends on the CPU" >&2; exit 1; fi; \
	$(ISA_LIMIT) $(BIN)/pytest $$nbs $(NBVAL)

# Why each recorded run is stale, if any is (re-stamp a refactor: python tools/runs.py restamp).
check-runs: $(STAMP)
	$(BIN)/python tools/runs.py check

# Re-execute notebooks in place (all, or NB=chapters/xx.ipynb) and record the freshness proof.
execute: $(STAMP)
	$(BIN)/python tools/nbtools.py execute $(NB)

status: $(STAMP)
	$(BIN)/python tools/nbtools.py status

clean:
	rm -rf _build .cache
