# Helpers shared by the rules: configuration checks, the sweep, output paths, provenance.
# Functions only (no rules), so that every rule file reads as a list of steps.

import os
import shlex
import sys
from pathlib import Path

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from klgap.config import checks
from klgap.paper import figure_registry
from klgap.sweep import collected_files, layout, scheduling, shards, study, verify
from klgap.training import objectives
from klgap.sweep.provenance import git_commit

# One run, and its directory below the output root: klgap.sweep.layout's pattern, so the two agree.
RUN_ID = f"{{dataset}}/{layout.RUN_PATTERN}"
RUN = f"runs/{RUN_ID}"
# Figures drawn by `klgap figures NAME`, each as <outdir>/figures/NAME.pdf (+ .png preview),
# with the aggregated tables each is drawn from (<outdir>/<dataset>/<table>.csv, every dataset).
FIGURES = figure_registry.FIGURE_TABLES

# Files of the repository. The paper's generated parts come from <outdir>/tex and /figures.
SCRIPTS = REPO / "workflow" / "scripts"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DATASETS = yaml.safe_load(SCHEMA.read_text())["properties"]["datasets"]["items"]["enum"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    objective="|".join(objectives.OBJECTIVES),
    latent_dim=r"[0-9]+",
    weight_name="|".join(sorted({objectives.weight_name(name) for name in objectives.OBJECTIVES})),
    weight=r"[0-9]+(\.[0-9]+)?(e[+-][0-9]+)?",
    seed=r"[0-9]+",
    figure="|".join(FIGURES),
    # empty, or classes<labels>/ for a run on some classes (klgap.sweep.layout.subset_dir)
    subset=r"(classes[0-9]+(-[0-9]+)*/)?",


# Jobs run the Python that runs Snakemake (the project's .venv), activated or not.
shell.prefix(
    f'set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:"$PATH"; '
)


def check_config(config, schema):
    """Validates the config against the schema (filling defaults); stops naming the bad key.

    Args:
      config: the merged configuration (files, then --config); fixed up in place.
      schema: path of the JSON schema (YAML).

    Raises:
      WorkflowError: one line naming the key, the problem and what the key means.
    """
    for key in list(config):
        config[key] = checks.from_command_line(key, config[key])
    try:
        validate(config, schema=schema)
    except WorkflowError as error:
        cause = error.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        properties = yaml.safe_load(Path(schema).read_text())["properties"]
        raise WorkflowError(
            f"Invalid configuration: {checks.explain(cause, config, properties)}"
        ) from None
    for problem in checks.cross_key_problems(config):
        raise WorkflowError(f"Invalid configuration: {problem}")


def gpu_percent_per_run():
    """The share of one GPU, in percent, that a training or evaluation job declares (klgap.config.checks)."""
    return checks.gpu_percent_per_run(config)


def epochs_for(dataset):
    """Returns the training epochs of a dataset (config key ``epochs``: a number or a mapping)."""
    return checks.epochs_for(config, dataset)


def out(*parts):
    """Returns a path below the configuration's output root."""
    return os.path.join(config["outdir"], *parts)


def sweep(dataset=None):
    """Returns the runs of the sweep (klgap.sweep.layout.Run), optionally of one dataset only."""
    return layout.sweep(config, dataset)


def expected_runs(wildcards):
    """Formats one dataset's expected runs for the collecting commands' --runs option."""
    return joined([str(layout.run_subdir(run)) for run in sweep(wildcards.dataset)], shlex.quote)


def run_files(dataset, name):
    """Lists one file of every run of a dataset that a collecting rule waits for."""
    return collected_files.run_files(config, dataset, name)


def metrics_files(wildcards):
    """Lists the metrics.json files that aggregate waits for, for one dataset."""
    return run_files(wildcards.dataset, "metrics.json")


def history_files(wildcards):
    """Lists the history.csv files that histories waits for, for one dataset."""
    return run_files(wildcards.dataset, "history.csv")


def run_records(wildcards):
    """Lists every run's run.json and metrics.json (all datasets), that provenance describes."""
    return [
        path
        for dataset in config["datasets"]
        for name in ("run.json", "metrics.json")
        for path in run_files(dataset, name)
    ]


def latent_posterior_files(wildcards):
    """Lists the test posteriors that latent_samples reads, for one dataset."""
    return collected_files.latent_posterior_files(config, wildcards.dataset)


def sample_grid_files(wildcards):
    """Lists the samples.npz files that sample_grids reads, for one dataset."""
    return collected_files.sample_grid_files(config, wildcards.dataset)


def latent_space_grids(dataset):
    """Objective -> the weights whose 2-D latent spaces latent_samples draws."""
    return collected_files.latent_space_grids(config, dataset)


def other_latent_spaces(wildcards):
    """Formats the other objectives' 2-D grids for `klgap latent-samples --also`."""
    grids = latent_space_grids(wildcards.dataset)
    return " ".join(
        f"{objective}={','.join(layout.format_weight(w) for w in weights)}"
        for objective, weights in grids.items()
        if objective != config["objective"]
    )


def has_latent_space(dataset=None):
    """Whether the sweep has 2-D runs of the main grid's objective (of one dataset, or any)."""
    return collected_files.has_latent_space(config, dataset)


def figures_drawn():
    """Names the figures of this configuration: those the paper includes (drawn from latent
    samples only with 2-D runs in the sweep)."""
    if not config["paper_dir"]:
        return []
    return [
        name
        for name in figure_registry.figures_in_paper(paper_dir())
        if "latent_samples" not in FIGURES[name] or has_latent_space()
    ]


def latent_sample_tables():
    """Lists the latent_samples tables of the configuration (of datasets with 2-D runs)."""
    return [
        out(dataset, "latent_samples.csv")
        for dataset in swept_datasets()
        if has_latent_space(dataset)
    ]


def swept_datasets():
    """The datasets with runs in this sweep (a shard's may be fewer than config key datasets; a
    partial combination of shards leaves out those none of whose shards has run)."""
    datasets = [dataset for dataset in config["datasets"] if sweep(dataset)]
    if COMBINES_SHARDS and config["partial"]:
        datasets = [dataset for dataset in datasets if shard_tables(dataset, "metrics")]
    return datasets


def aggregated_tables():
    """Lists every aggregated table of the configuration (the sources of `make figures`)."""
    return [
        out(dataset, f"{table}.csv")
        for dataset in swept_datasets()
        for table in ["metrics", "summary", "history", "sample_grids"]
        + (["latent_samples"] if has_latent_space(dataset) else [])
    ]


def figure_tables(wildcards):
    """Returns the tables a figure is drawn from, by table name: one file per dataset."""
    return {
        table: expand(out("{dataset}/{table}.csv"), dataset=swept_datasets(), table=table)
        for table in FIGURES[wildcards.figure]
    }


def figure_table_options(wildcards, input):
    """Formats a figure's tables as options of `klgap figures` (e.g. `--summaries a.csv b.csv`)."""
    return " ".join(
        " ".join([figure_registry.table_option(table), *map(shlex.quote, input[table])])
        for table in FIGURES[wildcards.figure]
    )


def figure_sources():
    """Formats the figures drawn, with their tables, for `klgap tex --figures` (NAME=TABLE,...)."""
    return " ".join(f"{name}={','.join(FIGURES[name])}" for name in figures_drawn())


def training_options(wildcards):
    """The options that `klgap train` and `klgap train-together` share, as shell words."""
    return (
        f"--objective {wildcards.objective} --latent-dim {wildcards.latent_dim}"
        f" --epochs {epochs_for(wildcards.dataset)} --batch-size {config['batch_size']}"
        f" --learning-rate {config['learning_rate']} --hidden {joined(config['hidden'])}"
        f" --network {config['network']}"
    )


def run_options(wildcards):
    """The options of `klgap train` alone (for the job of rule run), the classes of a run on some classes
    (wildcard subset) and the VampPrior's K (config key num_pseudo_inputs)."""
    classes = layout.parse_classes_label(
        wildcards.subset[len("classes") : -1] if wildcards.subset else "all"
    )
    return f"--num-pseudo-inputs {config['num_pseudo_inputs']}" + (
        f" --classes {joined(classes)}" if classes else ""
    )


def evaluation_outputs():
    """What an evaluation writes into a run's directory (rule run, or rule evaluate)."""
    return {
        name: out(RUN, file)
        for name, file in (
            ("metrics", "metrics.json"),
            ("posterior_test", "posterior_test.npz"),
            ("posterior_train", "posterior_train.npz"),
            ("samples", "samples.npz"),
        )
    }


def evaluation_options(wildcards):
    """The options of what an evaluation computes (`evaluate`, `train-and-evaluate`)."""
    return (
        f"--iw-samples {config['iw_samples']}"
        f" --minibatch-sizes {joined(config['minibatch_sizes'])}"
        f" --ais-examples {config['ais_examples']} --ais-steps {config['ais_steps']}"
        f" --ais-chains {config['ais_chains']}"
    )


# Median run time of each kind of run in the committed shards' records: the longest start first.
RUN_SECONDS = scheduling.expected_seconds(sorted(REPO.glob("results/shards/*/benchmarks.csv")))


def run_priority(wildcards):
    """A run's priority: longer kinds of runs start earlier (klgap.sweep.scheduling)."""
    kind = f"{wildcards.dataset}/{wildcards.objective}/{wildcards.subset}z{wildcards.latent_dim}"
    return scheduling.run_priority(kind, RUN_SECONDS)


def features_file(dataset):
    """The feature network of a dataset: <features_dir>/<dataset>.npz, by default
    <outdir>/features/ of the sweep's output root, also for its shards (BASE_OUTDIR: the outdir
    before a shard's own)."""
    directory = config["features_dir"] or os.path.join(BASE_OUTDIR, "features")
    return os.path.join(directory, f"{dataset}.npz")


def shard_tables(dataset, table):
    """The shards' tables of one dataset that this output root combines (klgap.sweep.shards)."""
    try:
        return shards.shard_tables(config, dataset, table)
    except shards.UserError as error:
        raise WorkflowError(str(error)) from None


def shard_provenance():
    """Each shard's provenance.json, by shard name (klgap.sweep.shards)."""
    try:
        return shards.shard_provenance(config)
    except shards.UserError as error:
        raise WorkflowError(str(error)) from None


def default_targets():
    """What `snakemake` makes by default: a shard's tables and provenance (nothing for a shard in
    partial mode none of whose runs has finished), or (with a paper, config key paper_dir) the
    paper too."""
    if collected_files.partial_shard_is_empty(config):
        print(
            f"shard {config['shard']}: none of its runs has finished and partial: true trains "
            "none, so nothing is written (its empty tables would pass for a finished shard); "
            "run the shard without partial.",
            file=sys.stderr,
        )
        return []
    targets = [out("config.yaml"), out("provenance.json"), *aggregated_tables()]
    if config["shard"] or not config["paper_dir"]:
        return targets
    return targets + [
        out("paper.pdf"),
        *expand(out("figures/{figure}.{ext}"), figure=figures_drawn(), ext=["pdf", "png"]),
    ]


def joined(values, format_value=str):
    """Formats a list of validated numbers as command-line words."""
    return " ".join(format_value(value) for value in values)


def data_dir_option(wildcards):
    """Returns the `--data-dir` option of `klgap prepare` for one dataset, quoted, or nothing.

    Config key data_dir: one directory for every IDX dataset, or a mapping per dataset.
    """
    data_dir = config["data_dir"]
    if isinstance(data_dir, dict):
        data_dir = data_dir.get(wildcards.dataset)
    if data_dir is None or wildcards.dataset == "digits":  # digits ship with scikit-learn
        return ""
    return f"--data-dir {shlex.quote(str(data_dir))}"


def config_label():
    """Names the configuration: its files in the order they apply, then keys set by --config."""
    settings = workflow.config_settings
    from_command_line = [Path(path) for path in settings.configfiles]
    from_snakefile = [
        Path(path)
        for path in workflow.configfiles
        if Path(path).absolute() not in from_command_line
    ]
    files = [path.name for path in from_snakefile + from_command_line]
    overrides = sorted(settings.config or {})
    label = " + ".join(files) or "schema defaults"
    return label + (f" + --config {', '.join(overrides)}" if overrides else "")


def config_hash():
    """Returns a short hash of what in the configuration changes results (as printed on the paper)."""
    return checks.config_hash(config)


def code_version():
    """Returns the git commit of the workflow (``-dirty`` if modified), or ``unknown``."""
    return git_commit(REPO)


def paper_dir():
    """The paper's hand-written sources (config key paper_dir), as a path in the repository."""
    return REPO / config["paper_dir"]


def cross_cpu_report():
    """The committed report of the sweep's runs re-run on another CPU that the paper quotes
    (klgap.sweep.verify.CROSS_CPU_REPORT under the output root), or none. Committed: ancient()."""
    path = Path(out(verify.CROSS_CPU_REPORT))
    return [ancient(str(path))] if path.is_file() else []


def study_tables(table):
    """The convergence study's tables (metrics or history) that the paper reads (config key
    convergence_study; klgap.sweep.study). Committed files: ancient()."""
    try:
        return [ancient(str(path)) for path in study.study_tables(REPO, config, table)]
    except study.UserError as error:
        raise WorkflowError(str(error)) from None


def paper_sources():
    """Lists the hand-written sources of the paper besides main.tex (TeX files, bibliography)."""
    return sorted(
        str(path)
        for pattern in ("*.tex", "sections/*.tex", "*.bib")
        for path in paper_dir().glob(pattern)
        if path.name != "main.tex"
    )


def write_config_snapshot(path, log):
    """Writes the validated configuration, with its label, as YAML; notes it in ``log``."""
    from klgap.atomic import write_text

    header = (
        f"# Configuration of this output root, as validated by the workflow.\n"
        f"# From: {config_label()}\n# Hash: {config_hash()}\n"
    )
    write_text(path, header + yaml.safe_dump(checks.snapshot(dict(config)), sort_keys=True))
    Path(log).write_text(f"wrote {path} (config hash {config_hash()})\n")
