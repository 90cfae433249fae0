"""``docs/performance.md``: every benchmark record of ``<results>/bench/*.csv`` and the sweeps'
``provenance.json``, as Markdown tables."""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from klgap.errors import UserError
from klgap.training import objectives
from klgap.paper.markdown.bench_tables import (BENCH_COLUMNS, bench_target, bench_value,
                                               cell_text, generic_table, pivot_table, plain_table,
                                               read_bench, split_figure)
from klgap.paper.markdown.speed_records import (before_after_section, gap_paragraph,
                                                shard_rerun_section)
from klgap.paper.markdown.sweep_records import (evaluation_cost_table, shards_table,
                                                sweep_records_table)
from klgap.paper.markdown.text import join_lines, number


RECORDS = {
    "training.csv": ("bench/bench_training.py", "2026-11-24, AMD EPYC with AVX-512",
                     "training throughput: klgap's step against Keras 3, and the float32 "
                     "matrix-product rates of the model's shapes"),
    "step_parts.csv": ("bench/bench_step_parts.py", "2026-11-24, AMD EPYC with AVX-512",
                       "a training step taken apart, and XLA"),
    "batched.csv": ("bench/bench_batched.py", "2026-11-24, AMD EPYC with AVX-512",
                    "K stacked models in one process against K separate processes"),
    "estimators.csv": ("bench/bench_estimators.py", "2026-11-24, AMD EPYC with AVX-512",
                       "the exact decomposition's time and memory, against broadcasting, and "
                       "the minibatch estimators"),
    "evaluation.csv": ("bench/bench_evaluation.py", "2026-12-01",
                       "what the parts of one evaluation cost"),
    "sweep_shares.csv": ("bench/sweep_shares.py", "2026-11-24, AMD EPYC with AVX-512",
                         "time per rule of an earlier sweep (digits and Fashion-MNIST)"),
    "smoke_shares.csv": ("bench/sweep_shares.py", "2026-11-24, AMD EPYC with AVX-512",
                         "time per rule of the smoke configuration"),
    "floor.csv": ("bench/bench_floor.py", "2026-12-02, AMD EPYC",
                  "the smoke configuration run on the spot, and an earlier sweep's records, "
                  "against the FLOP floor"),
    "floor_mnist_pair.csv": ("bench/bench_floor.py --name mnist_pair", "2026-12-02, AMD EPYC "
                             "without AVX-512", "two MNIST runs side by side against the floor"),
    "floor_committed_sweep.csv": ("bench/bench_floor.py --sweep results", "2026-12-02, AMD EPYC "
                                  "without AVX-512", "the previous sweep (20 epochs), its record, "
                                  "against the floor"),
    "floor_paper_sweep.csv": ("bench/bench_floor.py", "2026-12-02, AMD EPYC without AVX-512",
                              "the previous sweep re-run from scratch, against the floor"),
    "floor_sharded_sweep.csv": ("bench/bench_floor.py --no-smoke --name floor_sharded_sweep",
                                "2026-12-06, AMD EPYC with AVX-512",
                                "the paper's sweep, the combined record of its shards, against the "
                                "floor at the shards' own matmul rates"),
    "floor_shard_mnist_vae_s1.csv": ("bench/bench_floor.py --sweep "
                                     "results/shards/mnist-vae-s1", "2026-12-06, AMD EPYC with "
                                     "AVX-512", "shard mnist-vae-s1 of the paper's sweep, its own "
                                     "record, against the floor, with the evaluation by part"),
    "floor_shard_rerun_mnist_vae_s1.csv": ("bench/bench_floor.py --sweep <re-run's shard>",
                                           "2026-12-06, AMD EPYC with AVX-512",
                                           "shard mnist-vae-s1 re-run from scratch at a later "
                                           "commit, its own record, against the floor"),
    "floor_shard_rerun_fashion_vae_s1.csv": ("bench/bench_floor.py --sweep <re-run's shard>",
                                             "2026-12-06, AMD EPYC with AVX-512",
                                             "shard fashion-vae-s1 re-run from scratch at a later "
                                             "commit, its own record, against the floor"),
    "floor_shard_rerun_mnist_alternatives_s1.csv": ("bench/bench_floor.py --sweep <re-run's "
                                                    "shard>", "2026-12-06, AMD EPYC with "
                                                    "AVX-512", "shard mnist-alternatives-s1 "
                                                    "re-run from scratch at a later commit, its "
                                                    "own record, against the floor"),
    "floor_shard_rerun_mnist_vae_s2.csv": ("bench/bench_floor.py --sweep <re-run's shard>",
                                           "2026-12-06, AMD EPYC with AVX-512",
                                           "shard mnist-vae-s2 re-run from scratch at a later "
                                           "commit (GMM_PATIENCE 1), its own record, against "
                                           "the floor"),
    "floor_shard_rerun_mnist_alternatives_s1_batched_em.csv": (
        "bench/bench_floor.py --sweep <re-run's shard>", "2026-12-06, AMD EPYC with AVX-512",
        "shard mnist-alternatives-s1 re-run from scratch at a later commit (the Gaussian "
        "mixtures' EM batched), its own record, against the floor"),
    "floor_shard_rerun_mnist_alternatives_s1_explicit_sums.csv": (
        "bench/bench_floor.py --sweep <re-run's shard>", "2026-12-06, AMD EPYC with AVX-512",
        "shard mnist-alternatives-s1 re-run from scratch at a later commit (the batched EM and "
        "the explicit sums in place), its own record, against the floor"),
    "floor_shard_rerun_mnist_vae_s2_no_avx512.csv": (
        "bench/bench_floor.py --sweep <re-run's shard>", "2026-12-06, AMD EPYC without AVX-512",
        "shard mnist-vae-s2 re-run from scratch at a later commit (the batched EM and the "
        "explicit sums in place) on a CPU without AVX-512, its own record, against the floor"),
    "floor_shard_rerun_mnist_vae_s2_float32_tables.csv": (
        "bench/bench_floor.py --sweep <re-run's shard>", "2026-12-06, AMD EPYC without AVX-512",
        "shard mnist-vae-s2 re-run from scratch at a later commit (float32 exponentials in the "
        "mixture tables, the fitted bound without the flow) on a CPU without AVX-512, its own "
        "record, against the floor"),
    "sweep_reproduction.csv": ("bench/compare_sweeps.py", "2026-12-02, AMD EPYC without "
                               "AVX-512", "the previous sweep's re-run: its tables against the "
                               "committed ones"),
    "shard_reproduction_fashion_vae_s0.csv": ("bench/compare_sweeps.py --committed "
                                              "results/shards/fashion-vae-s0", "2026-12-06, "
                                              "AMD EPYC with AVX-512", "shard fashion-vae-s0 of "
                                              "the paper's sweep, re-run from scratch: its "
                                              "tables against the committed shard's"),
    "shard_reproduction_mnist_vae_s1.csv": ("bench/compare_sweeps.py --committed "
                                            "results/shards/mnist-vae-s1", "2026-12-06, AMD EPYC "
                                            "with AVX-512", "shard mnist-vae-s1 of the paper's "
                                            "sweep, re-run from scratch at a later commit: its "
                                            "tables against the committed shard's"),
    "shard_reproduction_fashion_vae_s1.csv": ("bench/compare_sweeps.py --committed "
                                              "results/shards/fashion-vae-s1", "2026-12-06, AMD "
                                              "EPYC with AVX-512", "shard fashion-vae-s1 of the "
                                              "paper's sweep, re-run from scratch at a later "
                                              "commit: its tables against the committed shard's"),
    "shard_reproduction_mnist_alternatives_s1.csv": ("bench/compare_sweeps.py --committed "
                                                     "results/shards/mnist-alternatives-s1",
                                                     "2026-12-06, AMD EPYC with AVX-512",
                                                     "shard mnist-alternatives-s1 of the paper's "
                                                     "sweep, re-run from scratch at a later "
                                                     "commit: its tables against the committed "
                                                     "shard's"),
    "shard_reproduction_mnist_vae_s2.csv": ("bench/compare_sweeps.py --committed "
                                            "results/shards/mnist-vae-s2", "2026-12-06, AMD EPYC "
                                            "with AVX-512", "shard mnist-vae-s2 of the paper's "
                                            "sweep, re-run from scratch at a later commit "
                                            "(GMM_PATIENCE 1): its tables against the committed "
                                            "shard's"),
    "shard_reproduction_mnist_alternatives_s1_batched_em.csv": (
        "bench/compare_sweeps.py --committed results/shards/mnist-alternatives-s1",
        "2026-12-06, AMD EPYC with AVX-512", "shard mnist-alternatives-s1 of the paper's sweep, "
        "re-run from scratch at a later commit (the Gaussian mixtures' EM batched): its tables "
        "against the committed shard's, with the largest differences"),
    "shard_reproduction_mnist_alternatives_s1_explicit_sums.csv": (
        "bench/compare_sweeps.py --committed results/shards/mnist-alternatives-s1",
        "2026-12-06, AMD EPYC with AVX-512", "shard mnist-alternatives-s1 of the paper's sweep, "
        "re-run from scratch at a later commit (the batched EM and the explicit sums in place): "
        "its tables against the committed shard's, with the largest differences"),
    "shard_reproduction_mnist_vae_s2_no_avx512.csv": (
        "bench/compare_sweeps.py --committed results/shards/mnist-vae-s2",
        "2026-12-06, AMD EPYC without AVX-512", "shard mnist-vae-s2 of the paper's sweep, re-run "
        "from scratch at a later commit on a CPU without AVX-512: its tables against the "
        "committed shard's, with the largest differences and those of the headline metrics"),
    "shard_reproduction_mnist_vae_s2_float32_tables.csv": (
        "bench/compare_sweeps.py --committed results/shards/mnist-vae-s2",
        "2026-12-06, AMD EPYC without AVX-512", "shard mnist-vae-s2 of the paper's sweep, re-run "
        "from scratch at a later commit (float32 exponentials in the mixture tables, the fitted "
        "bound without the flow) on a CPU without AVX-512: its tables against the committed "
        "shard's, with the largest differences and those of the headline metrics"),
    "fitted_density.csv": ("bench/bench_fitted_density.py", "2026-12-04",
                           "the lower bound on KL(q(z) ‖ p) from densities fitted to training "
                           "codes (`klgap.estimators.fitted_density_kl`): time per family, and "
                           "the bounds beside the held-out and in-sample values"),
    "ais.csv": ("bench/bench_ais.py", "2026-12-05, AMD EPYC with AVX-512",
                "AIS log-likelihoods of one trained model at several settings: their paired "
                "differences to the longest, and their cost"),
    "evaluation_before.csv": ("bench/bench_evaluation.py --name evaluation_before",
                              "2026-12-06, AMD EPYC with AVX-512",
                              "one trained MNIST model's evaluation by part, at the code of the "
                              "paper's sweep (before)"),
    "evaluation_after.csv": ("bench/bench_evaluation.py --name evaluation_after",
                             "2026-12-06, AMD EPYC with AVX-512",
                             "the same model's evaluation by part, at a later commit (after)"),
    "pilots.csv": ("bench/pilot_records.py", "2026-12-02, AMD EPYC without AVX-512",
                   "single runs before and after one process per run, and pilots of each "
                   "objective, from the runs' own records"),
}
# Columns of the floor comparison: (file, record in brackets, heading).
FLOOR_COLUMNS = [
    ("floor_sharded_sweep.csv", "sweep", "paper's sweep, all its shards"),
    ("floor_shard_mnist_vae_s1.csv", "sweep", "paper's sweep, shard mnist-vae-s1"),
    ("floor_shard_rerun_mnist_vae_s1.csv", "sweep", "shard mnist-vae-s1 re-run"),
    ("floor_shard_rerun_fashion_vae_s1.csv", "sweep", "shard fashion-vae-s1 re-run"),
    ("floor_shard_rerun_mnist_alternatives_s1.csv", "sweep",
     "shard mnist-alternatives-s1 re-run"),
    ("floor_shard_rerun_mnist_vae_s2.csv", "sweep", "shard mnist-vae-s2 re-run"),
    ("floor_shard_rerun_mnist_alternatives_s1_batched_em.csv", "sweep",
     "shard mnist-alternatives-s1 re-run (batched EM)"),
    ("floor_shard_rerun_mnist_alternatives_s1_explicit_sums.csv", "sweep",
     "shard mnist-alternatives-s1 re-run (explicit sums in place)"),
    ("floor_shard_rerun_mnist_vae_s2_no_avx512.csv", "sweep",
     "shard mnist-vae-s2 re-run (batched EM, explicit sums, CPU without AVX-512)"),
    ("floor_shard_rerun_mnist_vae_s2_float32_tables.csv", "sweep",
     "shard mnist-vae-s2 re-run (float32 tables, no flow, CPU without AVX-512)"),
    ("floor_committed_sweep.csv", "sweep", "previous sweep, its record"),
    ("floor_paper_sweep.csv", "sweep", "previous sweep, re-run from scratch"),
    ("floor_mnist_pair.csv", "sweep", "two MNIST runs side by side"),
    ("floor.csv", "sweep", "an earlier sweep"),
    ("floor.csv", "smoke", "smoke configuration"),
]
GENERIC_SECTIONS = [
    ("training.csv", "Training throughput",
     "Fashion-MNIST, the default 784-256-256-2×10 encoder and 10-256-256-784 decoder, batch "
     "128, Adam; steady state, the first epoch left out. FLOPs per training example are counted "
     "from the architecture as 3 × the forward matrix products (forward, and two products per "
     "layer backward); the fraction of the matrix-product rate divides by the rate of a square "
     "2048² product. XLA is Keras's `jit_compile=True`. These were measured before TensorFlow's "
     "fused Adam kernel and the closed-form decoder likelihood (issue 15) made the step faster."),
    ("step_parts.csv", "A training step taken apart",
     "The full step, then with TensorFlow's one-kernel Adam (`ResourceApplyAdam`, in use since "
     "issue 15), with a plain gradient update instead of Adam, without random numbers "
     "(`gradient_fixed_input`), the forward pass alone, and the step under XLA; each note gives "
     "the share of the full step's time."),
    ("batched.csv", "Several models at once",
     "K models with stacked weights (one batched matrix product per layer) in one process with "
     "2 threads, against the K runs as separate single-thread processes, two at a time, one "
     "Fashion-MNIST epoch per model (`klgap.training.batched`; `--config batched_training=true`). "
     "Separate processes stay the default where they are faster; the batched path is meant for "
     "GPUs, where one small model cannot fill the device (not measured: no GPU here)."),
    ("estimators.csv", "Estimators",
     "The whole in-sample decomposition (`klgap.estimators`) of a synthetic posterior set, its "
     "time and memory, against broadcasting over an N × M × D tensor, and the minibatch "
     "estimators (MWS, MSS, and MSS with the weights down columns, the bug of the reference "
     "implementation) against the exact value. Measured before the standard errors got their "
     "second draw of z, which adds a pass over up to 2,048 examples."),
    ("evaluation.csv", "What an evaluation's parts cost",
     "One process, one thread, a Fashion-MNIST model with d_z = 10, while other work ran: the "
     "CPU seconds are the figures to read. Measured before issue 15 made the evaluation "
     "cheaper (the same-size training subset no longer has its own importance samples)."),
    ("fitted_density.csv", "Densities fitted to the codes",
     "`bench/bench_fitted_density.py`: on a synthetic encoder (that of `estimators.csv`), the "
     "wall time of `klgap.estimators.fitted_density_kl` per density family (widened mixture of "
     "the training posteriors, Gaussian mixture, flow) and with all three, each family's lower "
     "bound on the aggregate KL with its standard error, and for comparison the held-out bound "
     "of the unwidened mixture and the in-sample value."),
]


