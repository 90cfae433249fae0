"""Provenance of a result: code version, package versions, platform."""

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("tensorflow", "tf-keras", "tensorflow-probability", "numpy", "scipy", "pandas",
            "seaborn", "matplotlib", "scikit-learn", "snakemake")


def git_commit(directory: str | Path = ".") -> str:
    """Returns the git commit of ``directory`` (with ``-dirty`` if modified), or ``unknown``."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=directory, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    """Returns the Python version and the installed versions of the main packages."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe() -> dict:
    """Returns commit, versions and platform, for a run's metadata."""
    return {"git_commit": git_commit(Path(__file__).resolve().parent),
            "versions": versions(), "platform": platform.platform()}
