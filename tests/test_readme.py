"""The README: its findings are what `klgap findings --markdown` prints, and what it points to
exists.

When the committed summaries change, rewrite the block with
``python -m klgap findings --markdown --readme README.md``.
"""

import re
from pathlib import Path

import pytest

from klgap import cli
from klgap.paper import figure_registry, markdown

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
REGENERATE = "python -m klgap findings --markdown --readme README.md"
MAX_LINES = 200
# Durations such as "12 s", "3.5-4 minutes", "105 min".
DURATION = re.compile(r"\b\d[\d,.]*(?:\s*[-–]\s*\d[\d,.]*)?"
                      r"\s*(?:s|sec|seconds?|min|minutes?|h|hours?)\b")
# A budget is a target, not a measurement.
BUDGET = re.compile(r"budget of \d+ minutes")


def timed(line: str) -> bool:
    """Whether a line quotes a duration (a budget aside)."""
    return DURATION.search(BUDGET.sub("", line)) is not None


def test_findings_block_is_what_the_command_prints(capsys):
    cli.main(["findings", "--markdown", "--results", str(REPO / "results")])
    printed = capsys.readouterr().out
    block = markdown.read_block(README.read_text())
    assert block == printed, f"the README's findings are stale: run {REGENERATE}"


def test_findings_block_can_be_rewritten_in_place(tmp_path, capsys):
    copy = tmp_path / "README.md"
    text = README.read_text()
    stale = markdown.replace_block(text, "| an old table |\n")
    copy.write_text(stale)
    cli.main(["findings", "--markdown", "--results", str(REPO / "results"), "--readme", str(copy)])
    assert copy.read_text() == text


def test_findings_flag_the_ceiling_and_list_every_setting():
    """The headline rows are the beta-VAE's cells with beta = 1; a flagged value is within the
    margin of log N (checked against the printed numbers themselves)."""
    block = markdown.read_block(README.read_text())
    first_table = block.split("Every β of the sweep")[0]  # the headline table comes first
    headline = [line for line in first_table.splitlines()
                if re.match(r"\| (MNIST|Fashion-MNIST)", line)]
    assert headline, "no headline row"
    for row in headline:
        cells = [c.strip() for c in row.strip("|").split("|")]
        log_n = float(cells[3])
        info = cells[5]
        value = float(info.rstrip(markdown.CEILING_MARK).replace(markdown.MINUS, "-"))
        # Rounded to 2 decimals on both sides, so allow one unit of rounding at the edge.
        if info.endswith(markdown.CEILING_MARK):
            assert value >= log_n - 0.1 - 0.01, row
        else:
            assert value < log_n - 0.1 + 0.01, row
    # Every beta: "information / fitted bound–in-sample value" per cell, flagged the same way
    # (every split has the headline's log N).
    grid = [line for line in block.split("Every β of the sweep")[1].splitlines()
            if re.match(r"\| (MNIST|Fashion-MNIST)", line)]
    assert len(grid) >= len(headline)
    for row in grid:
        for entry in [c.strip() for c in row.strip("|").split("|")][2:]:
            if entry == "—":
                continue
            info, bracket = entry.split(" / ")
            low, high = (float(v.replace(markdown.MINUS, "-")) for v in bracket.split("–"))
            assert low >= 0 and high >= 0, row
            value = float(info.rstrip(markdown.CEILING_MARK))
            assert info.endswith(markdown.CEILING_MARK) == (value >= log_n - 0.1 - 0.005), row


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; move details to docs/"


def test_relative_links_and_paths_exist():
    text = README.read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" not in target:
            assert (REPO / target).exists(), target
    for path in re.findall(r"`((?:src|docs|results/bench|workflow|profiles|tests|bench|scripts"
                           r"|paper|requirements)/[^`*<> ]*)`", text):
        assert (REPO / path).exists(), path


def test_map_lists_every_subpackage():
    text = README.read_text()
    packages = sorted(p.name for p in (REPO / "src" / "klgap").iterdir()
                      if (p / "__init__.py").is_file())
    assert packages, "no subpackages found"
    for package in packages:
        assert f"`src/klgap/{package}/`" in text, package


def test_make_targets_exist():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w%-]*):", makefile, flags=re.MULTILINE))
    for target in set(re.findall(r"`make ([a-z][\w<>-]*)", README.read_text())):
        name = re.sub(r"<[^>]+>", "%", target)
        assert name in targets, f"README names `make {target}`, which the Makefile lacks"


def test_the_figure_named_is_drawn():
    names = re.findall(r"results/figures/(\w+)\.png", README.read_text())
    assert names
    for name in names:
        assert name in figure_registry.FIGURE_TABLES, name


def test_no_timings_outside_the_setup_commands():
    """The README quotes no timing of a past run but the two set-up commands' (measured times
    live in generated files and CHANGELOG.md)."""
    text = README.read_text()
    text = text.replace(markdown.read_block(text), "")
    quoted = [line for line in text.splitlines() if timed(line)
              and not re.match(r"\s+make (paper|test)\s+#", line)]
    assert not quoted, quoted


@pytest.mark.parametrize("name", ["docs/running.md", "docs/reproducibility.md",
                                  "docs/interfaces.md", "results/README.md"])
def test_hand_written_docs_quote_no_timings(name):
    lines = [line for line in (REPO / name).read_text().splitlines() if timed(line)]
    assert not lines, lines