def record_names(bench: Path) -> list[str]:
    """The benchmark CSVs of ``bench``: those of ``RECORDS`` in its order, then any other (except
    ``klgap verify`` reports, which docs/reproducibility.md quotes), by name."""
    present = {path.name for path in bench.glob("*.csv") if not path.name.startswith("verify")}
    return [name for name in RECORDS if name in present] + sorted(present - set(RECORDS))


def unknown_record(bench: Path, name: str) -> tuple[str, str, str]:
    """Script, session and description of a CSV that ``RECORDS`` does not describe yet."""
    script = Path("bench") / f"bench_{Path(name).stem}.py"
    exists = (bench.parents[1] / script).is_file() if len(bench.parents) > 1 else False
    return (str(script) if exists else "—", "not recorded", "—")


def records_table(bench: Path) -> list[str]:
    """The list of records: file, script, when and where, what, the loads they record."""
    lines = ["| file | written by | measured | what | load (1 min) |",
             "| --- | --- | --- | --- | --- |"]
    for name in record_names(bench):
        path = bench / name
        script, when, what = RECORDS.get(name, unknown_record(bench, name))
        table = read_bench(path)
        loads = pd.to_numeric(table.get("load_1min", pd.Series(dtype=str)), errors="coerce")
        load = ("—" if not loads.notna().any() else f"{loads.min():.2f}"
                if loads.min() == loads.max() else f"{loads.min():.2f}–{loads.max():.2f}")
        script = f"`{script}`" if script != "—" else script
        lines.append(f"| `results/bench/{name}` | {script} | {when} | {what} | {load} |")
    return lines


