"""Markdown tables of the sweeps' own records: each sweep's ``provenance.json``, the shards of a
sweep, and the cost of each part of the evaluation from the metrics tables."""

import json
from pathlib import Path

import pandas as pd

from klgap.paper.markdown.bench_tables import cell_text
from klgap.paper.markdown.text import number, significant
from klgap.sweep import layout
from klgap.training import objectives


# The timing columns of a metrics table (``klgap.evaluation.evaluate.TIMING_KEYS``) the cost table
# shows, with their headings; the parts are inside ``evaluation_seconds``.
EVALUATION_PARTS = [("evaluation_seconds", "evaluation, wall"),
                    ("evaluation_cpu_seconds", "evaluation, CPU"),
                    ("fitted_seconds", "fitted bound"), ("quality_seconds", "sample quality"),
                    ("ais_seconds", "AIS and its IW bound")]


def sweep_records_table(sources: list[tuple[str, Path]]) -> list[str]:
    """Sweep records side by side, from their ``provenance.json``.

    Args:
      sources: (column heading, path) of each record; missing files are left out.

    Returns:
      Markdown table lines; none if no record exists.
    """
    records = [(name, json.loads(path.read_text())) for name, path in sources if path.is_file()]
    if not records:
        return []

    def row(label, values):
        return f"| {label} | " + " | ".join(values) + " |"

    def seconds(value):
        return f"{number(value, 0)} s ({number(value / 60, 0)} min)"

    lines = ["| | " + " | ".join(name for name, _ in records) + " |",
             "| --- |" + " --- |" * len(records)]
    lines.append(row("written (UTC)", [r.get("date_utc", "—") for _, r in records]))
    lines.append(row("runs", [str(r.get("runs_trained", "—")) for _, r in records]))
    lines.append(row("commits the runs were trained at",
                     [", ".join(c[:7] + ("-dirty" if c.endswith("-dirty") else "")
                                for c in r.get("training_commits", [])) for _, r in records]))
    lines.append(row("span: first job's start to last job's end",
                     [seconds(r["span_seconds"]) for _, r in records]))
    lines.append(row("wall time of the jobs, summed",
                     [seconds(r["wall_seconds_benchmarked_total"]) for _, r in records]))
    lines.append(row("CPU time of the jobs, summed",
                     [seconds(r["cpu_seconds_benchmarked_total"]) for _, r in records]))
    for rule in sorted({rule for _, r in records for rule in r.get("wall_seconds_per_rule", {})}):
        values = []
        for _, r in records:
            stats = r.get("wall_seconds_per_rule", {}).get(rule)
            values.append("—" if stats is None else
                          f"{stats['jobs']} jobs, mean {number(stats['wall_seconds_mean'], 0)} s, "
                          f"longest {number(stats['wall_seconds_max'], 0)} s, peak memory "
                          f"{number(stats['max_rss_mb_max'], 0)} MB")
        lines.append(row(f"rule `{rule}`", values))
    lines.append(row("one-thread float32 matmul rate (rule `machine`)",
                     [f"{significant(r['matmul_gflops_per_thread'])} GFLOP/s "
                      f"(measured {r.get('machine', {}).get('date_utc', '—')})"
                      if "matmul_gflops_per_thread" in r else "per shard (below)"
                      for _, r in records]))
    lines.append(row("CPU", ["; ".join(r.get("cpus", [])) for _, r in records]))
    lines.append(row("devices", ["; ".join(r.get("devices", [])) for _, r in records]))
    return lines


def shard_records(results: Path) -> dict[str, dict]:
    """Every shard's provenance, by name: the ``shards`` of ``<results>/provenance.json`` (a
    combined sweep's, ``klgap.sweep.shards.combine_provenance``), then
    ``<results>/shards/*/provenance.json`` (a shard's own, replacing a combined copy)."""
    records = {}
    combined = results / "provenance.json"
    if combined.is_file():
        records.update(json.loads(combined.read_text()).get("shards", {}))
    for path in sorted((results / "shards").glob("*/provenance.json")):
        records[path.parent.name] = json.loads(path.read_text())
    return dict(sorted(records.items()))


