"""Tests of the Snakemake workflow: lint, planned jobs, config checks, and the smoke run end to end.

Snakemake always runs in a temporary working directory with a temporary `outdir`, so the tests
never touch the repository's results.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from klgap.data import datasets as data
from klgap.evaluation import evaluate
from klgap.paper import figure_registry
from klgap.sweep import layout

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIGS = REPO / "config"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
FIGURES = figure_registry.figures_in_paper(REPO / "paper")  # the figures the workflow draws
# Per dataset, the aggregated tables that are committed and are the sources of `make figures`.
TABLES = ["metrics", "summary", "history", "latent_samples", "sample_grids"]
# The splits evaluated for the digits dataset (1,437 training images): test, the same-size train
# subset, the whole training split and its nested subsets below that size.
DIGITS_TRAIN_SIZE = 1437
SPLITS = ["test", "train", "train_full"] + [f"train_n{size}" for size in evaluate.NESTED_SIZES
                                            if size < DIGITS_TRAIN_SIZE]
# The paper's grid planned as one part (config.yaml has shards; a --config `shards` replaces them).
ONE_PART = "shards={}"
# The only lint we accept: the software stack is the locked .venv built by `make`, not per-rule
# conda environments or containers.
ACCEPTED_LINTS = {"Specify a conda environment or container for each rule."}


def snakemake(workdir, *args, timeout=600, profile="default"):
    """Runs Snakemake on the repository's Snakefile inside ``workdir``.

    Args:
      workdir: working directory of the run.
      *args: further command-line arguments.
      timeout: seconds before the run is killed (the test then fails).
      profile: name of the workflow profile, a directory in profiles/.

    Returns:
      The completed process; ``stdout`` holds both output streams (Snakemake's log goes to either).
    """
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"),
               "--workflow-profile", str(REPO / "profiles" / profile), *args]
    return subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def job_counts(output):
    """Parses the "Job stats" table of a Snakemake run into {rule: count}."""
    table = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)
            if m[1] != "total"}


def load_config(name):
    """Reads one of the configuration files."""
    return yaml.safe_load((CONFIGS / name).read_text())


def expected_runs(config):
    """Lists the runs of a configuration, computed from its axes."""
    return layout.sweep({"experiments": [], **config})


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint")
    lints = set(re.findall(r"^\s+\* (.+?):$", result.stdout, re.MULTILINE))
    assert lints <= ACCEPTED_LINTS, result.stdout
    assert "Lints for snakefile" not in result.stdout


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml"])
def test_config_files_set_every_key(name):
    # smoke.yaml is applied on top of config.yaml: it must not inherit any paper setting.
    assert set(load_config(name)) == set(yaml.safe_load(SCHEMA.read_text())["properties"])


def test_schema_datasets_are_the_package_datasets():
    enum = yaml.safe_load(SCHEMA.read_text())["properties"]["datasets"]["items"]["enum"]
    assert enum == list(data.LOADERS)


@pytest.fixture(scope="module")
def paper_plan(tmp_path_factory):
    """The dry run of the paper's grid as one part (-p) and its output root."""
    workdir = tmp_path_factory.mktemp("paper_plan")
    outdir = workdir / "out"
    return snakemake(workdir, "-n", "-p", "--config", f"outdir={outdir}", ONE_PART), outdir


def test_dry_run_plans_one_job_per_run(paper_plan):
    config = load_config("config.yaml")
    result, outdir = paper_plan
    assert result.returncode == 0, result.stdout
    runs = expected_runs(config)
    n_datasets = len(config["datasets"])
    assert job_counts(result.stdout) == {
        "prepare": n_datasets, "classifier": n_datasets, "feature_network": n_datasets,
        "run": len(runs),
        "aggregate": n_datasets, "histories": n_datasets, "latent_samples": n_datasets,
        "sample_grids": n_datasets, "figures": len(FIGURES), "tex": 1, "paper": 1,
        "config_snapshot": 1, "provenance": 1, "machine": 1, "all": 1}
    rundirs = set(re.findall(r"klgap train-and-evaluate .*--rundir (\S+)", result.stdout))
    assert rundirs == {str(layout.run_dir(outdir, run)) for run in runs}
    assert re.search(r"klgap train-and-evaluate .*--classifier .*--features .*--ais-examples \d+"
                     r" .*--threads \d+", result.stdout)


def test_an_existing_feature_network_is_not_retrained_when_its_data_is_prepared_again(tmp_path):
    # A shard (or a clone) prepares its data again; a committed network stays as it is, and only a
    # missing one is trained.
    config = load_config("config.yaml")
    kept, *missing = config["datasets"]
    features = tmp_path / "out" / "features"
    features.mkdir(parents=True)
    (features / f"{kept}.npz").write_bytes(b"committed")
    result = snakemake(tmp_path, "-n", "-p", "--config", f"outdir={tmp_path / 'out'}", ONE_PART)
    assert result.returncode == 0, result.stdout
    assert job_counts(result.stdout)["prepare"] == len(config["datasets"])
    assert job_counts(result.stdout).get("feature_network", 0) == len(missing)
    trained = re.findall(r"klgap feature-network .*--out (\S+)", result.stdout)
    assert sorted(trained) == sorted(str(features / f"{name}.npz") for name in missing)
    assert (features / f"{kept}.npz").read_bytes() == b"committed"


def test_paper_sweep_plans_every_run_of_its_grids(paper_plan):
    config = load_config("config.yaml")
    result, outdir = paper_plan
    assert result.returncode == 0, result.stdout
    runs = expected_runs(config)
    assert {run.objective for run in runs} == {"vae", "mmd", "infovae", "wae", "waelogvar",
                                               "tcvae", "vamp", "classprior"}
    assert job_counts(result.stdout)["run"] == len(runs)
    rundirs = set(re.findall(r"klgap train-and-evaluate .*--rundir (\S+)", result.stdout))
    assert rundirs == {str(layout.run_dir(outdir, run)) for run in runs}
    assert "--lambda 3000 " in result.stdout and "wae/z10/lambda3000/seed2" in result.stdout
    assert "vae/classes1/z10/beta1/seed1" in result.stdout


def test_paper_sweep_in_shards_combines_the_committed_ones_without_training(tmp_path):
    # The paper's configuration as `make paper` runs it: the committed shards' tables are
    # combined, nothing is trained.
    result = snakemake(tmp_path, "-n", "-p", "--config", f"outdir={REPO / 'results'}")
    assert result.returncode == 0, result.stdout
    counts = job_counts(result.stdout) if "Job stats" in result.stdout else {}
    assert not {"prepare", "run", "feature_network", "classifier"} & set(counts), counts


def test_batched_training_plans_one_job_per_cell_with_its_seeds(tmp_path):
    config = load_config("config.yaml")
    result = snakemake(tmp_path, "-n", "-p", "--config", f"outdir={tmp_path / 'out'}",
                       "batched_training=true", "experiments=[]", ONE_PART)
    assert result.returncode == 0, result.stdout
    runs = expected_runs({**config, "experiments": []})
    counts = job_counts(result.stdout)
    assert "run" not in counts
    assert counts["train_together"] == len(runs) // len(config["seeds"])
    assert counts["evaluate"] == len(runs)
    planned = re.findall(r"klgap train-together .*--rundirs (.+?) --seeds (.+?) --betas (\S+)",
                         result.stdout)
    rundirs = [dirs.split() for dirs, _, _ in planned]
    assert {d for dirs in rundirs for d in dirs} == {
        str(layout.run_dir(tmp_path / "out", run)) for run in runs}
    for dirs, seeds, beta in planned:  # each job: one cell, every seed in order
        assert seeds.split() == [str(s) for s in config["seeds"]]
        assert [Path(d).name for d in dirs.split()] == [f"seed{s}" for s in config["seeds"]]
        assert {Path(d).parent.name for d in dirs.split()} == {f"beta{beta}"}


def test_figures_dry_run_needs_only_the_aggregated_tables(tmp_path):
    # As `make figures`: only the Makefile's FIGURE_RULES, with the tables (no runs) as sources.
    makefile = (REPO / "Makefile").read_text()
    figure_rules = re.search(r"^FIGURE_RULES := (.+)$", makefile, re.MULTILINE)[1].split()
    outdir = tmp_path / "out"
    for dataset in load_config("config.yaml")["datasets"]:
        (outdir / dataset).mkdir(parents=True)
        for table in TABLES:
            (outdir / dataset / f"{table}.csv").write_text("synthetic\n")
    for record in ("provenance.json", "benchmarks.csv"):  # committed beside the tables
        (outdir / record).write_text("synthetic\n")
    result = snakemake(tmp_path, "-n", "-p", "--allowed-rules", *figure_rules,
                       "--forcerun", "figures", "tex", "--config", f"outdir={outdir}",
                       ONE_PART, "--", "paper")
    assert result.returncode == 0, result.stdout
    assert job_counts(result.stdout) == {"figures": len(FIGURES), "tex": 1, "paper": 1,
                                         "config_snapshot": 1}  # config.yaml is not given
    assert "latent_samples.csv" in result.stdout and "history.csv" in result.stdout
    # Without the figure tables, the run stops instead of reading the (absent) runs.
    (outdir / load_config("config.yaml")["datasets"][0] / "history.csv").unlink()
    result = snakemake(tmp_path, "-n", "--allowed-rules", *figure_rules, "--config",
                       f"outdir={outdir}", ONE_PART, "--", "paper")
    assert result.returncode != 0
    assert "history.csv" in result.stdout


def test_dry_run_without_2d_runs_has_no_latent_space(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", f"outdir={tmp_path / 'out'}",
                       "latent_dims=[10]", "experiments=[]", ONE_PART)
    assert result.returncode == 0, result.stdout
    counts = job_counts(result.stdout)
    from_samples = [name for name in FIGURES
                    if "latent_samples" in figure_registry.FIGURE_TABLES[name]]
    assert from_samples and counts["figures"] == len(FIGURES) - len(from_samples)
    assert "latent_samples" not in counts


def test_command_line_overrides_datasets_data_dir_and_outdir(tmp_path):
    result = snakemake(tmp_path, "-n", "-p", "--config", "datasets=[mnist]",
                       "data_dir=idx files/mnist", f"outdir={tmp_path / 'elsewhere'}", ONE_PART)
    assert result.returncode == 0, result.stdout
    prepare = re.findall(r"python -m klgap prepare .*", result.stdout)
    assert len(prepare) == 1
    assert "--dataset mnist" in prepare[0] and "--data-dir 'idx files/mnist'" in prepare[0]
    assert f"--out {tmp_path / 'elsewhere'}/data/mnist.npz" in prepare[0]


def test_partial_mode_schedules_no_training(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", f"outdir={tmp_path / 'out'}", "partial=true",
                       ONE_PART)
    assert result.returncode == 0, result.stdout
    counts = job_counts(result.stdout)
    assert "run" not in counts and "evaluate" not in counts
    n_datasets = len(load_config("config.yaml")["datasets"])
    assert (counts["aggregate"] == counts["histories"] == counts["latent_samples"]
            == counts["sample_grids"] == n_datasets)


@pytest.mark.parametrize("override, key", [
    ("datasets=[digits,cifar10]", "datasets"),
    ("weights=[0.5,-1]", "weights"),
    ("seeds=[]", "seeds"),
    ("epoch=3", "epoch"),
    ("outdir=results;rm", "outdir"),
    ("runs_per_gpu=0", "runs_per_gpu"),
])
def test_invalid_config_stops_before_any_job_naming_the_key(tmp_path, override, key):
    result = snakemake(tmp_path, "-n", "--config", override)
    assert result.returncode != 0
    message = next(line for line in result.stdout.splitlines() if "Invalid configuration" in line)
    assert re.search(rf"\b{key}\b", message), message
    assert "Building DAG" not in result.stdout


def test_misspelt_key_in_a_config_file_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("outdir: out\nlatent_dim: [2]\n")
    result = snakemake(tmp_path, "-n", "--configfile", str(bad))
    assert result.returncode != 0
    assert "unknown config key 'latent_dim' (did you mean 'latent_dims'?)" in result.stdout


def planned_resources(output, rule):
    """Parses the "resources:" line of every planned job of one rule into {name: value}."""
    blocks = re.findall(rf"^rule {rule}:\n((?:    .*\n)+)", output, re.MULTILINE)
    lines = [re.search(r"^    resources: (.*)$", block, re.MULTILINE)[1] for block in blocks]
    return [dict(item.split("=", 1) for item in line.split(", ")) for line in lines]


@pytest.mark.parametrize("runs_per_gpu", [1, 3, 10])
def test_gpu_jobs_declare_a_share_of_one_gpu(tmp_path, runs_per_gpu):
    result = snakemake(tmp_path, "-n", "--configfile", str(CONFIGS / "smoke.yaml"), "--config",
                       f"outdir={tmp_path / 'out'}", "gpus_per_run=1",
                       f"runs_per_gpu={runs_per_gpu}", "--resources", "gpu_percent=100")
    assert result.returncode == 0, result.stdout
    for rule in ("run",):
        jobs = planned_resources(result.stdout, rule)
        assert len(jobs) == len(expected_runs(load_config("smoke.yaml")))
        for resources in jobs:
            assert resources["gpu"] == "1"
            # With --resources gpu_percent=100, exactly runs_per_gpu such jobs fit at once.
            assert 100 // int(resources["gpu_percent"]) == runs_per_gpu


def test_cpu_configuration_declares_no_gpu(tmp_path):
    result = snakemake(tmp_path, "-n", "--configfile", str(CONFIGS / "smoke.yaml"), "--config",
                       f"outdir={tmp_path / 'out'}")
    assert result.returncode == 0, result.stdout
    jobs = planned_resources(result.stdout, "run")
    assert jobs and all(r["gpu"] == "0" and r["gpu_percent"] == "0" for r in jobs)


def test_epochs_per_dataset(tmp_path):
    per_dataset = tmp_path / "epochs.yaml"
    per_dataset.write_text("datasets: [digits, fashion_mnist]\n"
                           "epochs: {digits: 7, fashion_mnist: 3}\nshards: {}\n")
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(per_dataset),
                       "--config", f"outdir={tmp_path / 'out'}")
    assert result.returncode == 0, result.stdout
    for dataset, epochs in (("digits", 7), ("fashion_mnist", 3)):
        commands = re.findall(rf"klgap train-and-evaluate --data \S+/{dataset}.npz .*",
                              result.stdout)
        assert commands and all(f"--epochs {epochs} " in c for c in commands)
    per_dataset.write_text("epochs: {digits: 0}\nshards: {}\n")
    result = snakemake(tmp_path, "-n", "--configfile", str(per_dataset))
    assert result.returncode != 0
    assert "config key epochs" in result.stdout


