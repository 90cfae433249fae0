# Set-up and entry points. `make paper` and `make test` are all a newcomer needs.
#
#   make paper                 set up, then run the workflow: results/paper.pdf
#   make paper ARGS="-n"       arguments for snakemake (here: a dry run)
#   make smoke                 the smoke configuration: results/smoke/paper.pdf in minutes
#   make figures               figures, tables and PDF from the committed results/*/*.csv only
#   make report                results/report.html: figures, summaries and PDF in one page
#   make status                how far a running sweep is: runs done and training, epochs, ETA
#   make test                  set up (with Slurm, for its test), then run the tests (ARGS: pytest)
#   make bench                 the benchmarks of bench/: results/bench/*.csv (on a quiet machine)
#   make lock                  rewrite requirements.lock from the current .venv

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
# Jobs and tests find the project's Python first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

SNAKEMAKE := $(BIN)/snakemake --snakefile Snakefile --workflow-profile workflow/profiles/default
# Rules that only redraw from the aggregated tables, <outdir>/<dataset>/{summary,history,
# latent_samples}.csv: those are the sources of `make figures`; the rules that write them
# (aggregate, histories, latent_samples) read the run directories and are not allowed here.
FIGURE_RULES := config_snapshot figures tex paper

.PHONY: paper smoke figures test bench setup system-deps lock

paper: setup
	$(SNAKEMAKE) --cores all $(ARGS)

smoke: setup
	$(SNAKEMAKE) --cores all --configfile workflow/config/smoke.yaml $(ARGS)

figures: setup
	$(SNAKEMAKE) --cores all --allowed-rules $(FIGURE_RULES) --forcerun figures tex $(ARGS) -- paper

# After `make paper` or `make figures`: Snakemake's report of what is built (REPORT=path to move it).
REPORT ?= results/report.html
.PHONY: report
report: setup
	$(SNAKEMAKE) --report $(REPORT) $(ARGS)

# While `make paper` runs (e.g. `watch -n 30 make status`); ARGS="--config <files> --outdir <dir>"
# for another configuration.
.PHONY: status
status: $(VENV)/.installed
	@$(BIN)/python -m klgap status $(ARGS)

test: setup
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh --slurm
	$(BIN)/python -m pytest $(ARGS)

# Each benchmark writes results/bench/<name>.csv and prints a line "SUMMARY <name>: ...".
# sweep_shares reads the workflow's per-job table of the paper run, results/benchmarks.csv.
BENCH_DATA := results/data/fashion_mnist.npz
bench: setup
	test -f $(BENCH_DATA) || $(BIN)/python -m klgap prepare --dataset fashion_mnist --out $(BENCH_DATA)
	$(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_step_parts.py
	$(BIN)/python bench/bench_batched.py
	$(BIN)/python bench/bench_estimators.py
	test ! -f results/benchmarks.csv || $(BIN)/python bench/sweep_shares.py results/benchmarks.csv

setup: system-deps $(VENV)/.installed

# Re-installs only when the lock or the package metadata changed.
$(VENV)/.installed: requirements.lock pyproject.toml | system-deps
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" \
		"(e.g. 'apt-get install python3.11-venv', or pyenv) or pass PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

system-deps:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh

lock: $(VENV)/.installed
	{ sed -n '1,3p' requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	touch $(VENV)/.installed
