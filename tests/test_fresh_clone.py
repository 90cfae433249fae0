"""What a newcomer does: clone the repository and run its main command.

A clone holds the committed tables but no runs, and git gives its files modification times in
whatever order it wrote them. Whatever that order, the main command must only redraw the figures
and rebuild the paper from the tables: no training, evaluation, aggregation or provenance job, and
no tracked file changed.
"""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from klgap.sweep import layout
from test_workflow import job_counts

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parents[1]  # the environment running the tests (not resolved)
# What the main command may run on a clone: everything downstream of the committed tables.
PAPER_RULES = {"figures", "tex", "paper", "all"}
# The committed records that describe the sweep; a clone where they look older than the tables
# is the order that once made Snakemake rewrite them.
RECORDS = ["results/provenance.json", "results/benchmarks.csv", "results/config.yaml"]


def clone(destination: Path, seed: int) -> Path:
    """Clones the repository's HEAD and gives every committed file under results/ a random mtime.

    Args:
      destination: where the clone goes.
      seed: seed of the modification times; the sweep's records are made the oldest files.

    Returns:
      The clone's directory, with ``.venv`` linked to the environment running the tests.
    """
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(destination)], check=True)
    committed = subprocess.run(["git", "ls-files", "results"], cwd=destination, check=True,
                               capture_output=True, text=True).stdout.split()
    assert set(RECORDS) <= set(committed)
    rng = random.Random(seed)
    now = 1.7e9
    for name in committed:
        stamp = now + rng.uniform(0, 1e6) if name not in RECORDS else now - rng.uniform(1, 1e6)
        os.utime(destination / name, (stamp, stamp))
    (destination / ".venv").symlink_to(VENV)
    return destination


def environment(checkout: Path) -> dict:
    """The newcomer's environment, with the clone's own code first on the import path."""
    return {**os.environ, "PYTHONPATH": str(checkout / "src"),
            "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def assert_only_the_paper_was_built(checkout: Path, result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stdout[-5000:]
    ran = set(job_counts(result.stdout))
    assert ran <= PAPER_RULES, f"jobs other than the paper's ran: {sorted(ran - PAPER_RULES)}"
    assert (checkout / "results" / "paper.pdf").stat().st_size > 10_000
    status = subprocess.run(["git", "status", "--porcelain"], cwd=checkout, check=True,
                            capture_output=True, text=True).stdout
    assert status == "", f"the command changed tracked files or left untracked ones:\n{status}"


@pytest.mark.slow
def test_make_paper_on_a_fresh_clone_only_builds_the_paper_and_bare_snakemake_agrees(tmp_path):
    """The README's command builds only the paper; the bare command, which reads the workflow's
    profile by itself, then finds nothing to do (one clone: each build takes a minute)."""
    checkout = clone(tmp_path / "clone", seed=13)
    result = subprocess.run(["make", "paper"], cwd=checkout, env=environment(checkout),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=900)
    assert "pip install" not in result.stdout  # the environment's stamp matched by content
    assert_only_the_paper_was_built(checkout, result)
    again = subprocess.run([str(VENV / "bin" / "snakemake"), "--cores", "all"], cwd=checkout,
                           env=environment(checkout), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
    assert "workflow specific profile profiles/default" in again.stdout
    assert again.returncode == 0 and "Nothing to be done" in again.stdout


@pytest.mark.slow
def test_make_sweep_on_a_fresh_clone_plans_every_run_then_the_records(tmp_path):
    """Without shards: every run, then the records; with every shard committed: the combination."""
    checkout = clone(tmp_path / "clone", seed=15)
    result = subprocess.run(["make", "sweep", "ARGS=-n"], cwd=checkout, env=environment(checkout),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    config = yaml.safe_load((checkout / "results" / "config.yaml").read_text())
    counts = job_counts(result.stdout)
    if config.get("shards"):
        # Every shard is committed: none is run again, and their tables are combined anew.
        assert "run" not in counts and "prepare" not in counts
        assert counts["combine_metrics"] == len(config["datasets"])
        assert counts["combine_provenance"] == 1
        return
    runs = len(layout.sweep(config))
    assert counts["run"] == runs
    assert counts["aggregate"] == len(config["datasets"]) and counts["provenance"] == 1