def floor_table(bench: Path) -> list[str]:
    """The floor records side by side: one column per record, one row per figure."""
    columns, values, order = [], {}, []
    for name, record, heading in FLOOR_COLUMNS:
        path = bench / name
        if not path.is_file():
            continue
        table = read_bench(path)
        rows = {}
        for _, row in table.iterrows():
            base, which = split_figure(row["figure"])
            if which == record or (not which and f"_{record}_" in base):
                rows[base] = row
            elif base == "matmul_rate_now":  # the rate when the benchmark ran, for every record
                rows["matmul_rate_now (when the benchmark ran)"] = row
        if not rows:
            continue
        runs = re.search(r"(\d+) runs", rows.get("floor_tflop", {"note": ""})["note"])
        columns.append(f"{heading} (`{name}`" + (f", {runs.group(1)} runs)" if runs else ")"))
        # Derived from the ratios: the span and job time the ratios were computed from.
        floor_wall = (float(rows["floor_wall (2 cores)"]["value"])
                      if "floor_wall (2 cores)" in rows else None)
        derived = {}
        if floor_wall is not None and "measured_over_floor (span)" in rows:
            derived["span of the jobs (ratio × floor)"] = (
                float(rows["measured_over_floor (span)"]["value"]) * floor_wall, "s")
        if floor_wall is not None and "measured_over_floor (job time)" in rows:
            derived["job time, summed (ratio × floor × 2 cores)"] = (
                float(rows["measured_over_floor (job time)"]["value"]) * floor_wall * 2, "s")
        column = {}
        for base, row in rows.items():
            text = bench_value(row["value"], row["unit"], base)
            target = bench_target(row)
            column[base] = f"{text} ({target})" if target else text
        for label, (value, unit) in derived.items():
            column[label] = f"{number(value, 0)} {unit}"
        for key in list(rows) + list(derived):
            if key not in order:
                order.append(key)
        values[len(columns) - 1] = column
    if not columns:
        return []
    lines = ["| figure | " + " | ".join(columns) + " |",
             "| --- |" + " ---: |" * len(columns)]
    for key in order:
        lines.append(f"| {cell_text(key)} | "
                     + " | ".join(values[i].get(key, "") for i in range(len(columns))) + " |")
    return lines


