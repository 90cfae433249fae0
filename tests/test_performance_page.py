"""docs/performance.md's sections on shards, the evaluation's cost by part and the AIS record:
each from its files, and one line where there are none."""

import json

import pandas as pd

from klgap.paper.markdown import performance, speed_records, sweep_records


def machine(host: str, rate: float) -> dict:
    return {"date_utc": "2026-12-05T00:00:00Z", "host": host, "cpus_available": 2,
            "cpu": {"model": "AMD EPYC", "features": ["avx", "avx2"]},
            "matmul_gflops_per_thread": rate}


def shard(runs: int, host: str, rate: float) -> dict:
    return {"date_utc": "2026-12-05T01:00:00Z", "runs_trained": runs, "span_seconds": 600.0,
            "cpus": ["AMD EPYC (avx, avx2)"], "machine": machine(host, rate)}


def metrics_row(dataset, objective, seed, split="test", **timings) -> dict:
    return {"dataset": dataset, "objective": objective, "classes": "all", "latent_dim": 10,
            "weight": 1.0, "seed": seed, "split": split, **timings}


def test_sections_without_records_say_so_in_one_line(tmp_path):
    (tmp_path / "bench").mkdir()
    text = performance.performance_markdown(tmp_path)
    assert "No sharded sweep has a record here yet" in text
    assert "No metrics table with test records here yet." in text
    assert "No AIS record yet" in text


def test_shards_of_a_combined_provenance_and_of_the_shard_directories(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "provenance.json").write_text(json.dumps(
        {"date_utc": "x", "shards": {"first": shard(3, "old-host", 70.0),
                                     "second": shard(4, "b-host", 65.0)}}))
    (tmp_path / "shards" / "first").mkdir(parents=True)
    (tmp_path / "shards" / "first" / "provenance.json").write_text(
        json.dumps(shard(3, "a-host", 71.5)))
    rows = sweep_records.shards_table(tmp_path)
    assert len(rows) == 5  # heading, rule, two shards, their sum
    assert rows[4].startswith("| all 2, one after another | 7 | 20 min |")
    assert rows[2].startswith("| first | 3 | 10 min | a-host | 2 | AMD EPYC (avx, avx2) | "
                              "71.5 GFLOP/s (2026-12-05T00:00:00Z) |")
    assert "| second | 4 |" in rows[3] and "b-host" in rows[3]
    assert sweep_records.shards_sentence(tmp_path).startswith(
        "The sweep: 7 runs in 2 shards of 10 to 10 minutes each, 20 minutes one after another, "
        "on 2 CPU cores (")


def test_no_shards_sentence_without_shards(tmp_path):
    assert sweep_records.shards_sentence(tmp_path) == ""


def test_evaluation_cost_is_the_median_of_the_test_records(tmp_path):
    (tmp_path / "mnist").mkdir(parents=True)
    (tmp_path / "shards" / "a" / "mnist").mkdir(parents=True)
    pd.DataFrame([metrics_row("mnist", "vae", 0, evaluation_seconds=10.0, ais_seconds=4.0),
                  metrics_row("mnist", "vae", 0, "train", evaluation_seconds=99.0),
                  metrics_row("mnist", "aggregate", 0, evaluation_seconds=5.0,
                              ais_seconds=1.0)]).to_csv(tmp_path / "mnist" / "metrics.csv",
                                                        index=False)
    # The combined table's run again (counted once), and another run of the shard.
    pd.DataFrame([metrics_row("mnist", "vae", 0, evaluation_seconds=10.0, ais_seconds=4.0),
                  metrics_row("mnist", "vae", 1, evaluation_seconds=20.0, ais_seconds=6.0)]
                 ).to_csv(tmp_path / "shards" / "a" / "mnist" / "metrics.csv", index=False)
    rows = sweep_records.evaluation_cost_table(tmp_path)
    assert rows[0] == "| dataset | objective | runs | evaluation, wall | AIS and its IW bound |"
    assert "| MNIST | mmd | 1 | 5.0 s | 1.0 s |" in rows  # the old name, renamed
    assert "| MNIST | vae | 2 | 15.0 s | 5.0 s |" in rows
    assert rows[-1] == ("No records have `evaluation_cpu_seconds`, `fitted_seconds`, "
                        "`quality_seconds` yet.")


def test_evaluation_cost_of_tables_without_timings(tmp_path):
    (tmp_path / "digits").mkdir()
    pd.DataFrame([metrics_row("digits", "vae", 0)]).to_csv(tmp_path / "digits" / "metrics.csv",
                                                           index=False)
    [line] = sweep_records.evaluation_cost_table(tmp_path)
    assert line.startswith("No records have `evaluation_seconds`,")