@pytest.mark.slow
def test_smoke_configuration_end_to_end(tmp_path):
    if not shutil.which("latexmk") or not shutil.which("pdfinfo"):
        pytest.fail("latexmk and pdfinfo are needed: run `make test`, which installs them")
    config = load_config("smoke.yaml")
    outdir = tmp_path / "out"
    repo_results = sorted((REPO / "results").rglob("*")) if (REPO / "results").exists() else []
    result = snakemake(tmp_path, "--cores", "2", "--configfile", str(CONFIGS / "smoke.yaml"),
                       "--config", f"outdir={outdir}", timeout=900)
    assert result.returncode == 0, result.stdout[-5000:]

    pages = subprocess.run(["pdfinfo", str(outdir / "paper.pdf")], capture_output=True,
                           text=True, check=True).stdout
    assert int(re.search(r"^Pages:\s+(\d+)", pages, re.MULTILINE)[1]) >= 1

    runs = expected_runs(config)
    for dataset in config["datasets"]:
        metrics = pd.read_csv(outdir / dataset / "metrics.csv")
        dataset_runs = [r for r in runs if r.dataset == dataset]
        assert list(metrics.columns[:7]) == ["dataset", "objective", "classes", "latent_dim",
                                             "weight", "seed", "split"]
        every_class = metrics[metrics["classes"] == "all"]
        whole_runs = [r for r in dataset_runs if r.classes is None]
        assert len(every_class) == len(whole_runs) * len(SPLITS)
        got = set(every_class[["objective", "latent_dim", "weight", "seed", "split"]].itertuples(
            index=False))
        assert got == {(r.objective, r.latent_dim, r.weight, r.seed, s)
                       for r, s in itertools.product(whole_runs, SPLITS)}
        for run in (r for r in dataset_runs if r.classes is not None):  # fewer nested subsets
            rows = metrics[metrics["classes"] == layout.classes_label(run.classes)]
            assert {"test", "train", "train_full"} <= set(rows["split"]) <= set(SPLITS)
            assert (rows["n"][rows["split"] == "train_full"] < DIGITS_TRAIN_SIZE).all()
        summary = pd.read_csv(outdir / dataset / "summary.csv")
        assert (summary["n_runs"] == summary["n_expected"]).all()  # experiments: other seeds
        history = pd.read_csv(outdir / dataset / "history.csv")
        assert len(history) == len(dataset_runs) * config["epochs"]
        assert list(history.columns[:7]) == ["dataset", "objective", "classes", "latent_dim",
                                             "weight", "seed", "epoch"]
        samples = pd.read_csv(outdir / dataset / "latent_samples.csv")
        main_grid = samples[samples["objective"] == config["objective"]]
        assert sorted(main_grid["weight"].unique()) == layout.latent_space_weights(
            config["weights"])
        # The other objectives' 2-D runs are drawn too (--also), each with its weight.
        assert set(samples["objective"]) == {run.objective for run in dataset_runs}
        assert (samples["seed"] == config["seeds"][0]).all()
        grids = pd.read_csv(outdir / dataset / "sample_grids.csv")
        cells = {(r.objective, r.latent_dim, r.weight) for r in dataset_runs}
        assert set(grids[["objective", "latent_dim", "weight"]].itertuples(
            index=False, name=None)) == cells
        assert (grids["seed"] == config["seeds"][0]).all() and len(grids) == len(cells) * 2 * 16
    for figure in FIGURES:
        for extension in ("pdf", "png"):
            assert (outdir / "figures" / f"{figure}.{extension}").stat().st_size > 0
    provenance = json.loads((outdir / "provenance.json").read_text())
    assert provenance["runs_trained"] == len(runs)
    assert provenance["devices"] and provenance["config"]["outdir"] == str(outdir)
    assert provenance["wall_seconds_per_rule"]["run"]["jobs"] == len(runs)
    assert provenance["matmul_gflops_per_thread"] > 0  # the machine rule, at the start
    benchmarks = pd.read_csv(outdir / "benchmarks.csv")
    assert sorted(benchmarks["rule"].unique()) == ["classifier", "feature_network", "run"]
    assert (benchmarks["s"] > 0).all()
    # The span covers every job: at least the longest one, at most the summed job times.
    assert benchmarks["s"].max() <= provenance["span_seconds"] <= benchmarks["s"].sum() + 60
    numbers = (outdir / "tex" / "numbers.tex").read_text()
    assert r"\newcommand{\klgapConfigLabel}{config.yaml + smoke.yaml + --config outdir}" in numbers

    # A second run has nothing to do; the repository's results were not touched.
    again = snakemake(tmp_path, "-n", "--configfile", str(CONFIGS / "smoke.yaml"),
                      "--config", f"outdir={outdir}")
    assert "Nothing to be done" in again.stdout
    after = sorted((REPO / "results").rglob("*")) if (REPO / "results").exists() else []
    assert after == repo_results
