"""Faults: killed workflows resume, a failed run is reported, runs are reproducible, LaTeX is
named when missing."""

import filecmp
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from klgap.evaluation import evaluate
from klgap.sweep import layout

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMOKE = REPO / "config" / "smoke.yaml"


# The faults below need runs and their tables, not every objective nor the figures and paper
# (the end-to-end tests build those): the smoke configuration's beta-VAE runs, of one epoch, up
# to the summary.
BETA_VAE_ONLY = ["experiments=[]", "epochs=1"]


def snakemake_command(outdir, *extra):
    """The smoke workflow's command line with its output root at ``outdir``."""
    return [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--workflow-profile",
            str(REPO / "profiles" / "default"), "--cores", "2", "--configfile",
            str(SMOKE), "--config", f"outdir={outdir}", *extra]


def summary_command(outdir, *extra):
    """``snakemake_command`` for the smoke configuration's beta-VAE runs up to their summary."""
    return snakemake_command(outdir, *BETA_VAE_ONLY, *extra, "--",
                             str(outdir / "digits" / "summary.csv"))


def environment():
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "TF_CPP_MIN_LOG_LEVEL": "3"}


def train_and_evaluate(digits_npz, rundir):
    """Trains the same-seed model into ``rundir``, then evaluates it: one process each."""
    klgap = [sys.executable, "-m", "klgap"]
    for command in ([*klgap, "train", "--data", str(digits_npz), "--latent-dim", "2", "--beta", "1",
                     "--seed", "11", "--epochs", "3", "--hidden", "32", "--threads", "1"],
                    [*klgap, "evaluate", "--data", str(digits_npz), "--iw-samples", "5",
                     "--threads", "1"]):
        subprocess.run([*command, "--rundir", str(rundir)], check=True, env=environment(),
                       stdout=subprocess.DEVNULL)


