"""Where the convergence study that a paper's configuration names (config key
``convergence_study``) keeps its tables: its configuration file's outdir and datasets."""

from pathlib import Path

import yaml

from klgap.errors import UserError


def study_tables(repo: Path, config: dict, table: str) -> list[Path]:
    """The study's combined tables of one kind, one per dataset.

    Args:
      repo: the repository, to which the study's configuration file and its outdir are relative.
      config: the paper's configuration (keys ``convergence_study`` and ``datasets``).
      table: ``metrics``, ``history``, ...

    Returns:
      ``<repo>/<outdir>/<dataset>/<table>.csv`` for the study's datasets (else the paper's);
      empty without a study.

    Raises:
      UserError: the study's configuration file is missing or sets no outdir.
    """
    if not config.get("convergence_study"):
        return []
    path = repo / config["convergence_study"]
    if not path.is_file():
        raise UserError(f"{path} (config key convergence_study) not found: name the study's "
                        "configuration file, relative to the repository, or set the key to null")
    study = yaml.safe_load(path.read_text()) or {}
    if "outdir" not in study:
        raise UserError(f"{path} (config key convergence_study) sets no outdir: the study's "
                        "tables must not land in the sweep's; give it an outdir of its own")
    root = repo / study["outdir"]
    return [root / dataset / f"{table}.csv" for dataset in study.get("datasets",
                                                                     config["datasets"])]
