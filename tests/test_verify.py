"""Tests of `klgap verify`'s comparison (the retraining itself is Snakemake's train and
evaluate)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from klgap.sweep import layout
from klgap.sweep import verify
from klgap.errors import UserError

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_the_sample_is_in_the_committed_sweep_with_both_latent_sizes_and_betas():
    committed = verify.committed_values(RESULTS, verify.SAMPLE)
    assert len(committed) == len(verify.SAMPLE) * len(verify.METRICS)
    assert np.isfinite(committed[["committed", "sd"]].to_numpy()).all()
    assert {run.latent_dim for run in verify.SAMPLE} >= {2, 10}
    assert len({run.weight for run in verify.SAMPLE}) >= 2


def test_a_run_outside_the_sweep_is_refused_before_training():
    with pytest.raises(UserError, match="not in .*metrics.csv"):
        verify.committed_values(RESULTS, (layout.Run("mnist", 2, 0.3, 0),))


def tables(differences, sds):
    """Committed and retrained tables of one run whose metrics differ by ``differences``."""
    rng = np.random.default_rng(7)
    values = rng.normal(0, 10, len(differences))
    names = [f"m{i}" for i in range(len(differences))]
    committed = pd.DataFrame({"run": "r", "metric": names, "committed": values, "sd": sds})
    retrained = pd.DataFrame({"run": "r", "metric": names,
                              "retrained": values + np.asarray(differences)})
    return committed, retrained


def test_identical_values_are_a_bitwise_pass():
    table = verify.deviations(*tables([0.0, 0.0], [0.1, 0.2]))
    passed, line = verify.verdict(table, verify.THRESHOLD)
    assert passed and line.startswith("verify: PASS (bitwise)")


def test_deviations_are_in_units_of_the_cells_sd_floored():
    table = verify.deviations(*tables([0.05, -0.3, 1e-4], [0.1, 0.1, 1e-5]))
    np.testing.assert_allclose(table["deviation_sd"], [0.5, 3.0, 1e-4 / verify.SD_FLOOR],
                               rtol=1e-6)
    passed, line = verify.verdict(table, verify.THRESHOLD)
    assert passed and "not bitwise" in line and "3.00 SD (m1 of r" in line


def test_a_deviation_beyond_the_threshold_fails():
    table = verify.deviations(*tables([0.0, 2.0], [0.1, 0.1]))
    passed, line = verify.verdict(table, verify.THRESHOLD)
    assert not passed and line.startswith("verify: FAIL") and "20.00 SD" in line


def test_data_dir_and_config_items_reach_one_snakemake_config(tmp_path, monkeypatch):
    # Snakemake keeps only its last --config: verify's outdir and the user's items must share one.
    results = tmp_path / "results"
    results.mkdir()
    (results / "config.yaml").write_text(yaml.safe_dump(
        {"datasets": ["mnist"], "seeds": [0], "shards": {"s0": {"seeds": [0]}}}))
    (results / "features").mkdir()
    (results / "features" / "mnist.npz").write_bytes(b"committed network")
    commands = []
    monkeypatch.setattr(verify.subprocess, "run",
                        lambda command, cwd: commands.append(command) or
                        verify.subprocess.CompletedProcess(command, 0))
    outdir = tmp_path / "verify"
    verify.retrain(results, outdir, verify.SAMPLE[:1],
                   ["--config", "iw_samples=5", "-n"], verify.data_dir_setting(["mnist=/data/m"]))
    [command] = commands
    assert command.count("--config") == 1
    at = command.index("--config")
    assert command[at + 1:at + 3] == [f"outdir={outdir}", "iw_samples=5"] and "-n" in command
    snapshot = yaml.safe_load((outdir / "committed_config.yaml").read_text())
    assert snapshot["data_dir"] == {"mnist": "/data/m"}
    # A sweep in shards is retrained as one output root, scored with the committed networks.
    assert snapshot["shards"] == {} and snapshot["shard"] is None
    assert (outdir / "features" / "mnist.npz").read_bytes() == b"committed network"


def test_data_dir_takes_one_directory_or_dataset_items():
    assert verify.data_dir_setting([]) is None
    assert verify.data_dir_setting(["/data"]) == "/data"
    assert verify.data_dir_setting(["mnist=/a", "fashion_mnist=/b"]) == {
        "mnist": "/a", "fashion_mnist": "/b"}
    with pytest.raises(UserError, match="DATASET=DIR"):
        verify.data_dir_setting(["/a", "/b"])


def test_runs_already_trained_are_found_by_their_directories(tmp_path):
    runs = (layout.Run("mnist", 10, 0.25, 2), layout.Run("mnist", 2, 8.0, 2),
            layout.Run("mnist", 10, 1.0, 2, "vae", (1,)), layout.Run("mnist", 10, 30.0, 1, "mmd"))
    for run in runs:
        layout.run_dir(tmp_path, run).mkdir(parents=True)
        (layout.run_dir(tmp_path, run) / "metrics.json").write_text("[]")
    (layout.run_dir(tmp_path, layout.Run("mnist", 20, 1.0, 2)) / "checkpoints").mkdir(
        parents=True)  # trained, not evaluated: left out
    assert sorted(verify.trained_runs(tmp_path)) == sorted(runs)
    with pytest.raises(UserError, match="no evaluated run"):
        verify.trained_runs(tmp_path / "empty")


def test_the_papers_cross_cpu_values_are_read_from_a_report(tmp_path):
    from klgap.paper.tex.values import cross_cpu_values

    rng = np.random.default_rng(23)
    sds = rng.uniform(0.05, 0.5, size=12)
    differences = rng.normal(0, 0.3, size=12) * sds
    differences[[2, 5]] = [0.0, 3.0 * sds[5]]  # one bitwise value, one beyond 2 SD
    committed, retrained = tables(differences, sds)
    committed["run"] = retrained["run"] = ["a"] * 6 + ["b"] * 6
    table = verify.deviations(committed, retrained)
    _, line = verify.verdict(table, verify.THRESHOLD)
    report = tmp_path / "verify.csv"
    verify.write_report(report, line, "CPU X (avx2)", "default", table)
    assert verify.read_report(report)[:2] == (line, "CPU X (avx2)")
    values = cross_cpu_values(report)
    deviation = np.abs(differences) / np.maximum(sds, verify.SD_FLOOR)
    assert values["crosscpu/runs"] == "2" and values["crosscpu/values"] == "12"
    assert values["crosscpu/bitwise"] == "1" and values["crosscpu/cpu"] == "CPU X (avx2)"
    assert values["crosscpu/beyond_two_sd"] == str(int((deviation > 2).sum()))
    assert float(values["crosscpu/median_sd"]) == pytest.approx(np.median(deviation), abs=0.006)
    assert float(values["crosscpu/max_sd"]) == pytest.approx(deviation.max(), abs=0.06)
    report.write_text("run,metric\n")
    with pytest.raises(UserError, match="not a report of `klgap verify"):
        cross_cpu_values(report)


def test_the_report_the_paper_quotes_is_committed():
    committed = RESULTS / verify.CROSS_CPU_REPORT
    line, machine, table = verify.read_report(committed)
    assert line.startswith("verify: ") and "avx512" not in machine
    assert len(table) and table["deviation_sd"].notna().all()
