"""The README's findings: how the beta-VAE's rate splits into information and aggregate KL, as a
Markdown block generated from ``<results>/<dataset>/summary.csv``, and the block's markers."""

from pathlib import Path

import pandas as pd
import yaml

from klgap.errors import UserError
from klgap.paper import findings
from klgap.paper.markdown.sweep_records import shard_records, shards_total
from klgap.paper.tex import study as study_tex
from klgap.sweep import layout, study, tables
from klgap.paper.markdown.text import (CEILING_MARK, FINDINGS_END, FINDINGS_START,
                                       join_lines, number)


def load_summaries(results: Path) -> pd.DataFrame:
    """The summaries of the datasets of ``<results>/config.yaml``, objectives under current names.

    Args:
      results: an output root with ``config.yaml`` and ``<dataset>/summary.csv``.

    Returns:
      The concatenated summaries (``tables.load_tables``) of the runs on every class.

    Raises:
      UserError: if the configuration or a summary is missing.
    """
    config_path = results / "config.yaml"
    if not config_path.is_file():
        raise UserError(f"{config_path} not found: give the output root of a sweep (--results)")
    datasets = yaml.safe_load(config_path.read_text())["datasets"]
    return tables.whole_dataset(tables.load_tables(
        [results / dataset / "summary.csv" for dataset in datasets], "summary"))


