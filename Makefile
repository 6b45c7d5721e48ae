# Two commands do all the set-up on a fresh Debian machine with Python 3.11:
#   make up     start the whole service locally (a private Redis, the API, one worker)
#   make test   install everything and run the full test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A bare `torch` pulls a multi-GB CUDA build; the CPU build is pinned here. For GPUs see README "GPU install".
TORCH_SPEC ?= torch==2.13.0
PIP_TORCH_ARGS ?=
PORT ?= 8000

.PHONY: up test lint format check-redis-server check-chromium clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_TORCH_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# A private redis-server is started (and installed first if missing) unless PALETTE_REDIS_URL names a Redis.
up: $(BIN)/.installed $(if $(PALETTE_REDIS_URL),,check-redis-server)
	$(BIN)/palette up --port $(PORT)

check-redis-server:
	@command -v redis-server >/dev/null || { \
	  echo "redis-server not found: installing Debian's redis-server package"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi; }

# The browser tests drive Debian's chromium; without it they skip with a message saying how to install it.
check-chromium:
	@command -v chromium >/dev/null || { \
	  echo "chromium not found: installing Debian's chromium package (browser tests)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; } \
	  || echo "could not install chromium: the browser tests will be skipped"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# OpenVINO's TBB worker threads make a later fork() of the same process die with SIGSEGV (seen in waitpid
# when a test spawns a subprocess after the OpenVINO tests ran), so those tests get a process of their own.
ISOLATED_TESTS := tests/model/test_onnx_backend.py

test: $(BIN)/.installed check-redis-server check-chromium lint
	$(BIN)/pytest -q $(addprefix --ignore=,$(ISOLATED_TESTS))
	$(BIN)/pytest -q $(ISOLATED_TESTS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