def pilot_tables(path: Path) -> list[str]:
    """pilots.csv: the runs' times and memory, then their final slopes."""
    table = pd.read_csv(path)
    table["run"] = table["run"].map(rename_run)

    def wall_cpu(row, prefix):
        wall, cpu = row[f"{prefix}_wall_s"], row[f"{prefix}_cpu_s"]
        return "—" if not np.isfinite(wall) else f"{number(wall, 0)} s ({number(cpu, 0)} s)"

    lines = ["| pilot | run | training epochs | `train` job: wall (CPU) | `evaluate` job: wall "
             "(CPU) | `run` job: wall (CPU) | evaluation itself | peak memory of a job |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for _, row in table.iterrows():
        peak = np.nanmax([row[c] for c in ("train_max_rss_mb", "evaluate_max_rss_mb",
                                           "run_max_rss_mb")])
        lines.append(f"| {row['pilot']} | `{row['run']}` | {number(row['epoch_seconds'], 0)} s "
                     f"| {wall_cpu(row, 'train')} | {wall_cpu(row, 'evaluate')} "
                     f"| {wall_cpu(row, 'run')} | "
                     + ("—" if not np.isfinite(row["evaluation_seconds"])
                        else f"{number(row['evaluation_seconds'], 0)} s")
                     + f" | {number(peak / 1000, 2)} GB |")
    slopes = [c for c in table.columns if c.startswith("slope_")]
    lines += ["", "Their test curves' slopes over the last epochs, nats per epoch:", "",
              "| pilot | run | " + " | ".join(f"`{c.removeprefix('slope_')}`" for c in slopes)
              + " |", "| --- | --- |" + " ---: |" * len(slopes)]
    for _, row in table.iterrows():
        lines.append(f"| {row['pilot']} | `{row['run']}` | "
                     + " | ".join(number(row[c], 3) for c in slopes) + " |")
    return lines


def rename_run(run: str) -> str:
    """A run path with its objective under today's name (``aggregate`` -> ``mmd``)."""
    parts = run.split("/")
    if len(parts) > 1:
        parts[1] = objectives.RENAMED.get(parts[1], parts[1])
    return "/".join(parts)


def shares_table(path: Path) -> list[str]:
    """sweep_shares.csv / smoke_shares.csv, with the datasets and rules they hold."""
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    datasets = sorted(set(table["dataset"]) - {"all"})
    rules = sorted({rule for rule in table["rule"] if " " not in rule})
    return ([f"Datasets: {', '.join(datasets) or '—'}; rules: "
             f"{', '.join(f'`{r}`' for r in rules)}.", ""] + plain_table(table))


def performance_markdown(results: Path) -> str:
    """``docs/performance.md``: every committed benchmark record, as tables.

    Args:
      results: the output root with ``bench/*.csv`` and ``provenance.json``.

    Returns:
      The Markdown text, ending with a newline.
    """
    bench = results / "bench"
    if not bench.is_dir():
        raise UserError(f"{bench} not found: give the output root with the benchmarks (--results)")
    out = [
        "# Performance",
        "",
        "<!-- Generated by `python -m klgap findings --performance --out docs/performance.md` "
        "(src/klgap/paper/markdown/) from results/bench/*.csv and the sweeps' provenance.json; "
        "do not edit. tests/test_docs.py fails when this file differs from what the command "
        "prints. -->",
        "",
        "Every figure here is read from a committed record; none is typed. `make bench` measures "
        "again: each script of `bench/` writes `results/bench/<name>.csv` (columns `figure, value, "
        "unit, target, status, note, load_1min, machine`) and prints one `SUMMARY` line; then "
        "this command rewrites the page. Run the benchmarks on a quiet machine: `load_1min` is the "
        "machine's load when a figure was taken, and the other work the notes mention inflates "
        "wall times. No test asserts a timing. Everything was measured on CPUs with 2 cores; "
        "nothing on a GPU.",
        "",
        "## The records",
        "",
        "The machine column of every CSV says `AMD EPYC, 2 cores`; the session and whether the "
        "CPU had AVX-512 are as recorded when the files were committed. Records of different "
        "sessions came from different machines, so compare within a table, not across tables.",
        "",
        *records_table(bench),
        "",
        "## The paper's sweep",
        "",
        "The committed record (`results/provenance.json`) combines the records of the sweep's "
        "shards (`results/shards/<name>/provenance.json`): its span is the sum of theirs, run one "
        "after another, and its benchmarks are theirs side by side.",
        "",
        *sweep_records_table([("committed record", results / "provenance.json")]),
        "",
        "### Shards",
        "",
        "A sweep run in shards (config key `shards`, `klgap.sweep.shards`) records each shard "
        "apart, with the machine it ran on as `klgap machine` measured it at the shard's start.",
        "",
        *shards_table(results),
        "",
        "### The previous sweep, re-run from scratch",
        "",
        "The previous sweep's grid (digits and MNIST, 20 MNIST epochs, one seed of the "
        "alternatives), run by `make sweep` from scratch in a clean clone "
        "(`results/bench/sweep_rerun/`), reproduced that sweep's committed tables bitwise "
        "(`results/bench/sweep_reproduction.csv`). Its commits include `-dirty` ones because its "
        "clone used the main checkout's environment, whose editable install made the jobs import "
        "the package from there; the code they ran was that of 1807294 (CHANGELOG.md, "
        "2026-12-02).",
        "",
        *sweep_records_table([("previous sweep, re-run from scratch",
                               results / "bench" / "sweep_rerun" / "provenance.json")]),
        "",
        "### Against the hardware's floor",
        "",
        "`klgap.sweep.floor` counts the matrix-product FLOPs of a configuration from its "
        "architecture, epochs, evaluation sizes and importance samples (training: 3 × the forward "
        "products per example and epoch, plus the per-epoch test pass, and with the VampPrior "
        "its pseudo-inputs' encoder pass at every step; a run on some classes on their examples "
        "only; evaluation: the encoder and "
        "decoder passes and every N × M table of the decompositions, the held-out bracket, the "
        "prior holes and the minibatch estimators). Elementwise work is not counted, so the floor "
        "is a lower bound: every product priced at the one-thread rate of a large square product, "
        "which the model's narrow products do not reach. `bench/bench_floor.py` divides the "
        "measured times by it. The matmul rate of the machine varies between measurements on the "
        "same day (`matmul_rate_now` against the rate the ratio uses), so each ratio carries that "
        "uncertainty. The targets are in each CSV with their verdicts: the span at most 2 × its "
        "floor, and, in the records written since issue 31, the evaluations at most 2.5 × "
        "theirs and at most 5 % of the run jobs' time outside the numerical work (10 % in the "
        "older records).",
        "",
        *floor_table(bench),
        "",
    ]
    out += shard_rerun_section(results)
    out += before_after_section(bench)
    reproduction = bench / "sweep_reproduction.csv"
    if reproduction.is_file():
        out += ["### The re-run reproduced the tables",
                "",
                "Every cell of the tables of both datasets, timings left out, compared between the "
                "committed record and the re-run (`bench/compare_sweeps.py`); same CPU features "
                "and package versions.",
                "",
                *generic_table(read_bench(reproduction)),
                ""]
    pilots = bench / "pilots.csv"
    if pilots.is_file():
        out += ["## One process per run, and pilots of each objective",
                "",
                "From the runs' own records (Snakemake's benchmark files, `run.json`, "
                "`metrics.json`, `history.csv`; `bench/pilot_records.py`). `before_5b745e8`: two "
                "MNIST runs (d_z = 10, β = 1, 20 epochs) with separate `train` and `evaluate` "
                "jobs, whose evaluations ran while another test suite loaded the machine (their "
                "CPU time is the fairer figure); `after_a1277a1`: the same runs as one `run` job "
                "(`klgap train-and-evaluate`), which also measures more. `pilot`: one run of each "
                "objective before the paper's sweep (objectives under today's names).",
                "",
                *pilot_tables(pilots),
                ""]
    out += ["## Evaluation cost per run, by part",
            "",
            "The median seconds per run of the evaluation's own time and of its parts (the fitted "
            "bound, the sample-quality metrics, AIS with its IW bound on the same examples), from "
            "the test records of `<dataset>/metrics.csv` and of each shard's, per dataset and "
            "objective. Wall seconds are inflated by other work on the machine; the CPU seconds "
            "are not.",
            "",
            *evaluation_cost_table(results),
            ""]
    out += ["## AIS settings and their error", ""]
    ais_record = bench / "ais.csv"
    if ais_record.is_file():
        out += ["`results/bench/ais.csv` (`bench/bench_ais.py`): one trained model's AIS "
                "log-likelihood, mean over the evaluation's AIS subset of test images, at each "
                "setting of T (steps), C (chains) and L (leapfrog steps), one thread. The chains' "
                "standard error is the Monte Carlo error given the images; the difference to the "
                "longest setting (mean over images of the paired differences, with their standard "
                "error) estimates a setting's bias, since AIS is a stochastic lower bound that "
                "tightens as T grows. The IW row is the importance-weighted bound on the same "
                "images.",
                "",
                *pivot_table(read_bench(ais_record)),
                ""]
    else:
        out += ["No AIS record yet (`bench/bench_ais.py` writes `results/bench/ais.csv`).", ""]
    shares = [(bench / "sweep_shares.csv", "the previous sweep (84 runs of digits and "
               "Fashion-MNIST, separate `train` and `evaluate` jobs), not the paper's current one"),
              (bench / "smoke_shares.csv", "the smoke configuration of the time")]
    if any(path.is_file() for path, _ in shares):
        out += ["## Time per rule", "",
                "`bench/sweep_shares.py <outdir>/benchmarks.csv`: job time per rule and dataset, "
                "its share, and what the jobs would take on 2 cores.", ""]
        for path, what in shares:
            if path.is_file():
                out += [f"`results/bench/{path.name}`, {what}:", "", *shares_table(path), ""]
    for name, title, text in GENERIC_SECTIONS:
        path = bench / name
        if path.is_file():
            out += [f"## {title}", "", f"`results/bench/{name}`. {text}", "",
                    *generic_table(read_bench(path)), ""]
    # Records no section describes yet are shown as they are, in the common format's table.
    for name in record_names(bench):
        if name in RECORDS:  # each has a section above
            continue
        table = read_bench(bench / name)
        rows = generic_table(table) if list(table.columns) == BENCH_COLUMNS else plain_table(table)
        out += [f"## `results/bench/{name}`", "", *rows, ""]
    out += ["## What keeps the sweep above its target", "", *gap_paragraph(results)]
    return join_lines(out)