def test_parts_are_timing_keys_of_the_evaluation():
    from klgap.evaluation import evaluate

    assert {column for column, _ in sweep_records.EVALUATION_PARTS} <= set(evaluate.TIMING_KEYS)


def test_the_ais_record_is_one_row_per_setting(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    rows = []
    for figure, value, unit, note in [
            ("log p(x) mean [T=300 C=4 L=10]", "-100.68", "nats", "50 images, model: m"),
            ("difference to T=3000 C=4 L=10 [T=300 C=4 L=10]", "-0.54", "nats", ""),
            ("log p(x) mean [T=3000 C=4 L=10]", "-100.14", "nats", "50 images, model: m"),
            ("difference to T=3000 C=4 L=10 [T=3000 C=4 L=10]", "0", "nats", ""),
            ("log p(x) mean [IW K=1000]", "-100.83", "nats", "the IW bound")]:
        rows.append({"figure": figure, "value": value, "unit": unit, "target": "",
                     "status": "", "note": note, "load_1min": "1.00", "machine": "test"})
    pd.DataFrame(rows).to_csv(bench / "ais.csv", index=False)
    text = performance.performance_markdown(tmp_path)
    assert "| | log p(x) mean | difference to T=3000 C=4 L=10 |" in text
    assert "| T=300 C=4 L=10 | −100.68 nats | −0.54 nats |" in text
    assert "| IW K=1000 | −100.83 nats | — |" in text
    assert "- T=300 C=4 L=10, T=3000 C=4 L=10: 50 images, model: m" in text
    assert "`results/bench/ais.csv` | `bench/bench_ais.py` |" in text


def bench_rows(commit: str, seconds: dict) -> pd.DataFrame:
    rows = []
    for figure, value in seconds.items():
        note = (f"klgap at {commit}; mnist vae d_z 10 beta 1 seed 1, 60 epochs" if not rows
                else f"the fastest of 2 runs ({value + 1:.1f}, {value:.1f} s)"
                if figure == "whole evaluation [wall]" else "")
        rows.append({"figure": figure, "value": str(value), "unit": "s", "target": "",
                     "status": "", "note": note, "load_1min": "0.10",
                     "machine": "AMD EPYC, 2 cores"})
    return pd.DataFrame(rows)


def test_before_and_after_pair_each_part_and_the_fitted_shares_sum_to_one(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    before = {"whole evaluation [cpu]": 150.0, "whole evaluation [wall]": 140.0,
              "  of which, the record's fitted_seconds [wall]": 50.0,
              "fitted bound: family gmm, each class's posteriors [cpu]": 24.0,
              "fitted bound: family gmm, each class's posteriors [wall]": 25.0}
    after = {**before, "whole evaluation [cpu]": 120.0,
             "fitted bound: family gmm, each class's posteriors [cpu]": 12.0,
             "fitted bound: family flow, all posteriors [cpu]": 36.0,
             "fitted bound: family flow, all posteriors [wall]": 37.0}
    for name, commit, seconds in zip(speed_records.BEFORE_AFTER, ("aaaa111", "bbbb222"),
                                     (before, after)):
        bench_rows(commit, seconds).to_csv(bench / name, index=False)
    text = performance.performance_markdown(tmp_path)
    assert "| part | CPU s at aaaa111 | CPU s at bbbb222 |" in text
    assert "| whole evaluation | 150.0 | 120.0 | 140.0 | 140.0 | 0.800 |" in text
    assert "| of which, the record's fitted_seconds | — | — | 50.0 | 50.0 | 1.00 |" in text
    assert "(mnist vae d_z 10 beta 1 seed 1, 60 epochs)" in " ".join(text.split())
    assert ("fastest run is shown (wall seconds aaaa111: 141.0, 140.0 s; bbbb222: 141.0, 140.0 s)"
            in " ".join(text.split()))
    assert "| fitted bound: family flow, all posteriors | — | 36.0 | — | 37.0 | — |" in text
    clause = speed_records.fitted_parts_clause(bench)
    assert "flow (all posteriors) 75 %, gmm (each class's posteriors) 25 %" in clause
    assert clause.startswith(f" On the model of `{speed_records.BEFORE_AFTER[1]}` (klgap at "
                             "bbbb222) its CPU time went")
    for name in speed_records.BEFORE_AFTER:
        (bench / name).unlink()
    assert "Before and after" not in performance.performance_markdown(tmp_path)
    assert speed_records.fitted_parts_clause(bench) == ""


def history(weights, seconds: float, test_elbo: dict, epochs: int = 2) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "mnist", "objective": "vae", "classes": "all",
                          "latent_dim": 10, "weight": weight, "seed": 1, "epoch": epoch,
                          "test_elbo": test_elbo[weight] - (epochs - epoch), "seconds": seconds}
                         for weight in weights for epoch in range(1, epochs + 1)])


