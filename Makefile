# Set-up and entry points. `make paper` and `make test` are all a newcomer needs.
#
#   make paper                 set up, then the paper from the committed tables: results/paper.pdf
#   make paper ARGS="-n"       arguments for snakemake (here: a dry run)
#   make sweep                 train and evaluate the paper's sweep, then tables and paper
#   make shard-<name>          one shard of the sweep (config key shards): runs, tables, provenance
#   make verify                retrain a few committed runs here and compare with the tables
#   make smoke                 the smoke configuration: results/smoke/paper.pdf in minutes
#   make figures               figures, tables and PDF from the committed results/*/*.csv only
#   make report                results/report.html: figures, summaries and PDF in one page
#   make status                how far a running sweep is: runs done and training, epochs, ETA
#   make test                  set up (with Slurm when the slow tests run), then the tests
#                              (ARGS: pytest's, e.g. ARGS="-m 'not slow'")
#   make bench                 the benchmarks of bench/: results/bench/*.csv (on a quiet machine)
#   make lock                  resolve pyproject.toml in the environment, rewrite its Python's lock
#
# Variables: PYTHON=python3.12 (the interpreter that makes the environment; default below),
# VENV=.venv312 (the environment's directory, default .venv), SYSTEM_DEPS=skip (install no
# system packages: only list what is missing, and stop if the target needs it).

# Python 3.11, 3.12 and 3.13 are supported (pyproject.toml's requires-python), each with its own
# lock of exact versions, requirements/py<major.minor>.lock, made by `make lock` in a venv of that
# Python. The environment is VENV; the lock is chosen by the version of PYTHON.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
SYSTEM_DEPS ?= install
# "3.12" for an interpreter that runs, nothing otherwise. It is run, not only looked up with
# `command -v`: pyenv puts a shim on PATH for every installed version, and a shim of a version
# that is not selected exists but fails.
python_version = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV_PYTHON_VERSION := $(call python_version,$(BIN)/python)
# Default: an existing environment's own Python (so `make test VENV=.venv312` needs no PYTHON),
# else the first of python3.11, python3.12, python3.13 on PATH that runs.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(if $(VENV_PYTHON_VERSION),$(BIN)/python,$(firstword $(foreach version,\
	$(SUPPORTED_PYTHONS),$(if $(call python_version,python$(version)),python$(version)))))
endif
PYTHON_VERSION := $(if $(PYTHON),$(call python_version,$(PYTHON)))
LOCK := requirements/py$(PYTHON_VERSION).lock
# Jobs and tests find the project's Python first.
export PATH := $(abspath $(BIN)):$(PATH)

# Snakemake loads profiles/default by itself, so the bare `snakemake` command behaves the same.
SNAKEMAKE := $(BIN)/snakemake --snakefile Snakefile
# Rules that only redraw from the aggregated tables, <outdir>/<dataset>/{summary,history,
# latent_samples,sample_grids}.csv: those are the sources of `make figures`; the rules that write
# them (aggregate, histories, latent_samples, sample_grids) read the run directories and are not
# allowed here.
FIGURE_RULES := config_snapshot figures tex paper
# Snakemake locks the output root while it runs (.snakemake/locks; the profiles keep that lock, so
# a second workflow on the same files is refused). A run that was killed leaves its lock behind;
# every target that runs Snakemake first clears such a stale lock, but only when no Snakemake
# process runs in this directory (scripts/unlock-stale.sh says which, in one line).
UNLOCK_STALE := bash scripts/unlock-stale.sh $(SNAKEMAKE)

.PHONY: paper sweep verify smoke figures test bench setup venv system-deps lock

# The paper from the committed tables: figures, generated TeX and PDF; nothing is trained.
paper: setup
	@$(UNLOCK_STALE)
	$(SNAKEMAKE) --cores all $(ARGS)

