"""A sweep in shards (klgap.sweep.shards): selectors, the partition check, combining."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from klgap.config import checks
from klgap.errors import UserError
from klgap.sweep import layout, shards

from test_workflow import job_counts

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RUNS = layout.grid(["digits", "mnist"], [2, 10], [0.5, 1.0], [0, 1, 2])


def test_selector_keys_left_out_select_every_value():
    selected = [run for run in RUNS if shards.in_shard(run, {"datasets": ["mnist"],
                                                              "weights": [1]})]
    assert selected == [run for run in RUNS if run.dataset == "mnist" and run.weight == 1.0]
    assert all(shards.in_shard(run, {}) for run in RUNS)


def test_a_partition_passes_and_overlaps_gaps_and_empty_shards_are_named():
    by_seed = {f"s{seed}": {"seeds": [seed]} for seed in (0, 1, 2)}
    assert shards.partition_problems(RUNS, by_seed) == []
    assert shards.partition_problems(RUNS, {}) == []
    gap = shards.partition_problems(RUNS, {"s0": {"seeds": [0]}})
    assert len(gap) == len([run for run in RUNS if run.seed != 0])
    assert "in no shard" in gap[0]
    overlap = shards.partition_problems(RUNS, {**by_seed, "all": {}})
    assert len(overlap) == len(RUNS) and "shards s0, all" in overlap[0]
    empty = shards.partition_problems(RUNS, {**by_seed, "none": {"seeds": [7]}})
    assert empty == ["shard none selects no run of the sweep; remove it or fix its selector."]


def test_runs_on_a_subset_of_classes_are_selected_by_their_label():
    ones = layout.Run("mnist", 10, 1.0, 0, "vae", (1,))
    assert shards.in_shard(ones, {"classes": ["1"]})
    assert not shards.in_shard(ones, {"classes": ["all"]})
    assert shards.in_shard(RUNS[0], {"classes": ["all"]})


def test_unknown_shard_is_refused_by_name():
    with pytest.raises(UserError, match="unknown shard 'x'.*s0"):
        shards.shard_runs(RUNS, {"s0": {"seeds": [0]}}, "x")


def test_the_sweep_of_a_shard_and_the_config_checks():
    config = {"datasets": ["digits"], "objective": "vae", "latent_dims": [2],
              "weights": [1, 2], "seeds": [0, 1], "experiments": [],
              "shards": {"a": {"weights": [1]}, "b": {"weights": [2]}}}
    assert layout.sweep({**config, "shard": "b"}) == layout.grid(["digits"], [2], [2], [0, 1])
    assert len(layout.sweep(config)) == 4  # no shard: the whole sweep
    validated = {**config, "batched_training": False, "epochs": 1, "shard": "a"}
    assert checks.cross_key_problems(validated) == []
    bad = {**validated, "shards": {"a": {}, "b": {"weights": [2]}}, "shard": "c"}
    problems = checks.cross_key_problems(bad)
    assert any("in shards a, b" in problem for problem in problems)
    assert any("shard c is not one of the key shards (a, b)" in problem for problem in problems)
    batched = {**validated, "batched_training": True,
               "shards": {"a": {"seeds": [0]}, "b": {"seeds": [1]}}}
    assert any("cannot split seeds" in problem for problem in checks.cross_key_problems(batched))
    # which shard runs here does not change what the sweep computes
    assert checks.config_hash({**validated, "shard": "a"}) == checks.config_hash(
        {**validated, "shard": "b"})


def metrics_table(seed: int) -> pd.DataFrame:
    return pd.DataFrame({"dataset": "digits", "objective": "vae", "latent_dim": 2,
                         "weight": 1.0, "seed": seed, "split": ["test", "train"],
                         "elbo": [-10.0 - seed, -9.0 - seed]})


def test_combined_tables_concatenate_and_refuse_a_run_in_two_shards(tmp_path):
    paths = []
    for seed in (0, 1):
        paths.append(tmp_path / f"s{seed}.csv")
        metrics_table(seed).to_csv(paths[-1], index=False)
    combined = shards.combine_tables(paths, "metrics")
    assert sorted(combined["seed"]) == [0, 0, 1, 1]
    metrics_table(1).to_csv(tmp_path / "again.csv", index=False)
    with pytest.raises(UserError, match="more than one shard"):
        shards.combine_tables([*paths, tmp_path / "again.csv"], "metrics")


def test_combined_sample_tables_keep_each_cells_first_seed(tmp_path):
    paths = []
    for seed in (1, 0, 2):  # shards by seed, in any order
        paths.append(tmp_path / f"s{seed}.csv")
        pd.DataFrame({"dataset": "mnist", "objective": "vae", "latent_dim": 2,
                      "weight": [0.5, 1.0], "seed": seed, "z1": [seed, seed]}).to_csv(
            paths[-1], index=False)
    combined = shards.combine_tables(paths, "latent_samples")
    assert list(combined["seed"]) == [0, 0] and sorted(combined["weight"]) == [0.5, 1.0]


def test_combined_provenance_sums_the_shards_and_keeps_each_record():
    def record(span, runs, cpu):
        return {"date_utc": f"2026-12-0{runs}T00:00:00Z", "workflow_commit": f"c{runs}",
                "training_commits": [f"c{runs}"], "training_versions": ["v"],
                "runs_trained": runs, "devices": ["/CPU:0"], "cpus": [cpu],
                "platforms": ["linux"], "wall_seconds_benchmarked_total": 10.0 * runs,
                "cpu_seconds_benchmarked_total": 9.0 * runs, "span_seconds": span}

    records = {"a": record(100.0, 2, "AMD (avx512f)"), "b": record(50.5, 3, "Intel (avx2)")}
    combined = shards.combine_provenance(records, "seeds: [0]\n")
    assert combined["span_seconds"] == 150.5 and combined["runs_trained"] == 5
    assert combined["cpus"] == ["AMD (avx512f)", "Intel (avx2)"]
    assert combined["date_utc"] == "2026-12-03T00:00:00Z"
    assert combined["shards"] == records and combined["config"] == {"seeds": [0]}


SHARDED = {
    "datasets": ["digits"], "objective": "vae", "latent_dims": [2], "weights": [1],
    "seeds": [0, 1], "experiments": [], "epochs": 1, "hidden": [16], "iw_samples": 2,
    "minibatch_sizes": [64], "ais_examples": 20, "ais_steps": 20, "ais_chains": 2,
    "strict_paper": False, "gpus_per_run": 0, "mem_mb": 1000, "threads_per_run": 1,
    "shards": {"seed0": {"seeds": [0]}, "seed1": {"seeds": [1]}},
}


def snakemake(config: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "snakemake"), "--cores", "2", "--configfile", str(config),
                           *arguments], cwd=REPO, capture_output=True, text=True, timeout=1500)


@pytest.mark.slow
def test_a_sweep_in_two_shards_combines_into_one_root(tmp_path):
    config = tmp_path / "sharded.yaml"
    outdir = tmp_path / "results"
    config.write_text(yaml.safe_dump({**SHARDED, "outdir": str(outdir)}))
    early = snakemake(config, "-n")  # the root before its shards: a clear error, nothing run
    assert early.returncode != 0
    assert "shard seed0, seed1 has not run yet" in early.stdout + early.stderr
    for name in ("seed0", "seed1"):
        done = snakemake(config, "--config", f"shard={name}")
        assert done.returncode == 0, done.stderr[-3000:]
        root = outdir / "shards" / name
        record = json.loads((root / "provenance.json").read_text())
        assert record["runs_trained"] == 1 and record["matmul_gflops_per_thread"] > 0
        assert yaml.safe_load((root / "config.yaml").read_text())["shard"] == name
        assert not (root / "paper.pdf").exists()  # a shard makes its tables, not the paper
    # The combined tables and provenance (the paper from them is the smoke test's business).
    combined_files = [str(outdir / "digits" / f"{table}.csv")
                      for table in ("metrics", "summary", "history", "latent_samples",
                                    "sample_grids")] + [str(outdir / "provenance.json")]
    done = snakemake(config, "--", *combined_files)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    combined = pd.read_csv(outdir / "digits" / "metrics.csv")
    parts = [pd.read_csv(outdir / "shards" / name / "digits" / "metrics.csv")
             for name in ("seed0", "seed1")]
    pd.testing.assert_frame_equal(combined, pd.concat(parts, ignore_index=True))
    summary = pd.read_csv(outdir / "digits" / "summary.csv")
    assert set(summary["n_runs"]) == {2}
    provenance = json.loads((outdir / "provenance.json").read_text())
    assert sorted(provenance["shards"]) == ["seed0", "seed1"]
    assert provenance["span_seconds"] == pytest.approx(
        sum(record["span_seconds"] for record in provenance["shards"].values()))
    again = snakemake(config, "-n", "--", *combined_files)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_partial_combination_leaves_out_a_dataset_none_of_whose_shards_has_run(tmp_path):
    outdir = tmp_path / "results"
    config = tmp_path / "partial.yaml"
    config.write_text(yaml.safe_dump({
        **SHARDED, "outdir": str(outdir), "datasets": ["digits", "mnist"], "partial": True,
        "shards": {"digits-only": {"datasets": ["digits"]}, "mnist-only": {"datasets": ["mnist"]}},
    }))
    tables = outdir / "shards" / "digits-only" / "digits"
    tables.mkdir(parents=True)
    for table in shards.TABLES:
        (tables / f"{table}.csv").write_text("dataset\n")
    planned = snakemake(config, "-n", "-p")
    assert planned.returncode == 0, (planned.stdout + planned.stderr)[-3000:]
    assert "combine-shards --dataset digits" in planned.stdout
    assert "--dataset mnist" not in planned.stdout


def test_a_partial_shard_none_of_whose_runs_has_finished_writes_nothing(tmp_path):
    # partial trains no run: the shard's tables would be empty and pass for a finished shard.
    outdir = tmp_path / "results"
    config = tmp_path / "partial.yaml"
    config.write_text(yaml.safe_dump({**SHARDED, "outdir": str(outdir), "partial": True}))
    planned = snakemake(config, "-n", "--config", "shard=seed0")
    assert planned.returncode == 0, (planned.stdout + planned.stderr)[-3000:]
    assert "shard seed0: none of its runs has finished" in planned.stderr
    assert set(job_counts(planned.stdout)) == {"all"}, planned.stdout
    without = snakemake(config, "-n", "--config", "shard=seed0", "partial=false")
    assert "aggregate" in without.stdout and "run " in without.stdout
