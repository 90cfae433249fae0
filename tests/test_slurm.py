"""The Slurm profiles (profiles/slurm, CPU only, and profiles/slurm-gpu), and the smoke
configuration through Slurm: profiles/slurm on a one-node cluster.

scripts/slurm-local.sh starts munged, slurmctld and slurmd on this machine (as root, with their
configuration and state in a temporary directory); the workflow then submits its training and
evaluation jobs with snakemake-executor-plugin-slurm. The test is skipped only when those daemons
cannot be started here, with their error output as the reason.
"""

import json
import re
import subprocess
import pandas as pd
import pytest
import yaml

from test_workflow import (BIN, CONFIGS, REPO, SPLITS, expected_runs, load_config,
                           planned_resources, snakemake)

SLURM_LOCAL = REPO / "scripts" / "slurm-local.sh"
PROFILES = REPO / "profiles"
# The rule of the training and evaluation jobs, submitted to Slurm with the profile's resources.
SUBMITTED_RULES = ["run"]
# Also submitted (not local rules): one label classifier and one feature network per dataset,
# and the machine's matmul rate, measured where the jobs run.
SUBMITTED_ONCE_PER_DATASET, SUBMITTED_ONCE = ["classifier", "feature_network"], ["machine"]
# Settings of the test cluster, not of the profile: it has no accounting database (so no
# accounts, and `squeue`, which lists finished jobs for an hour here, tells the job states), and
# its jobs are short, so the status checks start after 1 s instead of 40 (the plugin adds 10 s
# to the wait after each round in which no job finished).
TEST_CLUSTER_OPTIONS = ["--slurm-status-command", "squeue", "--slurm-no-account",
                        "--slurm-init-seconds-before-status-checks", "1"]
# The smoke configuration cut to its beta-VAE runs of one seed and one epoch: every submitted
# rule still goes through Slurm (the local end-to-end test covers the other objectives, the
# second seed and the epochs).
SLURM_SMOKE = {"seeds": [0], "experiments": [], "epochs": 1}


# The cluster profiles: CPU only (no GPU asked), and one GPU per training and evaluation job.
SLURM_PROFILES = {"slurm": 0, "slurm-gpu": 1}
# Rules that declare a GPU (train.smk, evaluate.smk); only `run` is planned without
# batched_training, the other two are set alike in the profiles.
GPU_RULES = ["run", "train_together", "evaluate"]
# The profiles' run times are this multiple of the longest `run` job in results/benchmarks.csv,
# rounded up to whole minutes (their comments say so).
RUNTIME_MULTIPLE = 5


def read_profile(name):
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


def minutes_at(runtime, attempt):
    """A profile's runtime, a number or an expression in `attempt` (e.g. "31*attempt")."""
    return eval(str(runtime), {"__builtins__": {}}, {"attempt": attempt})


@pytest.mark.parametrize("name", SLURM_PROFILES)
def test_slurm_profiles_keep_the_default_profiles_settings(name):
    default = read_profile("default")
    slurm = read_profile(name)
    assert slurm["executor"] == "slurm"
    assert {key: slurm.get(key) for key in default if key != "cores"} == \
        {key: value for key, value in default.items() if key != "cores"}
    # Snakemake's directory lock is on in every profile (tests/test_lock.py).
    assert "nolock" not in default and "nolock" not in slurm


@pytest.mark.parametrize("name, gpus", SLURM_PROFILES.items())
@pytest.mark.parametrize("config_gpus", [0, 1])
def test_slurm_profiles_ask_gpus_and_run_times_for_training_and_evaluation(
        tmp_path, name, gpus, config_gpus):
    """The CPU profile asks no GPU and the GPU profile one, whatever gpus_per_run says."""
    # A dry run plans the jobs without asking Slurm anything.
    result = snakemake(tmp_path, "-n", "--config", f"outdir={tmp_path / 'out'}",
                       f"gpus_per_run={config_gpus}", "shards={}", profile=name)  # one part
    assert result.returncode == 0, result.stdout
    profile = read_profile(name)
    for rule in GPU_RULES:
        assert profile["set-resources"][rule]["gpu"] == gpus
    for rule in SUBMITTED_RULES:
        jobs = planned_resources(result.stdout, rule)
        assert jobs and all(r["gpu"] == str(gpus) for r in jobs)
        runtime = minutes_at(profile["set-resources"][rule]["runtime"], attempt=1)
        assert all(r["runtime"] == str(runtime) for r in jobs)


@pytest.mark.parametrize("name", SLURM_PROFILES)
def test_slurm_profiles_run_times_are_the_stated_multiple_of_the_longest_measured_job(name):
    benchmarks = pd.read_csv(REPO / "results" / "benchmarks.csv")
    longest = benchmarks.loc[benchmarks["rule"] == "run", "s"].max()
    profile = read_profile(name)
    minutes = minutes_at(profile["set-resources"]["run"]["runtime"], attempt=1)
    assert RUNTIME_MULTIPLE * longest <= minutes * 60 < RUNTIME_MULTIPLE * longest + 60
    assert profile["retries"] >= 1
    for rule in GPU_RULES:  # every submitted rule's run time grows with the attempt
        runtime = profile["set-resources"][rule]["runtime"]
        assert minutes_at(runtime, attempt=2) == 2 * minutes_at(runtime, attempt=1)


