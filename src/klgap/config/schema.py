"""The configuration schema, ``config.schema.yaml`` beside this file: where every key is declared.

Each hyperparameter is declared once, there (type, range, default, meaning); the commands'
option defaults and help, ``RunConfig``'s defaults and the workflow's reading of
``--config key=value`` strings are derived from it here. The schema ships inside the package
(package data), so an installed wheel has it; ``workflow/schemas/config.schema.yaml``, where
Snakemake's conventions look for it, is a link to the same file.
"""

import functools
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"
# JSON-schema item types and the Python types their command-line strings are converted to.
ITEM_TYPES = {"string": str, "integer": int, "number": float}


@functools.cache
def properties() -> dict[str, dict]:
    """Returns the schema's keys and their declarations.

    Raises:
      FileNotFoundError: the package was installed without its data files (naming the path).
    """
    if not SCHEMA_PATH.is_file():
        raise FileNotFoundError(f"{SCHEMA_PATH} not found: reinstall klgap with its package data "
                                "(`pip install .`, or `make setup` in the repository)")
    return yaml.safe_load(SCHEMA_PATH.read_text())["properties"]


def default(key: str):
    """Returns a key's default value."""
    return properties()[key]["default"]


def description(key: str) -> str:
    """Returns a key's meaning, on one line (for --help)."""
    return " ".join(properties()[key]["description"].split())


def command_line_types() -> tuple[dict[str, type], set[str]]:
    """Says which keys need converting when given as ``--config key=value`` strings.

    Returns:
      The list keys with the type of their items, and the boolean keys.
    """
    lists = {key: ITEM_TYPES[spec["items"]["type"]] for key, spec in properties().items()
             if spec.get("type") == "array" and spec["items"]["type"] in ITEM_TYPES}
    booleans = {key for key, spec in properties().items() if spec.get("type") == "boolean"}
    return lists, booleans
