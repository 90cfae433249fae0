"""The order in which a sweep's runs start: the longest first, from the run times that the
committed shards recorded (longest-processing-time-first, which shortens the tail of a shard in
which one core waits while the other finishes a long run).

Reads ``benchmarks.csv`` files with the standard library only: the workflow imports this module.
"""

import csv
import statistics
from pathlib import Path

# Snakemake's priorities of the runs lie in [1, TOP_PRIORITY]; rule machine has a higher one, so
# that it still records the machine before any training starts.
TOP_PRIORITY = 99


def run_kind(job: str) -> str:
    """What a run's time depends on: its job name without the weight and the seed.

    Args:
      job: a run's job as ``benchmarks.csv`` names it, e.g. ``mnist/vae/classes1/z10/beta1/seed2``.

    Returns:
      e.g. ``mnist/vae/classes1/z10``.
    """
    return "/".join(job.split("/")[:-2])


def expected_seconds(benchmark_files: list[Path]) -> dict[str, float]:
    """The median wall time of the runs of each kind (``run_kind``) in benchmark records.

    Args:
      benchmark_files: ``benchmarks.csv`` files (columns ``rule``, ``job``, ``s``), e.g. of the
        committed shards; missing files are skipped.

    Returns:
      run kind -> median seconds over the ``run`` rows.
    """
    times: dict[str, list[float]] = {}
    for path in benchmark_files:
        if not Path(path).is_file():
            continue
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("rule") == "run" and row.get("s"):
                    times.setdefault(run_kind(row["job"]), []).append(float(row["s"]))
    return {kind: statistics.median(values) for kind, values in times.items()}


def run_priority(kind: str, expected: dict[str, float]) -> int:
    """Snakemake's priority of a run: its expected time relative to the longest kind's.

    Args:
      kind: the run's kind (``run_kind``).
      expected: ``expected_seconds``.

    Returns:
      An integer in [1, TOP_PRIORITY], larger for longer runs; kinds without a record get the
      median of the others' (1 when there are no records).
    """
    if not expected:
        return 1
    seconds = expected.get(kind, statistics.median(expected.values()))
    return max(1, round(TOP_PRIORITY * seconds / max(expected.values())))