def test_same_seed_in_two_processes_gives_bitwise_identical_outputs(digits_npz, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    with ThreadPoolExecutor(max_workers=2) as pool:  # side by side, one thread each
        list(pool.map(train_and_evaluate, [digits_npz] * 2, [first, second]))
    assert filecmp.cmp(first / "model.npz", second / "model.npz", shallow=False)
    for name in ("posterior_test.npz", "posterior_train.npz"):
        assert filecmp.cmp(first / name, second / name, shallow=False)
    history = [pd.read_csv(d / "history.csv").drop(columns="seconds") for d in (first, second)]
    pd.testing.assert_frame_equal(*history)
    metrics = [pd.read_json(d / "metrics.json").drop(columns=["device", *evaluate.TIMING_KEYS],
                                                     errors="ignore")  # parts not evaluated
               for d in (first, second)]
    pd.testing.assert_frame_equal(*metrics)


def clear_stale_lock(outdir, directory):
    """Clears the lock a killed run left, as the make targets do before they start Snakemake (the
    bare command would need --unlock), and checks that it said so. A run killed before it took
    its lock leaves none, and then nothing is cleared."""
    stale = list((directory / ".snakemake" / "locks").glob("*.lock"))
    unlocked = subprocess.run(["bash", str(REPO / "scripts" / "unlock-stale.sh"),
                               *snakemake_command(outdir, *BETA_VAE_ONLY)], cwd=directory,
                              env=environment(), capture_output=True, text=True, timeout=300)
    assert unlocked.returncode == 0, unlocked.stderr
    assert ("stale Snakemake lock" in unlocked.stdout + unlocked.stderr) == bool(stale)
    assert not list((directory / ".snakemake" / "locks").glob("*.lock"))


@pytest.mark.slow
def test_killed_workflow_resumes_without_redoing_finished_jobs(tmp_path):
    """SIGKILLs the smoke workflow twice at random moments; the same command then finishes."""
    outdir = tmp_path / "out"
    rng = np.random.default_rng(7)
    # Kill twice, each time at a random moment after progress: once a second (then a third) run
    # is evaluated, so that one job is surely complete (a run's job trains and evaluates it).
    for evaluated in (2, 3):
        if evaluated > 2:
            clear_stale_lock(outdir, tmp_path)
        process = subprocess.Popen(summary_command(outdir), cwd=tmp_path, env=environment(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.time() + 300  # until a run is evaluated: its training job is done
        while (len(list(outdir.glob("runs/**/metrics.json"))) < evaluated
               and time.time() < deadline):
            time.sleep(0.2)
        time.sleep(rng.uniform(0.0, 3.0))
        os.killpg(process.pid, signal.SIGKILL)  # snakemake and its jobs
        process.wait()

    # The training jobs Snakemake would not redo: every run minus those it plans again.
    plan = subprocess.run(summary_command(outdir, "-n", "-p"), cwd=tmp_path, env=environment(),
                          capture_output=True, text=True, timeout=300)
    planned = set(re.findall(r"klgap train(?:-and-evaluate)? .*--rundir (\S+)",
                             plan.stdout + plan.stderr))
    finished = {path: path.stat().st_mtime_ns for path in outdir.glob("runs/**/run.json")
                if str(path.parent) not in planned}
    assert finished, "the workflow was killed before any run finished training"

    clear_stale_lock(outdir, tmp_path)
    result = subprocess.run(summary_command(outdir), cwd=tmp_path, env=environment(),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(outdir / "digits" / "summary.csv")
    assert (summary["n_runs"] == summary["n_expected"]).all() and len(summary) > 0
    for path, mtime in finished.items():  # finished training jobs were not redone
        assert path.stat().st_mtime_ns == mtime, path
    assert not list(outdir.glob("runs/**/.tmp-*")), "a temporary file was left behind"


@pytest.mark.slow
def test_failed_run_is_reported_and_the_others_finish(tmp_path):
    """One run fails (a checkpoint of another configuration); --keep-going finishes the rest,
    and partial aggregation reports the failed seed instead of dropping it."""
    outdir = tmp_path / "out"
    broken = layout.run_dir(outdir, layout.Run("digits", 2, 2.0, 1))
    broken.mkdir(parents=True)
    np.savez(broken / "checkpoint.npz", identity=np.array("{}"), history=np.zeros((1, 8)))

    result = subprocess.run(summary_command(outdir), cwd=tmp_path, env=environment(),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode != 0
    assert "belongs to a different configuration" in result.stdout + result.stderr
    metrics = sorted(outdir.glob("runs/**/metrics.json"))
    runs = layout.sweep({**yaml.safe_load(SMOKE.read_text()), "experiments": []})
    assert len(metrics) == len(runs) - 1  # every other run of the smoke sweep

    # Only the summary, which is what this test reads (figures and paper: the other tests).
    result = subprocess.run(summary_command(outdir, "partial=true"),
                            cwd=tmp_path, env=environment(), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(outdir / "digits" / "summary.csv")
    cell = summary[(summary["weight"] == 2.0) & (summary["metric"] == "elbo")]
    assert (cell["n_runs"] == 1).all() and (cell["n_expected"] == 2).all()
    assert cell["missing_seeds"].astype(str).str.contains("1").all()


def test_missing_latex_is_named_with_what_to_install(tmp_path):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    (empty_path / "bash").symlink_to("/bin/bash")
    result = subprocess.run(
        ["/bin/bash", str(REPO / "workflow" / "scripts" / "build_paper.sh"), str(REPO / "paper"),
         str(tmp_path), str(tmp_path), str(tmp_path / "build"), str(tmp_path / "paper.pdf")],
        env={"PATH": str(empty_path)}, capture_output=True, text=True)
    assert result.returncode != 0
    assert "latexmk" in result.stderr and "apt-get install latexmk" in result.stderr
    assert not (tmp_path / "paper.pdf").exists()
