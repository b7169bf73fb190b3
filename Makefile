# Set-up and the main jobs. Everything installs into .venv from a machine that has only Python.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch pinned in the same command: a CPU wheel of 2.13.0 is what these machines have.
	$(PY) -m pip install --quiet "torch==2.13.0" -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The main job: the demo budget of the reproduction (the base, SFT-Unified and MT-RL-Judge trained and evaluated on
# JudgeWorld v2), report in runs/demo/report.md; `reproduce --budget full` trains all five judges (about 7 hours).
demo: $(STAMP)
	$(VENV)/bin/mtrl-judge reproduce --budget demo --out runs/demo

# The default suite: ruff first (rules in pyproject's [tool.ruff]), then pytest; pyproject's addopts deselect
# the `slow` (minutes: the smoke reproduction, more multi-process runs, the README walk) and `gpu` tests.
# CI (.ci/run) runs both test targets.
test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache
