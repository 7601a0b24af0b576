# Hearth: `make run` and `make test` set everything up from a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000
# llama-cpp-python is compiled here. GGML_NATIVE=OFF builds the portable AVX2 kernels: the native
# build enables AMX on recent Xeons and segfaults on the first inference (see README, "Set-up notes").
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
LLAMA_WHEELS := $(HOME)/.cache/hearth/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | sha1sum | cut -c1-10)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := 1
# onnxruntime (the default embedder, unstructured's PDF layout) uploads telemetry unless told not to
export ORT_DISABLE_TELEMETRY := 1
# Browser tests drive Debian's chromium; Playwright must never download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck pytest bench install install-dev browser clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	@# torch first, pinned to the CPU build (a bare torch requirement pulls CUDA)
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	@# llama-cpp-python from source, once per set of build flags (pip's own cache ignores CMAKE_ARGS)
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "Compiling llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_CMAKE_ARGS)); this takes about 4 minutes..."; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-cache-dir --no-deps \
	    llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS).tmp && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi
	$(PIP) install --quiet -c constraints.txt $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(PIP) install --quiet -c constraints.txt -e .
	@# unstructured-inference without its deps: they would pull torch, timm and transformers
	$(PIP) install --quiet --no-deps unstructured-inference==1.6.14
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.dev-installed

# Ingests corpus/ until one ingest has completed: after an interrupted first run the store
# exists but holds part of it (`last_ingest` is set only when an ingest finishes).
run: install
	@if ! $(BIN)/hearth status --data-dir "$(DATA_DIR)" --json 2>/dev/null | grep -q '"last_ingest": "'; then \
	  $(BIN)/hearth ingest corpus --data-dir "$(DATA_DIR)"; fi
	$(BIN)/hearth serve --data-dir "$(DATA_DIR)" --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest

# Debian's chromium for the browser tests, when missing and installable (root + apt-get).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) || \
	      echo "warning: could not install chromium; browser tests will be skipped (fail with CI=true)"; \
	  else echo "warning: $(CHROMIUM) missing; browser tests will be skipped (fail with CI=true)"; fi; \
	fi

test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: install-dev browser
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/crash_safety.py --trials 50
	$(BIN)/python bench/answer.py
	$(BIN)/python -m bench.llm_threads
	$(BIN)/python bench/page.py
	$(BIN)/python -m bench.follow_ups

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
