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