# The sweep: trains and evaluates every run that is missing or out of date under results/runs/
# (on a fresh clone: all of them), then replaces the tables, provenance and the paper. Forcing
# the collecting rules is what makes Snakemake look behind the committed tables; they are
# rewritten only once every run is done. Interrupted, the same command resumes.
# From scratch where runs exist already: make sweep ARGS=--forceall.
# The paper's configuration has shards (config key shards): then make sweep runs every shard
# whose tables are not committed yet (make shard-<name> each), then combines them into the
# paper; a shard is the unit that resumes across days and machines (commit it when it finishes).
SWEEP_RULES := aggregate histories latent_samples sample_grids config_snapshot provenance
# With shards, the rules that combine the committed shards' tables and records. The
# configuration snapshot is brought up to date first, in a call of its own: Snakemake (9.27) drops
# a forced job whose only inputs from jobs that must run are ancient() files that exist, so a
# snapshot re-written in the same call would leave combine_provenance out.
COMBINE_RULES := combine_metrics combine_table combine_provenance
# The shard is named in a configuration file of its own (.snakemake/shard-<name>.yaml), not with
# --config, which ARGS may give too (Snakemake keeps the last --config only).
SHARD_FILE = mkdir -p .snakemake && printf 'shard: %s\n' $(1) > .snakemake/shard-$(1).yaml
# SWEEP_CONFIG: a configuration file applied over config/config.yaml (another sweep's, with or
# without shards).
SWEEP_CONFIG ?= config/config.yaml
SHARDS = $(shell $(BIN)/python -c 'import yaml; print(*(yaml.safe_load(open("$(SWEEP_CONFIG)")).get("shards") or {}))')
# The convergence study (config/convergence.yaml) is a sweep of its own:
# make sweep SWEEP_CONFIG=config/convergence.yaml.
sweep: setup
	@$(UNLOCK_STALE)
	$(if $(SHARDS),$(foreach shard,$(SHARDS),$(call SHARD_FILE,$(shard)) && $(SNAKEMAKE) --cores all --configfile $(SWEEP_CONFIG) .snakemake/shard-$(shard).yaml $(ARGS) &&) \
		$(SNAKEMAKE) --cores all --configfile $(SWEEP_CONFIG) $(ARGS) -- config_snapshot && \
		$(SNAKEMAKE) --cores all --configfile $(SWEEP_CONFIG) --forcerun $(COMBINE_RULES) $(ARGS),\
		$(SNAKEMAKE) --cores all --configfile $(SWEEP_CONFIG) --forcerun $(SWEEP_RULES) $(ARGS))

# One shard of the paper's sweep (make shard-<name>, a name of config key shards): its runs,
# tables, configuration snapshot and provenance (with the machine it ran on) under
# results/shards/<name>/. Does nothing when they are there (e.g. committed); to run it again,
# ARGS=--forceall. Same ARGS as sweep.
shard-%: setup
	@$(UNLOCK_STALE)
	@$(call SHARD_FILE,$*)
	$(SNAKEMAKE) --cores all --configfile $(SWEEP_CONFIG) .snakemake/shard-$*.yaml $(ARGS)

# Retrains a fixed sample of the committed runs here and compares (klgap/sweep/verify.py).
verify: setup
	$(BIN)/python -m klgap verify --results results $(ARGS)

smoke: setup
	@$(UNLOCK_STALE)
	$(SNAKEMAKE) --cores all --configfile config/smoke.yaml $(ARGS)

figures: setup
	@$(UNLOCK_STALE)
	$(SNAKEMAKE) --cores all --allowed-rules $(FIGURE_RULES) --forcerun figures tex $(ARGS) -- paper

# After `make paper` or `make figures`: Snakemake's report of what is built (REPORT=path to move it).
REPORT ?= results/report.html
.PHONY: report
report: setup
	@$(UNLOCK_STALE)
	$(SNAKEMAKE) --report $(REPORT) $(ARGS)

# While `make paper` runs (e.g. `watch -n 30 make status`); ARGS="--config <files> --outdir <dir>"
# for another configuration.
.PHONY: status
status: $(VENV)/.installed
	@$(BIN)/python -m klgap status $(ARGS)

# The slow tests include the Slurm test (tests/test_slurm.py), which needs Slurm and MUNGE: they
# are installed unless ARGS deselects the slow tests (-m 'not slow').
SLOW_TESTS := $(if $(findstring not slow,$(ARGS)),,--slurm)
test: setup
	@PYTHON=$(PYTHON) SYSTEM_DEPS=$(SYSTEM_DEPS) bash scripts/system-deps.sh --test $(SLOW_TESTS)
	$(BIN)/python -m pytest --durations=15 $(ARGS)

# Each benchmark writes results/bench/<name>.csv and prints a line "SUMMARY <name>: ...".
# sweep_shares reads the workflow's per-job table of the paper run, results/benchmarks.csv;
# bench_floor runs the smoke configuration and compares it and the paper run with the FLOP floor.
# bench_training also times a JAX/Flax model in the interpreter KLGAP_JAX_PYTHON (given on the
# command line, make bench KLGAP_JAX_PYTHON=/path/to/python, or in the environment), passed to it
# as --jax-python; without it the JAX measurement is skipped unless this environment has JAX.
BENCH_DATA := results/data/fashion_mnist.npz
bench: setup
	test -f $(BENCH_DATA) || $(BIN)/python -m klgap prepare --dataset fashion_mnist --out $(BENCH_DATA)
	$(BIN)/python bench/bench_training.py $(if $(KLGAP_JAX_PYTHON),--jax-python $(KLGAP_JAX_PYTHON))
	$(BIN)/python bench/bench_step_parts.py
	$(BIN)/python bench/bench_batched.py
	$(BIN)/python bench/bench_estimators.py
	$(BIN)/python bench/bench_evaluation.py
	test ! -f results/benchmarks.csv || $(BIN)/python bench/sweep_shares.py results/benchmarks.csv
	$(BIN)/python bench/bench_floor.py

setup: system-deps venv

# Stops with the problem and its fix when PYTHON cannot make or serve VENV (venv and lock).
define CHECK_PYTHON
@if [ -z "$(PYTHON)" ]; then echo "error: no Python 3.11, 3.12 or 3.13: python3.11, python3.12" \
	"and python3.13 are not on PATH (or do not run, like a pyenv shim of a version that is not" \
	"selected). Install one, e.g. 'apt-get install python3.11 python3.11-venv' or 'pyenv install" \
	"3.11' (and select it), or pass PYTHON=/path/to/python3.11" >&2; exit 1; fi