def findings_markdown(summary: pd.DataFrame) -> str:
    """The README's findings: the beta-VAE's rate split at beta = 1, then over every beta.

    Args:
      summary: ``load_summaries``.

    Returns:
      Markdown (two tables and their notes), ending with a newline.
    """
    headline = findings.findings_table(summary)
    grid = findings.findings_table(summary, weight=None)
    if headline.empty:
        raise UserError("the summaries have no beta-VAE cell with beta = 1 on the test split")
    seeds = sorted(set(grid["seeds"]))
    seeds_text = (f"{seeds[0]} seeds" if len(seeds) == 1
                  else f"{', '.join(map(str, seeds[:-1]))} or {seeds[-1]} seeds")
    lines = [
        f"β-VAE with β = 1 on the test split (N images), means over {seeds_text}, in nats per "
        "example. The rate is the average per-example KL(q(z|x) ‖ p(z)); it is exactly the "
        "information I_q(x;z) plus the aggregate KL(q(z) ‖ p(z)). The population's aggregate KL "
        "lies between two measurements: the in-sample estimate over the N test codes, an upper "
        "bound in expectation, and the fitted-density bound, a lower bound (the cross-entropy "
        "gain of a density fitted to the training codes, evaluated on the test codes).",
        "",
        "| dataset | d_z | N | log N | rate | I_q(x;z) | KL(q(z) ‖ p), fitted ≥ "
        "| KL(q(z) ‖ p), in-sample | seeds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in headline.itertuples(index=False):
        mark = CEILING_MARK if row.at_ceiling else ""
        lines.append(
            f"| {layout.DATASET_NAMES.get(row.dataset, row.dataset)} | {row.latent_dim} "
            f"| {number(row.n, 0)} | {number(row.log_n)} | {number(row.rate)} "
            f"| {number(row.mutual_info)}{mark} | {number(row.fitted_aggregate_kl_lower)} "
            f"| {number(row.aggregate_kl)} | {row.seeds} |")
    weights = sorted(grid["weight"].unique())
    lines += [
        "",
        "Every β of the sweep, same split: I_q(x;z) / KL(q(z) ‖ p) between the fitted bound and "
        "the in-sample estimate.",
        "",
        "| dataset | d_z | " + " | ".join(f"β = {w:g}" for w in weights) + " |",
        "| --- | ---: |" + " ---: |" * len(weights),
    ]
    cells = grid.set_index(["dataset", "latent_dim", "weight"])
    for (dataset, latent_dim), _ in grid.groupby(["dataset", "latent_dim"], sort=True):
        entries = []
        for weight in weights:
            if (dataset, latent_dim, weight) not in cells.index:
                entries.append("—")
                continue
            cell = cells.loc[(dataset, latent_dim, weight)]
            mark = CEILING_MARK if cell["at_ceiling"] else ""
            entries.append(f"{number(cell['mutual_info'])}{mark} / "
                           f"{number(cell['fitted_aggregate_kl_lower'])}–"
                           f"{number(cell['aggregate_kl'])}")
        lines.append(f"| {layout.DATASET_NAMES.get(dataset, dataset)} | {latent_dim} | "
                     + " | ".join(entries) + " |")
    lines += [
        "",
        f"{CEILING_MARK} Within {findings.CEILING_MARGIN:g} nats of log N: the information is at "
        "its ceiling, so the in-sample aggregate KL is about rate − log N and says more about N "
        "than about the model; the fitted bound does not depend on N. Both sides are estimates "
        "that hold in expectation, so where the posteriors overlap and the two sides nearly "
        "meet they can cross by their Monte Carlo errors (metrics.csv has each one's _se).",
    ]
    return join_lines(lines)


def study_sentence(results: Path) -> str:
    """The convergence study (config key ``convergence_study`` of ``<results>/config.yaml``) in
    one sentence for the README: how far the likelihoods and the rate's split move when the
    sweep's models train longer (``klgap.paper.tex.study.paired_cells``); empty without a study.

    Args:
      results: the paper's output root, in the repository (its parent).
    """
    config = yaml.safe_load((results / "config.yaml").read_text())
    repo = results.parent
    study_metrics = study.study_tables(repo, config, "metrics")
    if not study_metrics:
        return ""
    datasets = [path.parent.name for path in study_metrics]
    metrics = tables.load_tables([results / d / "metrics.csv" for d in datasets], "metrics")
    history, study_history = study_tex.compared_histories(
        tables.load_tables([results / d / "history.csv" for d in datasets], "history"),
        tables.load_tables(study.study_tables(repo, config, "history"), "history"))
    cells = study_tex.paired_cells(metrics, tables.load_tables(study_metrics, "metrics"))
    seeds = cells[("elbo", "paired")]

    def largest(metric):
        return number(cells[(metric, "change")].abs().max())

    names = ", ".join(layout.DATASET_NAMES.get(d, d) for d in datasets)
    latent_dims = " and ".join(str(d) for d in sorted(set(cells.index.get_level_values(1))))
    weights = sorted(set(cells.index.get_level_values(2)))
    study_root = study_metrics[0].parent.parent
    records = shard_records(study_root)
    total = shards_total(records)
    took = ("" if total is None else f", {total[0]} runs in {len(records)} shards, "
            f"{number(total[1] / 60, 0)} minutes one after another")
    paired = int(seeds[seeds > 0].min())
    return (f"Trained {study_tex.last_epochs(study_history)} epochs instead of "
            f"{study_tex.last_epochs(history)} (the convergence study in "
            f"{study_root.relative_to(repo)}/: the {names} β-VAE at d_z {latent_dims}, β "
            f"{weights[0]:g} to {weights[-1]:g}, the sweep's runs trained on, compared on the "
            f"same {paired} seed{'s' if paired != 1 else ''}{took}), the test ELBO gains "
            f"up to {largest('elbo')} nats and the AIS log-likelihood up to "
            f"{largest('ais_ll')}, while the information moves by at most "
            f"{largest('mutual_info')}, the in-sample aggregate KL by at most "
            f"{largest('aggregate_kl')} and the fitted bound by at most "
            f"{largest('fitted_aggregate_kl_lower')}.")


def findings_text(summary: pd.DataFrame) -> str:
    """The findings table of every weight as plain text, for a terminal."""
    table = findings.findings_table(summary, weight=None)
    with pd.option_context("display.width", 160, "display.max_rows", None):
        return table.to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n"


def replace_block(text: str, block: str, start: str = FINDINGS_START,
                  end: str = FINDINGS_END) -> str:
    """Replaces what lies between the marker lines ``start`` and ``end`` of ``text`` by ``block``.

    Raises:
      UserError: unless each marker occurs exactly once, ``start`` first.
    """
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise UserError(f"the text needs one line {start} and, after it, one line {end}")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{block}{end}{tail}"


def read_block(text: str, start: str = FINDINGS_START, end: str = FINDINGS_END) -> str:
    """What lies between the marker lines (the inverse of ``replace_block``)."""
    if text.count(start) != 1 or text.count(end) != 1:
        raise UserError(f"the text needs one line {start} and one line {end}")
    return text.split(start)[1].split(end)[0].removeprefix("\n")


# --- docs/performance.md -------------------------------------------------------------------

# Benchmarks in the common format of bench/*.py (``klgap`` writes none of them): their script and
# what they measure. The session dates and machines are those the README recorded when the
# records were committed; the CSVs themselves name the machine only as "AMD EPYC, 2 cores".
