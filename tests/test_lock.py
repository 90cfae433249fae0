"""Snakemake's directory lock, kept by the profiles, and the Makefile's clearing of a stale one.

The workflow is a one-rule Snakefile in a temporary directory, run with the project's default
profile: its job waits until the test creates a file `release`, so that a run can be held while
it holds its lock, and killed.
"""

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
VENV = Path(sys.prefix)  # the environment running the tests, given to make as VENV
LOCKS = Path(".snakemake") / "locks"
SNAKEFILE = """\
rule all:
    input: "out.txt"

rule wait:
    output: "out.txt"
    shell: "while [ ! -e release ]; do sleep 0.1; done; echo done > {output}"
"""
# Every Makefile target that runs Snakemake (shard-% as one of its shards).
SNAKEMAKE_TARGETS = ["paper", "sweep", "shard-mnist", "smoke", "figures", "report"]
STALE_MESSAGE = "Cleared a stale Snakemake lock"


def workflow(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Snakefile").write_text(SNAKEFILE)
    return directory


def start(directory: Path) -> subprocess.Popen:
    """Starts the workflow in the background (in its own process group) with the project's
    default profile, and waits until it holds its lock."""
    process = subprocess.Popen(
        [str(BIN / "snakemake"), "--workflow-profile", str(REPO / "profiles" / "default")],
        cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((directory / LOCKS).glob("*.lock")):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the workflow did not lock its directory in 120 s"
        time.sleep(0.2)
    return process


def run(directory: Path, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "snakemake"), "--workflow-profile", str(REPO / "profiles" / "default")],
        cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout)


def finish(directory: Path, process: subprocess.Popen) -> str:
    """Lets the held job end; returns the run's output after checking that it succeeded."""
    (directory / "release").touch()
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    return output


def lock_files(directory: Path) -> list:
    return sorted(path.name for path in (directory / LOCKS).glob("*.lock"))


def makefile_unlock_step(target: str) -> list:
    """The stale-lock step of a Makefile target, as `make -n` prints it, checked to come before
    the target's Snakemake command; as an argument list whose script path is absolute."""
    # Under `make test`, the outer make's MAKEFLAGS (e.g. its ARGS) would reach this make too.
    env = {key: value for key, value in os.environ.items()
           if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    listed = subprocess.run(["make", "-n", target, f"VENV={VENV}"], cwd=REPO, env=env, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    steps = [i for i, line in enumerate(listed) if "scripts/unlock-stale.sh" in line]
    # A sweep in shards runs several Snakemake commands on one line, after writing shard files.
    runs = [i for i, line in enumerate(listed)
            if f"{VENV}/bin/snakemake" in line and "--unlock" not in line
            and "scripts/unlock-stale.sh" not in line]
    assert len(steps) == 1 and runs and steps[0] < runs[0], "\n".join(listed)
    command = shlex.split(listed[steps[0]])
    assert command[:2] == ["bash", "scripts/unlock-stale.sh"], command
    return ["bash", str(REPO / "scripts" / "unlock-stale.sh"), *command[2:]]


def test_the_profile_keeps_the_lock_a_second_workflow_is_refused_and_the_first_completes(
        tmp_path):
    directory = workflow(tmp_path / "wf")
    first = start(directory)
    try:
        second = run(directory)
        assert second.returncode != 0
        assert "LockException" in second.stdout
        assert "Directory cannot be locked" in second.stdout
        assert first.poll() is None  # the refused run did not disturb the running one
    finally:
        finish(directory, first)
    assert (directory / "out.txt").read_text() == "done\n"
    assert lock_files(directory) == []


@pytest.mark.parametrize("target", SNAKEMAKE_TARGETS)
def test_every_snakemake_target_clears_a_stale_lock_first(target):
    step = makefile_unlock_step(target)
    assert step[2:] == [f"{VENV}/bin/snakemake", "--snakefile", "Snakefile"]


def test_the_makefile_clears_the_lock_of_a_killed_run_even_while_another_directory_runs(
        tmp_path):
    step = makefile_unlock_step("paper")
    step[2:] = [str(BIN / "snakemake"), "--snakefile", "Snakefile"]  # the test's Snakefile
    directory = workflow(tmp_path / "killed")
    killed = start(directory)
    os.killpg(killed.pid, signal.SIGKILL)  # as a power cut would: Snakemake cannot clean up
    killed.wait(timeout=60)
    held = lock_files(directory)
    assert held, "a killed run leaves its lock"
    assert "LockException" in run(directory).stdout  # which stops the next run

    # A live Snakemake in another directory does not count.
    elsewhere = workflow(tmp_path / "elsewhere")
    other = start(elsewhere)
    try:
        cleared = subprocess.run(step, cwd=directory, capture_output=True, text=True, timeout=120)
        assert other.poll() is None
    finally:
        finish(elsewhere, other)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.count("\n") == 1 and cleared.stdout.startswith(STALE_MESSAGE)
    assert lock_files(directory) == []

    (directory / "release").touch()
    resumed = run(directory)
    assert resumed.returncode == 0, resumed.stdout
    assert (directory / "out.txt").read_text() == "done\n"
    # Without a lock the step does nothing and says nothing.
    again = subprocess.run(step, cwd=directory, capture_output=True, text=True, timeout=120)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_the_makefile_keeps_the_lock_of_a_live_run(tmp_path):
    step = makefile_unlock_step("paper")
    step[2:] = [str(BIN / "snakemake"), "--snakefile", "Snakefile"]
    directory = workflow(tmp_path / "live")
    live = start(directory)
    try:
        held = lock_files(directory)
        kept = subprocess.run(step, cwd=directory, capture_output=True, text=True, timeout=120)
        assert kept.returncode == 0, kept.stderr
        assert STALE_MESSAGE not in kept.stdout
        assert f"Snakemake is running in this directory (pid {live.pid})" in kept.stdout
        assert lock_files(directory) == held and live.poll() is None
    finally:
        finish(directory, live)
    assert (directory / "out.txt").read_text() == "done\n"
