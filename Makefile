# hmmr: `make help` lists the targets. Everything installs into .venv; nothing needs installing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel installs here without CUDA packages; on a GPU machine use e.g. TORCH=torch==2.13.0 from the CUDA index.
TORCH ?= torch==2.13.0
ROOT ?= data
HASHTAGS ?=
URLS ?=
ARGS ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test bench bench-venvs harvest clean

help: ## list the targets
	@grep -hE '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '$(TORCH)'
	$(PY) -m pip install --quiet -e '.[test]'
	# The embedded pose model's weights ship in this wheel; its runtime deps (numpy<2, jax) are not needed:
	# we run the .tflite files with ai-edge-litert.
	$(PY) -m pip install --quiet --no-deps mediapipe==0.10.21
	touch $@

install: $(VENV)/.installed ## create .venv and install hmmr with its test tools

test: install ## run the whole test suite (slow tests included, as CI does)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: install ## run the whole pipeline on bundled clips of people, on the embedded CPU pose model
	$(PY) -m demo.run --root demo-data

bench: install bench-venvs ## measure the speed targets and write bench/results.md
	$(PY) -m bench.run --out bench/results.md

# Baselines that cannot share our venv: video2dataset pins numpy < 2, and pyarrow >= 15 needs numpy 2.
bench/.venvs/video2dataset/bin/video2dataset:
	python3 -m venv bench/.venvs/video2dataset
	bench/.venvs/video2dataset/bin/pip install --quiet video2dataset "pyarrow<15"

bench-venvs: bench/.venvs/video2dataset/bin/video2dataset ## the baselines' own venvs (video2dataset)

harvest: install ## download videos: make harvest HASHTAGS=tags.txt [URLS=list.txt] [ROOT=data] [ARGS="--max-per-tag 50"]
	$(VENV)/bin/hmmr-harvest --root $(ROOT) $(if $(HASHTAGS),--hashtags $(HASHTAGS)) $(if $(URLS),--urls $(URLS)) $(ARGS)

clean: ## remove the virtual environment and caches (never a dataset root)
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
