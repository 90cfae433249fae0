"""results/README.md documents exactly the columns of the committed tables, both ways.

For every kind of table (``metrics``, ``summary``, ...), the columns named in the first cell of
the rows of its section's table are compared with the headers of every committed
``results/<dataset>/<kind>.csv``: each column must be documented, and each documented name must
be a column of at least one of those files. Placeholders stand for one part of a name: ``<c>`` a
class label, ``<B>`` a minibatch size (digits both). The same holds for ``benchmarks.csv`` and
the benchmark records under ``results/bench/``.
"""

import csv
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
README = RESULTS / "README.md"
KINDS = ("metrics", "summary", "history", "latent_samples", "sample_grids")
PLACEHOLDERS = {"<c>": r"\d+", "<B>": r"\d+"}


def sections() -> dict[str, str]:
    """The README's sections, by their heading without the ``## `` and backticks."""
    parts = re.split(r"^## ", README.read_text(), flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].replace("`", "").strip(): part for part in parts}


def documented(section: str) -> list[str]:
    """The backticked names in the first cell of each table row of a section (header rows and
    rows of other tables' file lists excluded)."""
    names = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        names += re.findall(r"`([^`]+)`", first_cell)
    return names


def pattern(name: str) -> re.Pattern:
    """A documented name as a regular expression (placeholders replaced)."""
    text = re.escape(name)
    for placeholder, regex in PLACEHOLDERS.items():
        text = text.replace(re.escape(placeholder), regex)
    return re.compile(text)


def header(path: Path) -> list[str]:
    """The column names of a CSV (``#`` comment lines skipped)."""
    with path.open(newline="") as file:
        rows = (line for line in file if not line.startswith("#"))
        return next(csv.reader(rows))


def datasets() -> list[str]:
    return yaml.safe_load((RESULTS / "config.yaml").read_text())["datasets"]


def check_both_ways(names: list[str], columns: set[str], what: str) -> None:
    """Every column matches a documented name; every documented name matches a column."""
    assert names, f"results/README.md documents no column of {what}"
    patterns = {name: pattern(name) for name in names}
    undocumented = sorted(c for c in columns if not any(p.fullmatch(c) for p in patterns.values()))
    assert not undocumented, f"columns of {what} not in results/README.md: {undocumented}"
    absent = sorted(n for n, p in patterns.items() if not any(p.fullmatch(c) for c in columns))
    assert not absent, f"results/README.md documents columns {what} does not have: {absent}"


def test_the_committed_datasets_have_every_table():
    for dataset in datasets():
        for kind in KINDS:
            assert (RESULTS / dataset / f"{kind}.csv").is_file(), (dataset, kind)
    assert datasets(), "results/config.yaml names no dataset"


@pytest.mark.parametrize("kind", KINDS)
def test_dataset_tables_documented_both_ways(kind):
    section = sections()[f"<dataset>/{kind}.csv"]
    columns = set()
    for dataset in datasets():
        columns |= set(header(RESULTS / dataset / f"{kind}.csv"))
    check_both_ways(documented(section), columns, f"results/<dataset>/{kind}.csv")


def test_no_other_committed_dataset_table():
    """Every CSV of a dataset directory is one of the kinds documented above."""
    for dataset in datasets():
        names = sorted(p.stem for p in (RESULTS / dataset).glob("*.csv"))
        assert names == sorted(KINDS), dataset


def test_benchmarks_csv_documented_both_ways():
    section = sections()["provenance.json and benchmarks.csv"]
    check_both_ways(documented(section), set(header(RESULTS / "benchmarks.csv")),
                    "results/benchmarks.csv")


def bench_groups() -> list[tuple[str, set[str], list[Path]]]:
    """The rows of the bench/ table: (documented column list, the files the row names)."""
    rows = []
    for line in sections()["bench/"].splitlines():
        if not line.startswith("| `bench/"):
            continue
        cells = re.split(r"(?<!\\)\|", line)
        files = re.findall(r"`([^`]+)`", cells[1])
        # The column list: the first code span of the second cell that lists names with commas.
        lists = [span for span in re.findall(r"`([^`]+)`", cells[2]) if ", " in span]
        columns = {c.strip() for c in lists[0].split(",")} if lists else set()
        paths = []
        for name in files:
            name = name.removeprefix("bench/")
            paths += sorted((RESULTS / "bench").glob(name)) if "*" in name \
                else [RESULTS / "bench" / name]
        rows.append((cells[1].strip(), columns, paths))
    return rows


def test_bench_files_are_all_listed_and_their_columns_documented():
    listed = set()
    for row, columns, paths in bench_groups():
        for path in paths:
            assert path.exists(), f"results/README.md lists {path}, which does not exist"
            listed.add(path)
            if columns and path.suffix == ".csv":
                assert set(header(path)) == columns, (row, path.name)
    # Every committed benchmark CSV is listed in some row.
    for path in sorted((RESULTS / "bench").glob("*.csv")):
        assert path in listed, f"results/README.md does not list {path.name}"
    # The pilots' columns are described, not listed: every one belongs to a described group.
    pilots = header(RESULTS / "bench" / "pilots.csv")
    groups = ("pilot", "run", "epoch_seconds", "evaluation_seconds", r"(train|evaluate|run)_"
              r"(wall_s|cpu_s|max_rss_mb)", r"slope_test_\w+")
    assert all(any(re.fullmatch(g, c) for g in groups) for c in pilots), pilots


def test_no_false_statements_about_the_committed_tables():
    """Statements the README once made that the committed tables contradict."""
    text = README.read_text()
    assert "header only" not in text and "header-only" not in text
    assert "predate the `objective` column" not in text
    for dataset in datasets():
        assert sum(1 for _ in (RESULTS / dataset / "sample_grids.csv").open()) > 1
        assert "objective" in header(RESULTS / dataset / "metrics.csv")
