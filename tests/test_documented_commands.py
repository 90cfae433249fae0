"""Every command that README.md and docs/*.md show is run here: for real where it is cheap, as a
dry run where it trains (Snakemake's -n) or installs (make -n), and as a parse of its arguments
where neither can run (verify retrains). A documented command that breaks fails a test.

Placeholders are filled in: DIR and /path/to/... with an empty directory, <dataset> with digits.
Synopses (lines with [optional] parts, {choices} or ...) are checked option by option against the
command's parser.
"""

import queue
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from klgap import cli

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PREFIXES = ("make ", "python -m klgap ", "klgap ", "snakemake ", ".venv/bin/snakemake ")
# Make targets that run Snakemake: their documented ARGS are tried with -n (a dry run).
SNAKEMAKE_TARGETS = {"paper", "sweep", "smoke", "figures"}
# klgap commands cheap enough to run for real (on copies of what they would write).
CHEAP_COMMANDS = {"findings", "config-docs"}


def code_spans(text: str) -> list[str]:
    """Inline code spans and the lines of indented or fenced code blocks."""
    spans = re.findall(r"`([^`\n]+)`", text)
    in_fence, continued = False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif in_fence or line.startswith("    ") or continued:
            line = continued + line.strip()
            continued = line[:-1] + " " if line.endswith("\\") else ""
            if not continued:
                spans.append(line)
    return spans


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every command the documents show, comments stripped."""
    found = []
    for document in DOCUMENTS:
        for span in code_spans(document.read_text()):
            command = re.sub(r"\s+#.*$", "", span).strip()
            if command.startswith(PREFIXES) and command not in {c for _, c in found}:
                found.append((document.name, command))
    return found


COMMANDS = documented_commands()


def filled(command: str, directory: Path) -> str:
    """The command with its placeholders filled in."""
    command = re.sub(r"/path/to/[\w./-]*|\bDIR\b", str(directory), command)
    return command.replace("<dataset>", "digits").replace("<name>", "mnist")


def is_synopsis(command: str) -> bool:
    """Whether a command is a usage synopsis rather than a command to run."""
    return bool(re.search(r"\[|\{|\.\.\.|\b[A-Z][A-Z_.]+\b|<", command))


def klgap_words(command: str) -> list[str]:
    """The arguments after ``klgap`` / ``python -m klgap``."""
    words = shlex.split(command)
    return words[3:] if words[0] == "python" else words[1:]


def test_the_documents_show_commands_of_every_kind():
    kinds = {command.split()[0] for _, command in COMMANDS}
    assert {"make", "python", "snakemake"} <= kinds, COMMANDS
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("document, command",
                         [c for c in COMMANDS if c[1].startswith(("python -m klgap", "klgap "))],
                         ids=lambda value: value if "klgap" in value else None)
def test_documented_klgap_commands_parse_and_the_cheap_ones_run(document, command, tmp_path):
    words = klgap_words(filled(command, tmp_path))
    name = words[0]
    assert name in cli.COMMANDS or name == "<command>", f"{document}: unknown command {command}"
    if name == "<command>" or len(words) == 1:  # the command named in a sentence
        return
    parser = cli.build_parser([name])
    if is_synopsis(command):
        [subparsers] = [a for a in parser._actions if a.choices and name in a.choices]
        options = {option for action in subparsers.choices[name]._actions
                   for option in action.option_strings}
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", command):
            assert option in options, f"{document}: {command}: no option {option}"
        return
    parser.parse_args(words)  # exits (fails the test) on an unknown option or a bad value
    if name in CHEAP_COMMANDS:
        copies = {}  # write to copies, never to the repository
        for option in ("--out", "--readme"):
            if option in words:
                at = words.index(option) + 1
                original = REPO / words[at]
                copies[original] = tmp_path / original.name
                shutil.copy(original, copies[original])
                words[at] = str(copies[original])
        result = subprocess.run([sys.executable, "-m", "klgap", *words], cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{document}: {command}\n{result.stderr}"
        for original, copy in copies.items():  # the committed file is what the command writes
            assert copy.read_text() == original.read_text(), f"{document}: {command}"


def make_words(command: str) -> tuple[str, list[str]]:
    """The target and the variable assignments of a ``make`` command."""
    words = shlex.split(command)[1:]
    targets = [w for w in words if "=" not in w]
    return (targets[0] if targets else "paper"), [w for w in words if "=" in w]


MAKE_COMMANDS = [c for c in COMMANDS if c[1].startswith("make ")]


def planning_command(command: str, directory: Path) -> list[str] | None:
    """The make command line that runs a documented make command as a dry run (its ARGS with
    -n), or None for a command that gives no ARGS to Snakemake."""
    target, assignments = make_words(filled(command, directory))
    arguments = dict(a.split("=", 1) for a in assignments).get("ARGS", "")
    if not ((target in SNAKEMAKE_TARGETS or target.startswith("shard-")) and arguments):
        return None
    others = [a for a in assignments if not a.startswith("ARGS=")]
    return ["make", target, f"ARGS={arguments} -n", "SYSTEM_DEPS=skip", *others]


def checkout_copy(destination: Path) -> Path:
    """A copy of this checkout (its git directory, uncommitted changes and modification times
    included) with the same environment, for a second make to plan in: make writes
    .snakemake/shard-<name>.yaml, which two makes in one directory would rewrite under each
    other."""
    shutil.copytree(REPO, destination, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", "__pycache__", ".*_cache", "locks"))
    (destination / ".venv").symlink_to(REPO / ".venv")
    return destination


@pytest.fixture(scope="module")
def make_plans(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """{documented make command: its dry run} for the commands with ARGS for Snakemake, two at a
    time (here and in a copy of the checkout): each `make sweep` starts Snakemake once per shard,
    a few seconds of start-up each."""
    directory = tmp_path_factory.mktemp("placeholder")
    plans = {command: words for _, command in MAKE_COMMANDS
             if (words := planning_command(command, directory))}
    checkouts = queue.SimpleQueue()
    checkouts.put(REPO)
    checkouts.put(checkout_copy(tmp_path_factory.mktemp("checkout") / REPO.name))

    def plan(words):
        checkout = checkouts.get()
        try:
            return subprocess.run(words, cwd=checkout, capture_output=True, text=True,
                                  timeout=300)
        finally:
            checkouts.put(checkout)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(plans, pool.map(plan, plans.values())))


@pytest.mark.parametrize("document, command", MAKE_COMMANDS,
                         ids=lambda value: value if "make" in value else None)
def test_documented_make_commands_are_targets_and_snakemake_ones_plan(document, command,
                                                                       tmp_path, make_plans):
    target, assignments = make_words(filled(command, tmp_path))
    for python in [a.split("=", 1)[1] for a in assignments if a.startswith("PYTHON=")]:
        if subprocess.run([python, "--version"], capture_output=True).returncode != 0:
            pytest.skip(f"{python} does not run on this machine")
    dry = subprocess.run(["make", "-n", target, *assignments], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0, f"{document}: {command}\n{dry.stderr}"
    arguments = dict(a.split("=", 1) for a in assignments).get("ARGS", "")
    if target == "verify":  # retrains: its arguments are parsed, not run
        cli.build_parser(["verify"]).parse_args(["verify", *shlex.split(arguments)])
    elif command in make_plans:
        planned = make_plans[command]
        assert planned.returncode == 0, f"{document}: {command}\n{planned.stdout[-3000:]}"
        assert "dry-run" in planned.stdout or "Nothing to be done" in planned.stdout


@pytest.mark.parametrize("document, command",
                         [c for c in COMMANDS if c[1].startswith(("snakemake ", ".venv/bin/"))],
                         ids=lambda value: value if "snakemake" in value else None)
def test_documented_snakemake_commands_plan(document, command, tmp_path):
    words = shlex.split(filled(command, tmp_path))
    snakemake = str(Path(sys.executable).parent / "snakemake")
    if "--unlock" in words:  # would unlock this checkout: the option is checked, not run
        assert "--unlock" in subprocess.run([snakemake, "--help"], capture_output=True,
                                            text=True).stdout
        return
    result = subprocess.run([snakemake, "-n", *words[1:]], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"{document}: {command}\n{result.stdout[-3000:]}"
