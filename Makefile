# Two commands for a newcomer:
#   make test        create .venv, install aemap with its test extras, run the tests
#   make reproduce   run the whole workflow with config.yaml on all cores
# Extra Snakemake arguments pass through: make reproduce ARGS="--profile profiles/slurm"

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.aemap-installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: test reproduce dryrun lint format constraints clean-results help

help:
	@echo "make test       - create $(VENV), install, run the test suite"
	@echo "make reproduce  - run the whole workflow (ARGS=... passes Snakemake arguments)"
	@echo "make dryrun     - show what the workflow would run (snakemake -n)"
	@echo "make lint       - snakemake --lint, snakefmt --check, ruff check, ruff format --check"
	@echo "make format     - snakefmt and ruff format (rewrites files)"

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
