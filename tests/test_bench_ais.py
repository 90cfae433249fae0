"""bench/bench_ais.py's arithmetic: the paired differences to the longest setting, their errors,
and the figures it writes, on a tiny random model with a few images and steps."""

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import bench_ais  # noqa: E402
import benchlib  # noqa: E402


def test_paired_difference_is_the_mean_difference_with_its_standard_error():
    values, reference = np.array([1.0, 2.0, 4.0]), np.array([0.5, 2.5, 3.0])
    mean, se = bench_ais.paired_difference(values, reference)
    assert mean == pytest.approx(1 / 3)
    assert se == pytest.approx(np.std([0.5, -0.5, 1.0], ddof=1) / math.sqrt(3))
    assert math.isnan(bench_ais.paired_difference([1.0], [0.0])[1])


def test_parse_setting():
    assert bench_ais.parse_setting("300,4,10") == (300, 4, 10)
    assert bench_ais.setting_label((300, 4, 10)) == "T=300 C=4 L=10"
    for bad in ("300,4", "300,0,10", "a,b,c"):
        with pytest.raises(Exception):
            bench_ais.parse_setting(bad)


def test_measure_and_report_on_a_tiny_model(tmp_path):
    from klgap.models import vae as vae_model

    vae = vae_model.VAE.build(12, 2, [8], seed=0)
    x = (np.random.default_rng(0).random((5, 12)) < 0.5).astype(np.float32)  # (5, 12)
    settings = [(2, 2, 2), (4, 3, 2)]
    measured = bench_ais.measure(vae, x, settings, iw_samples=7, seed=3)
    first, longest = measured["settings"]
    assert [row["setting"] for row in measured["settings"]] == settings
    assert longest["difference"] == 0.0 and longest["difference_se"] == 0.0
    # The mean of the paired differences is the difference of the means.
    assert first["difference"] == pytest.approx(first["mean"] - longest["mean"], abs=1e-9)
    assert measured["iw_difference"] == pytest.approx(measured["iw_mean"] - longest["mean"],
                                                      abs=1e-9)
    assert measured["iw_samples"] == 7
    for row in measured["settings"]:
        assert row["chains_se"] > 0 and row["cpu_seconds_per_image"] > 0

    report = benchlib.Report("ais", tmp_path / "ais.csv")
    summary = bench_ais.report_rows(report, measured, len(x), "a tiny model")
    report.write(summary)
    table = pd.read_csv(tmp_path / "ais.csv", keep_default_na=False, dtype=str)
    figures = dict(zip(table["figure"], table["value"]))
    assert float(figures["difference to T=4 C=3 L=2 [T=2 C=2 L=2]"]) == pytest.approx(
        first["difference"], rel=1e-5)
    assert "log p(x) mean [IW K=7]" in figures
    assert "a tiny model" in table["note"].iloc[0]
    assert "against T=4 C=3 L=2" in summary
