"""The configuration schema, ``workflow/schemas/config.schema.yaml``: where every key is declared.

Each hyperparameter is declared once, there (type, range, default, meaning); the commands'
option defaults and help, ``RunConfig``'s defaults and the workflow's reading of
``--config key=value`` strings are derived from it here. The schema is read from the repository
checkout that the package is installed from (``pip install -e .``, as ``make setup`` does).
"""

import functools
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
# JSON-schema item types and the Python types their command-line strings are converted to.
ITEM_TYPES = {"string": str, "integer": int, "number": float}


@functools.cache
def properties() -> dict[str, dict]:
    """Returns the schema's keys and their declarations.

    Raises:
      FileNotFoundError: the package is not installed from a checkout (naming the path).
    """
    if not SCHEMA_PATH.is_file():
        raise FileNotFoundError(f"{SCHEMA_PATH} not found: install klgap from its repository "
                                "with `pip install -e .` (make setup does)")
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
