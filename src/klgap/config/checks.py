"""Reading and checking a workflow configuration: command-line values, errors, and its hash.

The workflow (``workflow/rules/common.smk``) validates the merged configuration against the
schema with Snakemake's ``validate`` (which fills in the defaults) and calls these functions
around it: ``from_command_line`` first, ``explain`` on a schema violation, ``cross_key_problems``
after. ``config_hash`` names a configuration by what changes results only.
"""

import difflib
import hashlib
import json

from klgap.config import schema as config_schema
from klgap.training import objectives

# Keys that say where and how a configuration runs on one machine, not what it computes: left
# out of ``config_hash`` and written as null in configuration snapshots where machine-local.
# ``shard`` says which part of the sweep runs here, not what the sweep computes; ``paper_dir``
# which text is built from the results, ``convergence_study`` which other tables it reads.
MACHINE_KEYS = ("outdir", "data_dir", "threads_per_run", "mem_mb", "gpus_per_run",
                "runs_per_gpu", "strict_paper", "paper_dir", "convergence_study", "shard")
# Machine-local keys whose values (paths) are not written into committed snapshots.
LOCAL_PATH_KEYS = ("data_dir",)


def from_command_line(key: str, value):
    """Reads values as given by ``--config key=[a,b]`` (strings), ``key=a`` or ``key=true``.

    Args:
      key: the config key.
      value: its value.

    Returns:
      The value as a list with numbers converted, or unchanged where it cannot be (the schema then
      reports it).
    """
    list_keys, boolean_keys = config_schema.command_line_types()
    if key in boolean_keys and isinstance(value, str):
        return {"true": True, "yes": True, "false": False, "no": False}.get(value.lower(), value)
    if key not in list_keys or value is None:
        return value
    items = value if isinstance(value, list) else [value]
    convert = list_keys[key]
    converted = []
    for item in items:
        try:
            converted.append(convert(item) if isinstance(item, str) else item)
        except ValueError:
            converted.append(item)
    return converted


def explain(cause, config: dict, properties: dict) -> str:
    """Turns a schema violation into one line that names the key, the problem and its meaning.

    Args:
      cause: the ``jsonschema.ValidationError``.
      config: the configuration that was validated.
      properties: the schema's keys and their declarations.

    Returns:
      The message.
    """
    if cause.validator == "additionalProperties":
        names = []
        for key in sorted(set(config) - set(properties)):
            guess = difflib.get_close_matches(key, list(properties), n=1)
            names.append(f"'{key}'" + (f" (did you mean '{guess[0]}'?)" if guess else ""))
        return f"unknown config key {', '.join(names)}; the keys are: {', '.join(properties)}"
    path = list(cause.absolute_path)
    if not path:
        return cause.message
    where = str(path[0]) + "".join(f"[{part}]" for part in path[1:])
    description = properties.get(path[0], {}).get("description", "").strip()
    return f"config key {where}: {cause.message}" + (f" ({description})" if description else "")


def cross_key_problems(config: dict) -> list[str]:
    """The problems that no single key's schema can see, one message each (empty if none).

    Args:
      config: a configuration validated against the schema (defaults filled in).
    """
    problems = []
    if config["batched_training"] and any("seeds" in grid for grid in config["experiments"]):
        problems.append("batched_training trains the seeds of the key seeds together; remove "
                        "seeds from the experiments or set batched_training: false.")
    used = {config["objective"]} | {grid["objective"] for grid in config["experiments"]
                                     if "objective" in grid}
    if config["batched_training"] and any("classes" in grid for grid in config["experiments"]):
        problems.append("batched_training cannot train runs on some classes (experiments with "
                        "classes); remove classes from the experiments or set "
                        "batched_training: false.")
    unstackable = sorted(name for name in used if name in objectives.OBJECTIVES
                         and not objectives.OBJECTIVES[name].stackable)
    if config["batched_training"] and unstackable:
        problems.append(f"objective {', '.join(unstackable)} cannot be trained stacked; set "
                        "batched_training: false.")
    if config.get("shards") or config.get("shard"):
        from klgap.sweep import layout, shards

        whole = layout.sweep({**config, "shard": None})
        problems += shards.partition_problems(whole, config.get("shards") or {})
        selectors = (config.get("shards") or {}).values()
        if config["batched_training"] and any("seeds" in selector for selector in selectors):
            problems.append("batched_training trains every seed of a cell together; shards "
                            "cannot split seeds then (remove seeds from their selectors, or "
                            "set batched_training: false).")
        if config.get("shard") and config["shard"] not in (config.get("shards") or {}):
            known = ", ".join(config.get("shards") or {}) or "none"
            problems.append(f"shard {config['shard']} is not one of the key shards ({known}); "
                            "name one of them.")
    if isinstance(config["epochs"], dict):
        uncovered = sorted(set(config["datasets"]) - set(config["epochs"]))
        if uncovered:
            problems.append(f"config key epochs has no entry for {', '.join(uncovered)}; add "
                            "one or give a single number.")
    return problems


def epochs_for(config: dict, dataset: str) -> int:
    """The training epochs of a dataset (config key ``epochs``: a number or a mapping)."""
    epochs = config["epochs"]
    return epochs[dataset] if isinstance(epochs, dict) else epochs


def gpu_percent_per_run(config: dict) -> int:
    """The share of one GPU, in percent, that a training or evaluation job declares.

    A local run given ``--resources gpu_percent=100`` then runs at most ``runs_per_gpu`` GPU jobs
    at once (Snakemake's resources are integers, hence percent rather than a fraction).
    CPU-only configurations (``gpus_per_run: 0``) declare none.
    """
    if config["gpus_per_run"] == 0:
        return 0
    return config["gpus_per_run"] * (100 // config["runs_per_gpu"])


def config_hash(config: dict) -> str:
    """A short hash of what in a validated configuration changes results.

    ``MACHINE_KEYS`` are left out, so a clone, a cluster and the sweep's machine print the same
    hash for the same science.

    Args:
      config: a validated configuration.

    Returns:
      12 hexadecimal digits.
    """
    science = {key: value for key, value in config.items() if key not in MACHINE_KEYS}
    return hashlib.sha256(json.dumps(science, sort_keys=True).encode()).hexdigest()[:12]


def snapshot(config: dict) -> dict:
    """The configuration as committed: machine-local paths (``LOCAL_PATH_KEYS``) set to null."""
    return {key: (None if key in LOCAL_PATH_KEYS else value) for key, value in config.items()}