def shards_table(results: Path) -> list[str]:
    """One row per shard of a sharded sweep: runs, span, the machine at its start (``klgap
    machine``) and date; or one line saying there is none."""
    records = shard_records(results)
    if not records:
        return ["No sharded sweep has a record here yet (`shards/*/provenance.json`, or `shards` "
                "in `provenance.json`)."]
    lines = ["| shard | runs | span | host | CPUs available | CPU and features | one-thread "
             "matmul at its start | written (UTC) |",
             "| --- | ---: | ---: | --- | ---: | --- | ---: | --- |"]
    for name, record in records.items():
        machine = record.get("machine", {})
        cpu = machine.get("cpu")
        cpu_text = (f"{cpu.get('model', '—')} ({', '.join(cpu.get('features', [])) or '—'})"
                    if cpu else "; ".join(record.get("cpus", [])) or "—")
        rate = machine.get("matmul_gflops_per_thread", record.get("matmul_gflops_per_thread"))
        rate_text = "—" if rate is None else f"{significant(rate)} GFLOP/s"
        if rate is not None and machine.get("date_utc"):
            rate_text += f" ({machine['date_utc']})"
        span = record.get("span_seconds")
        lines.append(f"| {cell_text(name)} | {record.get('runs_trained', '—')} "
                     f"| {'—' if span is None else f'{number(span / 60, 0)} min'} "
                     f"| {cell_text(machine.get('host', '—'))} "
                     f"| {machine.get('cpus_available', '—')} | {cell_text(cpu_text)} "
                     f"| {rate_text} | {record.get('date_utc', '—')} |")
    total = shards_total(records)
    if len(records) > 1 and total is not None:
        lines.append(f"| all {len(records)}, one after another | {total[0]} "
                     f"| {number(total[1] / 60, 0)} min | | | | | |")
    return lines


def shards_total(records: dict[str, dict]) -> tuple[int, float] | None:
    """(runs, span seconds) of the shards run one after another; None while a shard's record
    lacks either."""
    spans = [record.get("span_seconds") for record in records.values()]
    runs = [record.get("runs_trained") for record in records.values()]
    if not records or None in spans or None in runs:
        return None
    return sum(runs), sum(spans)


def shards_sentence(results: Path) -> str:
    """How long the shards of the sweep took, in one sentence for the README; empty without
    shards, or while a shard's span or run count is missing."""
    records = shard_records(results)
    total = shards_total(records)
    if total is None:
        return ""
    spans = [record["span_seconds"] for record in records.values()]
    cpus = sorted({record.get("machine", {}).get("cpu", {}).get("model", "—")
                   for record in records.values()})
    cores = sorted({str(record.get("machine", {}).get("cpus_available", "—"))
                    for record in records.values()})
    return (f"The sweep: {total[0]} runs in {len(records)} shards of "
            f"{number(min(spans) / 60, 0)} to {number(max(spans) / 60, 0)} minutes each, "
            f"{number(total[1] / 60, 0)} minutes one after another, on {' or '.join(cores)} "
            f"CPU cores ({', '.join(cpus)}); docs/performance.md lists every shard and its "
            f"machine.")


def metrics_tables(results: Path) -> list[Path]:
    """The metrics tables of an output root: ``<dataset>/metrics.csv`` and each shard's."""
    return (sorted(results.glob("*/metrics.csv"))
            + sorted((results / "shards").glob("*/*/metrics.csv")))


def evaluation_cost_table(results: Path) -> list[str]:
    """Median seconds of each part of the evaluation per dataset and objective, over the test
    records of the metrics tables (a run in several tables counted once); one line if none."""
    tables = [pd.read_csv(path) for path in metrics_tables(results)]
    tables = [table[table["split"] == "test"] for table in tables if "split" in table.columns]
    tables = [table for table in tables if len(table)]
    if not tables:
        return ["No metrics table with test records here yet."]
    table = pd.concat(tables, ignore_index=True)
    if "objective" not in table.columns:  # tables written before runs had an objective
        table["objective"] = "vae"
    keys = [c for c in ("dataset", "objective", "classes", "latent_dim", "weight", "seed")
            if c in table.columns]
    table = table.drop_duplicates(keys)
    table["objective"] = table["objective"].map(lambda name: objectives.RENAMED.get(name, name))
    parts = [(column, heading) for column, heading in EVALUATION_PARTS
             if column in table.columns and table[column].notna().any()]
    missing = [f"`{column}`" for column, _ in EVALUATION_PARTS if column not in dict(parts)]
    if not parts:
        return [f"No records have {', '.join(missing)} yet."]
    lines = ["| dataset | objective | runs | " + " | ".join(h for _, h in parts) + " |",
             "| --- | --- | ---: |" + " ---: |" * len(parts)]
    for (dataset, objective), group in table.groupby(["dataset", "objective"], sort=True):
        cells = [number(float(group[column].median()), 1) + " s" if group[column].notna().any()
                 else "—" for column, _ in parts]
        name = layout.DATASET_NAMES.get(dataset, dataset)
        lines.append(f"| {name} | {objective} | {len(group)} | " + " | ".join(cells) + " |")
    if missing:
        lines += ["", f"No records have {', '.join(missing)} yet."]
    return lines
