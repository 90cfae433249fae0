"""Conventions shared by the benchmarks in bench/: one CSV under results/bench/ and one summary
line.

Every CSV has the columns ``figure, value, unit, target, status, note, load_1min, machine``:
``load_1min`` is the machine's 1-minute load average when the figure was measured (timings taken
above ~0.5 on this 2-core machine are slowed by other work), ``machine`` the CPU model and cores.
"""

import csv
import io
import os
import resource
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "results" / "bench"
COLUMNS = ("figure", "value", "unit", "target", "status", "note", "load_1min", "machine")


def machine() -> str:
    """Names this machine's CPU as ``lscpu`` does, with the cores this process may use."""
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def load_1min() -> float:
    """Returns the 1-minute load average."""
    return os.getloadavg()[0]


def busy_core_seconds() -> float:
    """Returns the CPU time all processes have spent so far (``/proc/stat``), in core-seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def others_running() -> list[str]:
    """Lists other workflow or training processes (snakemake, klgap, Slurm job steps) now
    running."""
    found = subprocess.run(["pgrep", "-af", "snakemake|klgap|slurmstepd"], capture_output=True,
                           text=True).stdout.splitlines()
    return [line for line in found if not line.startswith(f"{os.getpid()} ")
            and "pgrep" not in line]


class Report:
    """Collects the figures of one benchmark, prints each as it comes and writes the CSV."""

    def __init__(self, name: str, path: Path | None = None):
        """Args:
          name: the benchmark's name; its CSV is ``results/bench/<name>.csv``.
          path: another place for the CSV (e.g. a trial run's, which should not replace the
            record), or None.
        """
        self.name = name
        self.path = Path(path) if path is not None else BENCH_DIR / f"{name}.csv"
        self.machine = machine()
        self.rows: list[dict] = []
        print(f"# {self.machine}; load average {load_1min():.2f} at the start")

    def add(self, figure: str, value: float, unit: str, target: str = "",
            passed: bool | None = None, note: str = "", load: float | None = None) -> None:
        """Records one figure.

        Args:
          figure: what was measured, with its parameters in brackets.
          value: the number.
          unit: its unit.
          target: the target, as text (e.g. ``>= 0.7``), or empty.
          passed: whether the target is met; None where there is none.
          note: anything a reader needs to interpret the number.
          load: the load average when it was measured (default: now).
        """
        status = "" if passed is None else ("PASS" if passed else "FAIL")
        load = load_1min() if load is None else load
        self.rows.append({"figure": figure, "value": f"{value:.6g}", "unit": unit,
                          "target": target, "status": status, "note": note,
                          "load_1min": f"{load:.2f}", "machine": self.machine})
        print(f"{figure:<52} {value:>10.5g} {unit:<6} {target:<8} {status:<4} "
              f"load {load:.2f}  {note}", flush=True)

    def write(self, summary: str) -> None:
        """Writes the CSV (atomically) and prints the one-line summary.

        Args:
          summary: the benchmark's result in one line.
        """
        from klgap import atomic

        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic.write_text(self.path, out.getvalue())
        shown = (self.path.resolve().relative_to(ROOT)
                 if self.path.resolve().is_relative_to(ROOT) else self.path)
        print(f"# wrote {shown}")
        print(f"SUMMARY {self.name}: {summary}")


class Meter:
    """Measures a region: wall seconds, this process's CPU seconds (all its threads), and the
    cores other processes kept busy meanwhile (from ``/proc/stat``).

    On a busy machine a single-thread process's CPU seconds stay close to its wall time on a quiet
    one (it is only made to wait), so examples per CPU-second estimate the quiet 1-thread rate.
    """

    def __enter__(self):
        self.wall, self.own, self.busy = time.perf_counter(), self._own(), busy_core_seconds()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.wall
        self.cpu_seconds = self._own() - self.own
        self.other_cores = (max(0.0, busy_core_seconds() - self.busy - self.cpu_seconds)
                            / self.seconds)

    @staticmethod
    def _own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