def test_the_batch_pilot_is_paired_with_the_sweeps_runs_of_its_cells(tmp_path):
    pilot, reference = (tmp_path / part for part in speed_records.BATCH_PILOT)
    for directory, batch in ((pilot, 256), (reference, 128)):
        (directory / "mnist").mkdir(parents=True)
        (directory / "config.yaml").write_text(
            f"batch_size: {batch}\ndatasets: [mnist]\nlatent_dims: [10]\nseeds: [1]\n")
    assert speed_records.batch_pilot_clause(tmp_path) == ""  # no histories yet
    history([0.1, 1.0], 2.0, {0.1: -90.0, 1.0: -100.5}).to_csv(pilot / "mnist" / "history.csv")
    # the sweep has more cells than the pilot; only the pilot's are compared
    history([0.1, 1.0, 8.0], 4.0, {0.1: -89.0, 1.0: -100.0, 8.0: -150.0}).to_csv(
        reference / "mnist" / "history.csv")
    clause = speed_records.batch_pilot_clause(tmp_path)
    assert "A pilot at batch 256" in clause and "mnist, d_z 10, β 0.1, 1, seed 1" in clause
    assert "took 0.500–0.500× the time per epoch of the sweep's batch-128 runs" in clause
    assert "after 2 epochs differed from theirs by −1.00, −0.50 nats" in clause
    assert "seeds of those cells" not in clause  # no combined table: no spread
    (tmp_path / "mnist").mkdir()
    pd.concat([history([0.1, 1.0], 4.0, {0.1: -89.0 - seed, 1.0: -100.0 + seed / 2}).assign(
        seed=seed) for seed in range(3)]).to_csv(tmp_path / "mnist" / "history.csv")
    clause = speed_records.batch_pilot_clause(tmp_path)
    assert clause.endswith("(the sweep's 3 seeds of those cells span 2.00, 1.00 nats)")


def test_the_gap_paragraph_gives_the_evaluations_headroom_at_trainings_pace(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    figures = {"measured_over_floor (span)": 2.3, "measured_over_floor (train, own time)": 1.8,
               "measured_over_floor (evaluate, own time)": 2.4, "idle_core_share (span)": 0.05,
               "floor_share (train)": 0.7}
    pd.DataFrame([{"figure": f"{name} [sweep]", "value": value, "unit": "x", "target": "",
                   "status": "", "note": "", "load_1min": 0.1, "machine": "AMD EPYC, 2 cores"}
                  for name, value in figures.items()]).to_csv(
        bench / "floor_shard_rerun_mnist_vae_s1.csv", index=False)
    [text] = speed_records.gap_paragraph(tmp_path)
    text = " ".join(text.split())
    assert "shard mnist-vae-s1 spanned 2.30× its floor, training 1.80× (70 % of the floor)" in text
    # (2 - 0.7 x 1.8) / (1 - 0.7) = 2.47
    assert "a span of 2× would leave the evaluations at most 2.47× theirs" in text
    # a shard re-run a second time is told apart by its record's tag
    record = next(name for name, (shard, tag, _) in speed_records.RERUN_SHARDS.items() if tag)
    shard, tag, _ = speed_records.RERUN_SHARDS[record]
    pd.read_csv(bench / "floor_shard_rerun_mnist_vae_s1.csv").to_csv(
        bench / f"floor_shard_rerun_{record.replace('-', '_')}.csv", index=False)
    [text] = speed_records.gap_paragraph(tmp_path)
    assert f"shard {shard} ({tag}) spanned 2.30× its floor" in " ".join(text.split())


def test_the_family_choices_are_counted_over_the_test_records(tmp_path):
    assert speed_records.family_choice_clause(tmp_path) == ""
    for dataset, families in (("mnist", ["gmm", "mixture", "gmm"]), ("fashion_mnist", ["prior"])):
        (tmp_path / dataset).mkdir()
        pd.DataFrame({"split": ["test"] * len(families) + ["train"],
                      "fitted_family": families + ["flow"]}).to_csv(
            tmp_path / dataset / "metrics.csv", index=False)
    assert speed_records.family_choice_clause(tmp_path) == (
        "In the paper's sweep the family chosen on validation codes was the Gaussian mixture in "
        "2, the widened mixture in 1, the prior in 1 of its 4 runs, the flow in none")
