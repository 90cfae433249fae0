"""The command reference in docs/interfaces.md agrees with the commands' parsers (--help)."""

import re
from pathlib import Path

from klgap import cli

DOCS = Path(__file__).resolve().parents[1] / "docs" / "interfaces.md"


def documented_commands() -> dict[str, str]:
    """Returns each command's entry of the reference block, {command: its text}."""
    block = DOCS.read_text().split("## Commands")[1].split("\n## ")[0]
    entries = re.split(r"^    python -m klgap ", block, flags=re.MULTILINE)[1:]
    return {entry.split()[0]: entry.split("\n\n")[0] for entry in entries}


def parser_options(command: str) -> dict[str, bool]:
    """Returns a command's options and whether each is required, as its parser defines them."""
    parser = cli.build_parser([command])
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    return {action.option_strings[-1]: action.required
            for action in subparsers.choices[command]._actions
            if action.option_strings and action.dest != "help"}


def test_every_command_is_documented_once():
    assert sorted(documented_commands()) == sorted(cli.COMMANDS)


def test_documented_options_are_the_parsers_options():
    for command, text in documented_commands().items():
        optional = set(re.findall(r"\[(--[a-z-]+)", text))
        required = set(re.findall(r"(?<!\[)(--[a-z-]+)", text))
        options = parser_options(command)
        assert optional | required == set(options), command
        assert required == {name for name, needed in options.items() if needed}, command


# Generated and quoted figures in docs/.

REPO = DOCS.parents[1]
PERFORMANCE = REPO / "docs" / "performance.md"
REPRODUCIBILITY = REPO / "docs" / "reproducibility.md"


def test_performance_page_is_what_the_command_prints(capsys):
    cli.main(["findings", "--performance", "--results", str(REPO / "results")])
    assert PERFORMANCE.read_text() == capsys.readouterr().out, (
        "docs/performance.md is stale: run "
        "python -m klgap findings --performance --out docs/performance.md")


def test_performance_page_shows_every_benchmark_record():
    text = PERFORMANCE.read_text()
    for path in sorted((REPO / "results" / "bench").glob("*.csv")):
        if not path.name.startswith("verify"):
            assert f"`results/bench/{path.name}`" in text, path.name


def test_quoted_verify_verdicts_are_the_reports_first_lines():
    """Each verdict docs/reproducibility.md quotes is the first line of the report it names, and
    every committed report is quoted."""
    text = REPRODUCIBILITY.read_text()
    quoted, report = [], None
    for line in text.splitlines():
        named = re.match(r"- `results/bench/(verify\w*\.csv)`", line)
        if named:
            report = named.group(1)
        elif report and line.strip().startswith("verify: "):
            quoted.append((report, line.strip()))
            report = None
    reports = sorted(p.name for p in (REPO / "results" / "bench").glob("verify*.csv"))
    assert sorted(name for name, _ in quoted) == reports
    for name, verdict in quoted:
        first = (REPO / "results" / "bench" / name).read_text().splitlines()[0]
        assert first == f"# {verdict.strip()}", name


def test_relative_links_of_the_docs_exist():
    for page in sorted((REPO / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), (page.name, target)
