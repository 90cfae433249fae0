"""Tests of the generated LaTeX, on a synthetic summary table (figures: test_figures.py)."""

import re

import numpy as np
import pandas as pd
import pytest

from klgap import aggregate, cli, layout, report


@pytest.fixture
def summary_csv(tmp_path):
    """A summary of a synthetic sweep, with one run missing."""
    rng = np.random.default_rng(1)
    runs = layout.sweep(["fashion_mnist"], [2], [0.5, 2.0], [0, 1, 2])
    records = []
    for run in runs:
        if run == runs[-1]:
            continue
        for split in ("test", "train"):
            mutual_info, aggregate_kl = rng.uniform(1, 5), rng.uniform(0, 1)
            records.append({**run._asdict(), "split": split, "log_n": np.log(1000.0),
                            "elbo": -rng.uniform(90, 110), "iw_ll": -rng.uniform(85, 95),
                            "rate": mutual_info + aggregate_kl, "mutual_info": mutual_info,
                            "aggregate_kl": aggregate_kl})
    summary = aggregate.summarize(aggregate.tidy(records), runs)
    path = tmp_path / "fashion_mnist" / "summary.csv"
    aggregate.write_csv(path, summary)
    return path


def test_numbers_and_table(tmp_path, summary_csv):
    numbers, table = tmp_path / "tex" / "numbers.tex", tmp_path / "tex" / "table.tex"
    cli.main(["tex", "--summaries", str(summary_csv), "--commit", "0123456789abcdef0123-dirty",
              "--config-label", "smoke.yaml + --config outdir", "--config-hash", "abc",
              "--numbers", str(numbers), "--table", str(table)])
    text = numbers.read_text()
    assert r"\newcommand{\klgapCommit}{0123456789ab-dirty}" in text
    assert r"\newcommand{\klgapNumRuns}{5}" in text
    assert r"\newcommand{\klgapNumMissingRuns}{1}" in text
    summary = pd.read_csv(summary_csv)
    rate = summary[(summary["beta"] == 0.5) & (summary["split"] == "test")
                   & (summary["metric"] == "rate")].iloc[0]
    assert rf"\@namedef{{klgap@fashion_mnist@2@0.5@test@rate@mean}}{{{rate['mean']:.2f}}}" in text
    rows = [line for line in table.read_text().splitlines() if line.startswith("fashion")]
    assert len(rows) == 2
    assert rows[1].endswith(r"2/3 \\")
    # Every row has as many cells as the header.
    header = next(line for line in table.read_text().splitlines() if line.startswith("dataset"))
    assert all(row.count("&") == header.count("&") for row in rows)


@pytest.mark.parametrize("text, escaped", [("fashion_mnist", r"fashion\_mnist"),
                                           ("50% & $x$", r"50\% \& \$x\$")])
def test_escape(text, escaped):
    assert report.escape(text) == escaped
    assert not re.search(r"(?<!\\)[_%&$]", report.escape(text))
