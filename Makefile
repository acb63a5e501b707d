# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: install chromium demo test test-fast bench clean slurm-up slurm-down test-slurm

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"   # the CPU build; pyproject keeps torch a range
	$(PY) -m pip install -q -e ".[dev]" --config-settings editable_mode=compat  # a path .pth: Hydra finds hydra_plugins/ (its namespace scan misses PEP 660 import hooks)
	touch $@

install: $(VENV)/.installed

demo: install       ## run the default job (variant=seed_notebook) and print its table
	$(PY) -m runner

PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile   # two workers (pytest-xdist); a file's tests share one worker

chromium:           ## Debian's chromium for the report's browser test, where missing and we are root (else the test skips)
	@if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	    || echo "chromium could not be installed: the report's browser test will skip"; \
	fi

test: install chromium  ## run the test suite (what CI runs; the SLURM tests are make test-slurm)
	$(PYTEST)

test-fast: install  ## the edit loop: unit and compose-API tests only, no subprocess sweeps (under 90 s)
	$(PY) -m pytest -q -n 2 -m "not slow and not slurm"

slurm-up:           ## start a one-node SLURM on 127.0.0.1 (apt-installs it if missing; root): tools/slurm/up.sh
	tools/slurm/up.sh

slurm-down:         ## stop the daemons slurm-up started
	tools/slurm/down.sh

test-slurm: install slurm-up  ## the SLURM tests (pytest -m slurm) against that cluster
	TENSORPROBE_REQUIRE_SLURM=1 $(PY) -m pytest -q -m slurm tests/slurm

bench: install      ## speed benchmark (not part of the tests)
	$(PY) tests/benchmarks/bench_sweep.py
	$(PY) tests/benchmarks/bench_scale.py --resnet18

clean:
	rm -rf $(VENV) outputs/runs outputs/multirun
