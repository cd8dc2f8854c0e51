# The two set-up commands: `make demo` and `make test`. Everything is installed here,
# into .venv, from pyproject.toml (+ constraints.txt for reproducible CI); never by hand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test bench clean browser

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch 2.13.0 CPU build comes from a local wheel; GPU users bring their own torch.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,gym,ray]'
	touch $(STAMP)

# The embedded default study: base / sft / cft / grpo / raro / sft->grpo from the shipped
# base model, every probe; then the report (terminal table + runs/quick/report/report.html).
# A killed demo resumes where it stopped when run again.
DEMO_SPEC ?= examples/quick.yaml
demo: install
	$(VENV)/bin/sparring run $(DEMO_SPEC) --out runs/$(basename $(notdir $(DEMO_SPEC))) --no-report
	$(VENV)/bin/sparring report runs/$(basename $(notdir $(DEMO_SPEC)))

test: install browser
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(PY) -m pytest -q tests

# Headless Chromium lets the report test take a screenshot of report.html; without it
# (no apt-get, not root) that one check is skipped, nothing else changes.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "chromium not installed: the report screenshot check will be skipped"

bench: install
	$(PY) bench/tasks.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
