"""The workflow's configuration reference, ``config/README.md``, written from the schema.

The keys are described once, in ``workflow/schemas/config.schema.yaml``; this command renders
them as the Markdown page that the Snakemake workflow catalog shows, and
``tests/test_config_docs.py`` fails when the committed page is not what the schema gives.
"""

import argparse
import json
from pathlib import Path

import yaml

from klgap import atomic

INTRODUCTION = """\
# Configuration

Generated from `workflow/schemas/config.schema.yaml` by
`python -m klgap config-docs --schema workflow/schemas/config.schema.yaml
--paper-config config/config.yaml --out config/README.md`; do not edit (edit
the schema, then run that command).

`config.yaml` is the paper's sweep; `smoke.yaml` is the smoke test, applied on top of it
(`--configfile config/smoke.yaml`). Keys left out take the defaults below; an unknown
key or a bad value stops the workflow before any job, naming the key. Single keys can be set on
the command line, e.g. `--config outdir=elsewhere 'datasets=[mnist]' data_dir=/path/to/idx`.
"""


def type_of(spec: dict) -> str:
    """Describes a key's type in a few words (``list of integer >= 1``, ``one of: ...``)."""
    if "oneOf" in spec:
        return " or ".join(type_of(option) for option in spec["oneOf"])
    kind = spec.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array":
        return f"list of {type_of(spec.get('items', {}))}"
    if kind == "object":
        return "mapping"
    if "enum" in spec:
        return f"{kind}: one of {', '.join(map(str, spec['enum']))}"
    bounds = [f">= {spec['minimum']}"] if "minimum" in spec else []
    bounds += [f"> {spec['exclusiveMinimum']}"] if "exclusiveMinimum" in spec else []
    bounds += [f"<= {spec['maximum']}"] if "maximum" in spec else []
    return kind + (" " + ", ".join(bounds) if bounds else "")


def cell(text: str) -> str:
    """Formats text for one cell of a Markdown table (one line, pipes escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def render(schema: dict, paper: dict) -> str:
    """Returns the Markdown reference of every configuration key of the schema.

    Args:
      schema: the parsed JSON schema (its ``properties``, in order).
      paper: the paper's configuration (``config.yaml``), whose values are listed beside the
        defaults.

    Returns:
      The text of ``config/README.md``.
    """
    lines = [INTRODUCTION, cell(schema.get("description", "")), "",
             "| key | type | default | paper (`config.yaml`) | meaning |",
             "| --- | --- | --- | --- | --- |"]
    for key, spec in schema["properties"].items():
        default = f"`{json.dumps(spec['default'])}`" if "default" in spec else "(required)"
        in_paper = f"`{json.dumps(paper[key])}`" if key in paper else "(default)"
        lines.append(f"| `{key}` | {cell(type_of(spec))} | {cell(default)} | {cell(in_paper)} | "
                     f"{cell(spec.get('description', ''))} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("--schema", type=Path, required=True, help="the configuration schema")
    parser.add_argument("--paper-config", type=Path, required=True,
                        help="the paper's configuration, config/config.yaml")
    parser.add_argument("--out", type=Path, required=True, help="output Markdown file")


def main(args: argparse.Namespace) -> None:
    """Writes the configuration reference from the schema."""
    schema = yaml.safe_load(args.schema.read_text())
    atomic.write_text(args.out, render(schema, yaml.safe_load(args.paper_config.read_text())))
    print(f"wrote {args.out}")
