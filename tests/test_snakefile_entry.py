"""The workflow's entry: without an importable klgap, Snakemake stops with one line saying what to
install, before any job."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_missing_klgap_package_stops_the_workflow_with_one_line(tmp_path):
    shadow = tmp_path / "klgap"  # first on the path: importing klgap fails as if it were absent
    shadow.mkdir()
    (shadow / "__init__.py").write_text('raise ImportError("No module named klgap")\n')
    snakemake = Path(sys.executable).parent / "snakemake"
    result = subprocess.run([str(snakemake), "--snakefile", str(REPO / "Snakefile"), "-n",
                             "--cores", "1", "--config", f"outdir={tmp_path / 'out'}"],
                            cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines()
              if line.startswith("error:")]
    assert len(errors) == 1 and "klgap package is not importable" in errors[0]
    assert "make setup" in errors[0]
    assert not (tmp_path / "out").exists()
