"""scripts/system-deps.sh: checks tools, asks apt only for the missing ones, and with
SYSTEM_DEPS=skip installs nothing and fails only when something required is missing.

Every tool it looks for is a stub in a temporary directory that is the whole PATH, and apt-get
is a stub that records its arguments, so nothing is installed.
"""

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "system-deps.sh"
LATEX = ["latexmk", "pdflatex", "bibtex", "kpsewhich"]
SLURM = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "sacct"]


def stub(directory: Path, name: str, body: str = "exit 0"):
    path = directory / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def system(tmp_path: Path, tools: list[str]) -> dict:
    """A PATH with bash, the given tool stubs and recording apt-get, apt-cache and sudo."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "env", "id", "cat"):
        (bin_dir / name).symlink_to(subprocess.run(["bash", "-c", f"command -v {name}"],
                                                   capture_output=True, text=True).stdout.strip())
    for tool in tools:
        # kpsewhich finds every LaTeX file (prints a path).
        stub(bin_dir, tool, 'echo "/texmf/$1"' if tool == "kpsewhich" else "exit 0")
    stub(bin_dir, "apt-get", f'echo "$*" >> {tmp_path / "apt.log"}')
    stub(bin_dir, "apt-cache", "exit 0")
    stub(bin_dir, "sudo", 'exec "$@"')
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def run(env: dict, *args: str, skip=False) -> subprocess.CompletedProcess:
    if skip:
        env = {**env, "SYSTEM_DEPS": "skip"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_everything_present_needs_nothing(tmp_path):
    env = system(tmp_path, LATEX + ["pdfinfo"] + SLURM)
    result = run(env, "--test", "--slurm", skip=True)
    assert result.returncode == 0, result.stderr
    assert "required" not in result.stderr
    assert apt_calls(tmp_path) == []


def test_skip_lists_what_is_missing_and_fails_only_for_what_is_required(tmp_path):
    env = system(tmp_path, LATEX)  # no pdfinfo, no Slurm
    paper = run(env, skip=True)  # pdfinfo is only for the tests
    assert paper.returncode == 0, paper.stderr
    assert "optional: pdfinfo" in paper.stderr
    tests = run(env, "--test", "--slurm", skip=True)
    assert tests.returncode == 1
    assert "required: pdfinfo" in tests.stderr and "required: sbatch" in tests.stderr
    assert "(Debian/Ubuntu: slurm-client)" in tests.stderr
    assert apt_calls(tmp_path) == []  # skip never asks apt


def test_a_missing_latex_file_is_named_with_its_package(tmp_path):
    env = system(tmp_path, LATEX + ["pdfinfo"])
    stub(tmp_path / "bin", "kpsewhich", '[[ $1 == booktabs.sty ]] || echo "/texmf/$1"')
    result = run(env, skip=True)
    assert result.returncode == 1
    assert "required: LaTeX file booktabs.sty  (Debian/Ubuntu: texlive-latex-recommended)" \
        in result.stderr


@pytest.mark.parametrize("argument", ["--check", "--bogus"])
def test_check_is_a_switch_and_unknown_arguments_are_refused(tmp_path, argument):
    env = system(tmp_path, LATEX + ["pdfinfo"])
    result = run(env, argument, "--slurm")
    assert result.returncode == (1 if argument == "--check" else 2)
    assert apt_calls(tmp_path) == []


def test_apt_is_asked_only_for_the_packages_of_the_missing_tools(tmp_path):
    env = system(tmp_path, [tool for tool in LATEX if tool != "latexmk"] + ["pdfinfo"]
                 + [tool for tool in SLURM if tool != "sbatch"])
    result = run(env, "--test", "--slurm")
    calls = apt_calls(tmp_path)
    assert calls[0] == "update"
    installed = calls[1].split()
    assert installed[:3] == ["install", "-y", "--no-install-recommends"]
    packages = set(installed[3:]) - {"dataset-fashion-mnist"}  # present or not on this machine
    assert packages == {"latexmk", "slurm-client"}
    # The stub installed nothing: the script says what is still missing and fails.
    assert result.returncode == 1 and "still missing" in result.stderr
