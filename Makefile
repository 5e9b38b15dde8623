# Two commands for a newcomer:
#   make test        create .venv, install aemap with its test extras, run the tests
#   make reproduce   run the whole workflow with config.yaml on all cores
#   make report      bring the run up to date, then results/report.html: every figure and the replication table
#   make explore     the interactive explorer of results/ on http://127.0.0.1:8000 (read only)
# Extra Snakemake arguments pass through: make reproduce ARGS="--profile profiles/slurm"

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.aemap-installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: test reproduce report explore dryrun lint format constraints clean-results help gpu-wheels gpu-env gpu-check

help:
	@echo "make test       - create $(VENV), install, run the test suite"
	@echo "make reproduce  - run the whole workflow (ARGS=... passes Snakemake arguments)"
	@echo "make report     - bring the run up to date, then write results/report.html (one self-contained file)"
	@echo "make explore    - the explorer of $(RESULTS) on http://127.0.0.1:$(PORT) (RESULTS=, PORT= to change)"
	@echo "make dryrun     - show what the workflow would run (snakemake -n)"
	@echo "make lint       - snakemake --lint, snakefmt --check, ruff check, ruff format --check"
	@echo "make format     - snakefmt and ruff format (rewrites files)"
	@echo "make gpu-wheels - (machine with a registry) wheels for a GPU machine into WHEELS=$(WHEELS), no torch"
	@echo "make gpu-check  - (GPU machine) PYTHON=python-with-cuda-torch WHEELS=dir: GPU tests, timings, smoke run"

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "aemap needs Python 3.11, found " + sys.version.split()[0]' \
		|| { echo "Set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(BIN)/snakemake --cores all $(ARGS)

# The report holds what the run built, so the run is brought up to date first
# (nothing to do after `make reproduce`); the same ARGS pick the same experiments.
report: $(STAMP)
	$(BIN)/snakemake --cores all $(ARGS)
	$(BIN)/snakemake --report results/report.html $(ARGS)

RESULTS ?= results
PORT ?= 8000
explore: $(STAMP)
	$(BIN)/aemap explore $(RESULTS) --port $(PORT)

dryrun: $(STAMP)
	$(BIN)/snakemake -n --cores all $(ARGS)

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/snakefmt Snakefile workflow/rules
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -iE '^(torch|aemap)==' > constraints.tmp
	@{ head -3 constraints.txt; cat constraints.tmp; } > constraints.new && rm constraints.tmp && mv constraints.new constraints.txt

clean-results:
	rm -rf results logs .snakemake
	find benchmarks -name '*.tsv' -delete

# --- The GPU path --------------------------------------------------------------------------
# GPU machines differ from ours: another Python (3.12) with a CUDA build of another
# torch (>= 2.11) already installed, and no package registry. So:
#   1. here (registry reachable):   make gpu-wheels WHEELS=wheels GPU_PYTHON_VERSION=3.12
#   2. copy the checkout and wheels/ to the GPU machine, then there:
#                                   make gpu-check PYTHON=/path/to/python3.12 WHEELS=wheels
# gpu-check builds $(GPU_VENV) on top of that interpreter (its torch stays), installs the
# other packages from WHEELS only and aemap without dependencies, and runs
# benchmarks/gpu_check.py. Without a CUDA GPU it says so and exits 0.
WHEELS ?= wheels
GPU_PYTHON_VERSION ?= 3.12
GPU_VENV ?= .venv-gpu

gpu-wheels: $(STAMP)
	grep -v -iE '^(#|torch==|triton==|nvidia-)' constraints.txt > $(WHEELS).requirements.txt
	$(BIN)/python -m pip download --quiet --prefer-binary --no-deps \
		--python-version $(GPU_PYTHON_VERSION) --implementation cp \
		--abi cp$(subst .,,$(GPU_PYTHON_VERSION)) --abi abi3 --abi none \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform linux_x86_64 --platform any \
		-d $(WHEELS) -r $(WHEELS).requirements.txt setuptools wheel
	@# Packages published only as source: build their (pure-Python) wheels here.
	@for sdist in $$(ls $(WHEELS)/*.tar.gz $(WHEELS)/*.zip 2>/dev/null); do \
		$(BIN)/python -m pip wheel --quiet --no-deps -w $(WHEELS) $$sdist && rm $$sdist; done
	mv $(WHEELS).requirements.txt $(WHEELS)/requirements.txt
	@du -sh $(WHEELS)

gpu-env:
	@test -n "$(PYTHON)" || { echo "give PYTHON=/path/to/python (with its CUDA torch)"; exit 1; }
	@$(PYTHON) -c 'import torch' || { echo "$(PYTHON) has no torch: install the CUDA torch of this machine first"; exit 1; }
	@test -f $(WHEELS)/requirements.txt || { echo "no $(WHEELS)/requirements.txt: run make gpu-wheels first"; exit 1; }
	$(PYTHON) -m venv --system-site-packages $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet --no-index --find-links $(WHEELS) -r $(WHEELS)/requirements.txt setuptools wheel
	$(GPU_VENV)/bin/python -m pip install --quiet --no-index --no-deps --no-build-isolation -e .
	@$(GPU_VENV)/bin/python -c 'import sys, torch, aemap; print("aemap", aemap.__version__, "on Python", sys.version.split()[0], "with torch", torch.__version__)'

gpu-check:
	@$(PYTHON) -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)' 2>/dev/null; rc=$$?; \
	if [ $$rc -eq 3 ]; then echo "gpu-check: no CUDA GPU for $(PYTHON) (torch.cuda.is_available() is False); nothing was run."; exit 0; fi; \
	if [ $$rc -ne 0 ]; then echo "gpu-check: $(PYTHON) cannot import torch; give PYTHON=/path/to/python with the machine's CUDA torch"; exit 1; fi; \
	$(MAKE) gpu-env PYTHON=$(PYTHON) WHEELS=$(WHEELS) GPU_VENV=$(GPU_VENV) && $(GPU_VENV)/bin/python benchmarks/gpu_check.py