@pytest.mark.parametrize("name, gpus", SLURM_PROFILES.items())
def test_a_failed_job_is_retried_with_twice_the_run_time(tmp_path, name, gpus):
    """The profile, run locally on a one-rule workflow whose job `run` fails on its first
    attempt: the retry gets the profile's run time for attempt 2 (Snakemake re-evaluates the
    resources), and both attempts its GPU count."""
    (tmp_path / "Snakefile").write_text(
        "rule run:\n"
        "    output: 'done.txt'\n"
        "    resources: tries=lambda wildcards, attempt: attempt\n"
        "    shell: 'echo {resources.tries} {resources.runtime} {resources.gpu} >> attempts.txt;"
        " test {resources.tries} -ge 2 && touch {output}'\n")
    result = subprocess.run(
        [str(BIN / "snakemake"), "--workflow-profile", str(PROFILES / name), "--executor", "local",
         "--cores", "1"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300)
    assert result.returncode == 0, result.stdout
    runtime = read_profile(name)["set-resources"]["run"]["runtime"]
    attempts = (tmp_path / "attempts.txt").read_text().split("\n")
    assert attempts == [f"1 {minutes_at(runtime, 1)} {gpus}", f"2 {minutes_at(runtime, 2)} {gpus}",
                        ""]


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """Starts the one-node cluster; yields its slurm.conf path and stops it afterwards."""
    cluster_dir = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(SLURM_LOCAL), "start", str(cluster_dir)],
                             capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        if "not found" in started.stderr:
            pytest.fail(f"Slurm is not installed; run `make test`, which installs it:\n"
                        f"{started.stderr}")
        pytest.skip(f"the one-node Slurm cluster could not start here:\n{started.stderr}")
    try:
        yield cluster_dir / "slurm.conf"
    finally:
        subprocess.run(["bash", str(SLURM_LOCAL), "stop", str(cluster_dir)], timeout=60)


def completed_slurm_jobs(slurm_conf):
    """Reads the cluster's job completion log (``sacct -c``) as a table: JobID, JobName, State."""
    listed = subprocess.run(["sacct", "-c", "--parsable2", "--format=JobID,JobName,State"],
                            env={"SLURM_CONF": str(slurm_conf), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=True)
    rows = [line.split("|") for line in listed.stdout.splitlines() if line]
    return pd.DataFrame(rows[1:], columns=rows[0])


@pytest.mark.slow
def test_smoke_configuration_through_slurm(tmp_path, slurm_cluster, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster))
    config = {**load_config("smoke.yaml"), **SLURM_SMOKE}
    outdir = tmp_path / "out"
    overrides = [f"{key}={json.dumps(value)}" for key, value in SLURM_SMOKE.items()]
    result = snakemake(tmp_path, "--configfile", str(CONFIGS / "smoke.yaml"), "--config",
                       f"outdir={outdir}", *overrides, *TEST_CLUSTER_OPTIONS, profile="slurm",
                       timeout=1200)
    assert result.returncode == 0, result.stdout[-5000:]

    # The outputs: the PDF and the tables.
    pages = subprocess.run(["pdfinfo", str(outdir / "paper.pdf")], capture_output=True,
                           text=True, check=True).stdout
    assert "Pages:" in pages
    runs = expected_runs(config)
    for dataset in config["datasets"]:
        metrics = pd.read_csv(outdir / dataset / "metrics.csv")
        every_class = [r for r in runs if r.dataset == dataset and r.classes is None]
        assert (metrics["classes"] == "all").sum() == len(every_class) * len(SPLITS)
        assert set(metrics["split"]) == set(SPLITS)  # a run on some classes has fewer
        summary = pd.read_csv(outdir / dataset / "summary.csv")
        assert (summary["n_runs"] == summary["n_expected"]).all()  # experiments: other seeds
    assert (outdir / "tex" / "table_rate.tex").stat().st_size > 0

    # Every training and evaluation job (and the classifier and machine jobs) went through
    # Slurm, and only those: the job ids the plugin reports per rule are exactly the jobs that
    # the cluster completed.
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: \S+/rule_(\w+)/",
                           result.stdout)
    expected = (SUBMITTED_RULES * len(runs) + SUBMITTED_ONCE
                + SUBMITTED_ONCE_PER_DATASET * len(config["datasets"]))
    assert sorted(rule for _, rule in submitted) == sorted(expected)
    jobs = completed_slurm_jobs(slurm_cluster)
    assert sorted(jobs["JobID"]) == sorted(job_id for job_id, _ in submitted), jobs
    assert (jobs["State"] == "COMPLETED").all(), jobs
    assert jobs["JobName"].nunique() == 1  # the plugin names every job by the workflow's run id
