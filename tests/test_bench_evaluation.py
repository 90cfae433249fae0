"""bench/bench_evaluation.py runs end to end on a small digits model and writes every part."""

import sys
from pathlib import Path

import pandas as pd
import pytest

from klgap import cli
from klgap.evaluation import fitted_bound

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import bench_evaluation  # noqa: E402


@pytest.mark.slow
def test_every_part_is_timed_and_the_run_directory_is_left_alone(digits_npz, train_digits,
                                                                  tmp_path):
    features = tmp_path / "features.npz"
    cli.main(["feature-network", "--data", str(digits_npz), "--out", str(features),
              "--epochs", "1", "--min-accuracy", "0", "--threads", "1"])
    rundir = train_digits(tmp_path / "run", epochs=2)
    before = sorted(path.name for path in rundir.iterdir())
    out = tmp_path / "evaluation.csv"
    bench_evaluation.main(["--data", str(digits_npz), "--rundir", str(rundir), "--features",
                           str(features), "--iw-samples", "5", "--out", str(out)])
    assert sorted(path.name for path in rundir.iterdir()) == before  # evaluated a copy
    table = pd.read_csv(out, keep_default_na=False, dtype=str)
    figures = dict(zip(table["figure"], table["value"].astype(float)))
    for part in ("whole evaluation (as a run job: feature network, no classifier)",
                 *(f"fitted bound: family {family}, all posteriors"
                   for family in fitted_bound.FAMILIES),
                 "fitted bound: family gmm, each class's posteriors",
                 "generation (prior and ex-post samples, no classifier) and prior holes"):
        assert figures[f"{part} [cpu]"] > 0 and figures[f"{part} [wall]"] > 0
    assert not any("family flow" in figure for figure in figures)  # not fitted per run
    assert figures["  of which, the record's fitted_seconds [wall]"] > 0
    assert "digits vae d_z 2 beta 1 seed 0, 2 epochs" in table["note"].iloc[0]