@if [ -z "$(PYTHON_VERSION)" ]; then echo "error: PYTHON=$(PYTHON) does not run (a pyenv shim of" \
	"a version that is not selected? then select it, e.g. PYENV_VERSION=3.12.1); pass" \
	"PYTHON=/path/to/python3.11 (or 3.12, 3.13)" >&2; exit 1; fi
@if [ -z "$(filter $(PYTHON_VERSION),$(SUPPORTED_PYTHONS))" ]; then echo "error: PYTHON=$(PYTHON)" \
	"is Python $(PYTHON_VERSION); klgap needs Python 3.11, 3.12 or 3.13 (pyproject.toml's" \
	"requires-python). Install one of those and pass PYTHON=python3.11 (or 3.12, 3.13)" >&2; exit 1; fi
@if [ -e $(VENV) ] && [ -z "$(VENV_PYTHON_VERSION)" ]; then echo "error: $(VENV) exists but" \
	"$(BIN)/python does not run (its Python was removed or moved?); remove it (rm -rf $(VENV))" \
	"and run make again" >&2; exit 1; fi
@if [ -n "$(VENV_PYTHON_VERSION)" ] && [ "$(VENV_PYTHON_VERSION)" != "$(PYTHON_VERSION)" ]; then \
	echo "error: $(VENV) has Python $(VENV_PYTHON_VERSION) but PYTHON=$(PYTHON) is Python" \
	"$(PYTHON_VERSION); leave PYTHON out to use $(VENV)'s, or give another VENV=directory," \
	"or remove $(VENV) to rebuild it" >&2; exit 1; fi
endef

# Installs when the lock or the package metadata differ from what the last install recorded in
# $(STAMP): by content, not modification time (a fresh checkout's times mean nothing). The hash
# is taken with Python's hashlib (sha256 of the lock followed by pyproject.toml, the same value as
# `cat ... | sha256sum`), so that no missing tool can make two empty hashes look equal and skip
# the installation.
STAMP := $(VENV)/.installed
SOURCES_HASH = $$($(PYTHON) -c 'import hashlib, sys; print(hashlib.sha256(b"".join(open(name, "rb").read() for name in sys.argv[1:])).hexdigest()[:16])' $(LOCK) pyproject.toml)
venv: | system-deps
	$(CHECK_PYTHON)
	@test -f $(LOCK) || { echo "error: no lock for Python $(PYTHON_VERSION): $(LOCK) is missing." \
		"Make it with 'make lock PYTHON=$(PYTHON) VENV=<new directory>', or use another" \
		"Python: $(notdir $(wildcard requirements/py*.lock))" >&2; exit 1; }
	@set -e; hash=$(SOURCES_HASH); \
	if [ -z "$$hash" ]; then echo "error: could not hash $(LOCK) and pyproject.toml" >&2; exit 1; fi; \
	if [ "$$(cat $(STAMP) 2>/dev/null)" != "$$hash" ]; then \
		set -x; \
		test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet -r $(LOCK); \
		$(BIN)/python -m pip install --quiet --no-deps -e .; \
		echo "$$hash" > $(STAMP); \
	fi

# SYSTEM_DEPS=skip installs nothing: it lists what is missing and stops only if LaTeX or the
# venv module is (scripts/system-deps.sh).
system-deps:
	@PYTHON=$(PYTHON) SYSTEM_DEPS=$(SYSTEM_DEPS) bash scripts/system-deps.sh

# The lock of PYTHON's version, from an actual installation: pip resolves pyproject.toml's
# dependencies in VENV (made with PYTHON if missing; what is installed and still satisfies them is
# kept), then `pip freeze` writes every version. For a new Python, or to re-resolve everything,
# use a fresh environment: make lock PYTHON=python3.13 VENV=.venv313. CONSTRAINTS=<a lock> keeps
# that lock's versions where they install (e.g. CONSTRAINTS=requirements/py3.11.lock for the
# other Pythons' locks, so that all three agree wherever they can).
CONSTRAINTS ?=
lock:
	$(CHECK_PYTHON)
	@set -e; set -x; \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet -e . $(if $(CONSTRAINTS),--constraint $(CONSTRAINTS)); \
	mkdir -p requirements; \
	{ echo "# Exact versions of every dependency for Python $(PYTHON_VERSION)" \
		"($$($(BIN)/python -c 'import platform; print(platform.system(), platform.machine())')),"; \
	  echo "# from 'pip freeze --exclude-editable' after 'pip install -e .' in a venv of that Python."; \
	  echo "# Install with: pip install -r $(LOCK) && pip install --no-deps -e ."; \
	  echo "# Regenerate after changing pyproject.toml: make lock (see the Makefile)"; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > $(LOCK).new; \
	mv $(LOCK).new $(LOCK); \
	echo "$(SOURCES_HASH)" > $(STAMP)
