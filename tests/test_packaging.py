"""The klgap wheel works on its own: built from the sources, installed into a fresh environment,
used from a directory outside the checkout.

The fresh environment borrows the dependencies (TensorFlow, SciPy, ...) of the environment running
the tests through a `.pth` file instead of downloading them again. That environment has klgap
installed in editable mode, pointing at src/; the `.pth` line only appends its site-packages to
sys.path (the editable install's own .pth hooks are not run from there), and the test checks that
klgap is imported from the wheel's copy.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What the build reads (pyproject.toml: readme, license-files, packages under src/).
BUILD_SOURCES = ["pyproject.toml", "README.md", "LICENSE", "src"]
SCHEMA_IN_WHEEL = "klgap/config/config.schema.yaml"

ESTIMATE = """
import numpy as np
import klgap
from klgap.estimators import kl_decomposition

rng = np.random.default_rng(0)
mu = rng.normal(size=(300, 3))
sigma = np.exp(rng.normal(-1.0, 0.3, size=(300, 3)))
result = kl_decomposition(mu, sigma, seed=0)
# The rate is a closed form: the mean KL of N(mu, sigma^2) from N(0, I).
rate = np.mean(np.sum(0.5 * (mu**2 + sigma**2 - 1) - np.log(sigma), axis=1))
assert abs(result["rate"] - rate) < 1e-9, (result["rate"], rate)
assert np.isfinite(result["mutual_info"]) and 0 < result["mutual_info"] <= result["log_n"] + 1e-9
assert np.isfinite(result["aggregate_kl"])
print(klgap.__file__)
"""


def run(command, cwd, env, timeout=600):
    result = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, command))}:\n{result.stdout[-5000:]}"
    return result.stdout


@pytest.mark.slow
def test_the_wheel_installs_alone_and_runs_outside_the_checkout(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if Path(p).resolve() != Path(sys.executable).parent.resolve())

    # Build from a copy of the sources, so that setuptools' build/ and egg-info stay out of the
    # checkout. pip builds in an isolated environment with pyproject.toml's build requirements.
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
         str(source)], cwd=tmp_path, env=env)
    wheels = list(dist.glob("klgap-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert SCHEMA_IN_WHEEL in names, "the config schema is not package data of the wheel"
    assert "klgap/cli.py" in names and not any(name.startswith("tests/") for name in names)

    # A fresh environment (no pip of its own: this environment's pip installs into it) that
    # sees this environment's packages after its own.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], tmp_path, env).strip())
    (site_packages / "borrowed_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheels[0])], cwd=tmp_path, env=env)

    # Used from elsewhere: the console script, a subcommand's help (its options come from the
    # schema, read as package data) and an estimator.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    klgap = venv / "bin" / "klgap"
    assert "usage: klgap" in run([str(klgap), "--help"], elsewhere, env)
    train_help = run([str(klgap), "train", "--help"], elsewhere, env)
    assert "usage: klgap train" in train_help and "--epochs" in train_help
    imported_from = Path(run([str(python), "-c", ESTIMATE], elsewhere, env)
                         .strip().splitlines()[-1])
    assert imported_from.is_relative_to(venv), f"klgap was imported from {imported_from}"
    assert not imported_from.is_relative_to(REPO)
