# Set-up and entry points. `make paper` and `make test` are all a newcomer needs.
#
#   make paper                 set up, then the paper from the committed tables: results/paper.pdf
#   make paper ARGS="-n"       arguments for snakemake (here: a dry run)
#   make sweep                 train and evaluate the paper's sweep, then tables and paper
#   make sweep-<dataset>       one dataset's shard of the sweep: its runs and tables
#   make verify                retrain a few committed runs here and compare with the tables
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

# Snakemake loads profiles/default by itself, so the bare `snakemake` command behaves the same.
SNAKEMAKE := $(BIN)/snakemake --snakefile Snakefile
# Rules that only redraw from the aggregated tables, <outdir>/<dataset>/{summary,history,
# latent_samples,sample_grids}.csv: those are the sources of `make figures`; the rules that write
# them (aggregate, histories, latent_samples, sample_grids) read the run directories and are not
# allowed here.
FIGURE_RULES := config_snapshot figures tex paper

.PHONY: paper sweep verify smoke figures test bench setup venv system-deps lock

# The paper from the committed tables: figures, generated TeX and PDF; nothing is trained.
paper: setup
	$(SNAKEMAKE) --cores all $(ARGS)

# The sweep: trains and evaluates every run that is missing or out of date under results/runs/
# (on a fresh clone: all of them), then replaces the tables, provenance and the paper. Forcing
# the collecting rules is what makes Snakemake look behind the committed tables; they are
# rewritten only once every run is done. Interrupted, the same command resumes.
# From scratch where runs exist already: make sweep ARGS=--forceall.
# The configuration's snapshot and the provenance are forced too: after shards (make sweep-<dataset>)
# their inputs may all be older than the committed files, and they must describe this sweep.
SWEEP_RULES := aggregate histories latent_samples sample_grids config_snapshot provenance
sweep: setup
	$(SNAKEMAKE) --cores all --forcerun $(SWEEP_RULES) $(ARGS)

# One dataset's shard of the sweep (make sweep-digits, sweep-fashion_mnist, sweep-mnist): its runs
# and its tables only, so that a part can be (re-)run alone; `make sweep` then adds the rest,
# provenance and the paper. Same ARGS as sweep.
SHARD_TABLES := metrics summary history latent_samples sample_grids
sweep-%: setup
	$(SNAKEMAKE) --cores all --forcerun $(SWEEP_RULES) $(ARGS) -- \
		$(foreach table,$(SHARD_TABLES),results/$*/$(table).csv)

# Retrains a fixed sample of the committed runs here and compares (klgap/sweep/verify.py).
verify: setup
	$(BIN)/python -m klgap verify --results results $(ARGS)

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
	$(BIN)/python -m pytest --durations=15 $(ARGS)

# Each benchmark writes results/bench/<name>.csv and prints a line "SUMMARY <name>: ...".
# sweep_shares reads the workflow's per-job table of the paper run, results/benchmarks.csv;
# bench_floor runs the smoke configuration and compares it and the paper run with the FLOP floor.
BENCH_DATA := results/data/fashion_mnist.npz
bench: setup
	test -f $(BENCH_DATA) || $(BIN)/python -m klgap prepare --dataset fashion_mnist --out $(BENCH_DATA)
	$(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_step_parts.py
	$(BIN)/python bench/bench_batched.py
	$(BIN)/python bench/bench_estimators.py
	$(BIN)/python bench/bench_evaluation.py
	test ! -f results/benchmarks.csv || $(BIN)/python bench/sweep_shares.py results/benchmarks.csv
	$(BIN)/python bench/bench_floor.py

setup: system-deps venv

# Installs when the lock or the package metadata differ from what the last install recorded in
# $(STAMP): by content, not modification time (a fresh checkout's times mean nothing).
STAMP := $(VENV)/.installed
SOURCES_HASH = $$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
venv: | system-deps
	@if [ "$$(cat $(STAMP) 2>/dev/null)" != "$(SOURCES_HASH)" ]; then \
		command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" \
			"(e.g. 'apt-get install python3.11-venv', or pyenv) or pass PYTHON=/path/to/python3.11"; exit 1; }; \
		set -x; \
		test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet -r requirements.lock && \
		$(BIN)/python -m pip install --quiet --no-deps -e . && \
		echo "$(SOURCES_HASH)" > $(STAMP); \
	fi

system-deps:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh

lock: venv
	{ sed -n '1,3p' requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	echo "$(SOURCES_HASH)" > $(STAMP)
