"""Markdown tables of the benchmark records (``<results>/bench/*.csv``): reading a record,
formatting its values and targets, and laying it out as a table."""

import re
from pathlib import Path

import pandas as pd

from klgap.paper.markdown.text import number, significant


BENCH_COLUMNS = ["figure", "value", "unit", "target", "status", "note", "load_1min", "machine"]


def read_bench(path: Path) -> pd.DataFrame:
    """A benchmark CSV (lines starting with ``#`` are comments); empty cells as empty strings."""
    return pd.read_csv(path, comment="#", keep_default_na=False, dtype=str)


def split_figure(figure: str) -> tuple[str, str]:
    """``"span [sweep]"`` -> ``("span", "sweep")``; a figure without brackets has record ``""``."""
    match = re.fullmatch(r"(.*?)\s*\[([^\[\]]*)\]", figure.strip())
    return (match.group(1), match.group(2)) if match else (figure.strip(), "")


def bench_value(value: str, unit: str, figure: str = "") -> str:
    """A benchmark value with its unit: ratios as ``2.99×``, shares as percentages."""
    try:
        number_value = float(value)
    except ValueError:
        return value or "—"
    if unit == "x":
        return f"{significant(number_value)}×"
    if not unit and ("share" in figure or "fraction" in figure):
        return f"{significant(100 * number_value)} %"
    text = significant(number_value)
    return f"{text} {unit}" if unit else text


def bench_target(row: pd.Series) -> str:
    """``target ≤ 2: FAIL``-style text, or empty without a target."""
    if not row["target"]:
        return ""
    target = row["target"].replace("<=", "≤").replace(">=", "≥")
    if not row["unit"] and ("share" in row["figure"] or "fraction" in row["figure"]):
        match = re.fullmatch(r"([<>=≤≥]+)\s*([0-9.]+)", target)
        if match:
            target = f"{match.group(1)} {significant(100 * float(match.group(2)))} %"
    return f"{target}: **{row['status']}**" if row["status"] else target


def cell_text(text: str) -> str:
    """Text for a Markdown table cell (pipes escaped)."""
    return str(text).replace("|", "\\|")


def generic_table(table: pd.DataFrame) -> list[str]:
    """Every row of a benchmark CSV: figure, value, target and verdict, note, load."""
    lines = ["| figure | value | target | note | load (1 min) |",
             "| --- | ---: | --- | --- | ---: |"]
    for _, row in table.iterrows():
        lines.append(f"| {cell_text(row['figure'].strip())} "
                     f"| {bench_value(row['value'], row['unit'], row['figure'])} "
                     f"| {bench_target(row)} | {cell_text(row['note'])} | {row['load_1min']} |")
    return lines


def plain_table(table: pd.DataFrame) -> list[str]:
    """A CSV as a Markdown table, numbers with about three significant digits."""
    lines = ["| " + " | ".join(table.columns) + " |",
             "| " + " | ".join("---" for _ in table.columns) + " |"]
    for _, row in table.iterrows():
        cells = []
        for value in row:
            try:
                number_value = float(value)
            except ValueError:
                cells.append(cell_text(value) if value != "" else "—")
                continue
            integer = re.fullmatch(r"-?\d+", value) is not None
            cells.append(number(number_value, 0) if integer else significant(number_value))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def hundredths(value: str, unit: str) -> str:
    """A value to two decimals (log-likelihoods differ in them), with its unit."""
    try:
        number_value = float(value)
    except ValueError:
        return value or "—"
    text = number(number_value, 2)
    return f"{text} {unit}" if unit else text


def pivot_table(table: pd.DataFrame) -> list[str]:
    """A benchmark CSV whose figures are ``name [record]``: one row per record, one column per
    name (values to hundredths, with their units), then the notes of each record below."""
    names, records, cells, notes = [], [], {}, {}
    for _, row in table.iterrows():
        name, record = split_figure(row["figure"])
        names += [name] if name not in names else []
        records += [record] if record not in records else []
        cells[record, name] = hundredths(row["value"], row["unit"])
        if row["note"]:
            notes.setdefault(row["note"], []).append(record)
    lines = ["| | " + " | ".join(cell_text(name) for name in names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for record in records:
        lines.append(f"| {cell_text(record)} | "
                     + " | ".join(cells.get((record, name), "—") for name in names) + " |")
    lines.append("")
    for note, where in notes.items():
        shown = ", ".join(where) if len(where) < len(records) else "all"
        lines.append(f"- {shown}: {note}")
    return lines
