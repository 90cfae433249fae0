"""Tests of provenance: CPU features, the dirty check, and that no record is replaced by a poorer
one."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from klgap.sweep import layout
from klgap.sweep import provenance
from klgap.errors import UserError

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512bw aes
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse sse2 sse4_1 avx
"""


def test_cpu_description_lists_the_first_processors_simd_features():
    cpu = provenance.cpu_description(CPUINFO)
    assert cpu == {"model": "AMD EPYC 9R14",
                   "features": ["avx", "avx2", "avx512bw", "avx512dq", "avx512f", "f16c", "fma",
                                "sse4_1", "sse4_2"]}
    assert provenance.cpu_label(cpu).startswith("AMD EPYC 9R14 (avx, avx2, avx512bw")


def test_cpu_description_without_avx512():
    older = CPUINFO.replace(" avx512f avx512dq avx512bw", "")
    assert not any(f.startswith("avx512") for f in provenance.cpu_description(older)["features"])


def test_this_machines_cpu_is_described():
    cpu = provenance.describe()["cpu"]
    assert cpu["model"] and isinstance(cpu["features"], list)


def git(directory, *args):
    subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True)


def test_outputs_under_results_do_not_make_the_code_dirty(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "results" / "config.yaml").write_text("a: 1\n")
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    clean = provenance.git_commit(tmp_path / "src")
    assert len(clean) == 40 and not clean.endswith("-dirty")
    (tmp_path / "results" / "config.yaml").write_text("a: 2\n")  # the workflow's own output
    assert provenance.git_commit(tmp_path / "src") == clean
    (tmp_path / "src" / "code.py").write_text("x = 2\n")
    assert provenance.git_commit(tmp_path) == clean + "-dirty"


def write_sweep(outdir, runs, with_records):
    """Writes a metrics table of ``runs`` and, for the first ``with_records`` of them, run.json."""
    rows = [{**run._asdict(), "split": split, "rate": 1.0} for run in runs
            for split in ("test", "train")]
    table = outdir / runs[0].dataset / "metrics.csv"
    table.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(table, index=False)
    for run in runs[:with_records]:
        rundir = layout.run_dir(outdir, run)
        rundir.mkdir(parents=True)
        (rundir / "run.json").write_text(json.dumps({
            "git_commit": "abc", "versions": {"tensorflow": "2.21.0"}, "device": "CPU",
            "platform": "Linux", "cpu": provenance.cpu_description(CPUINFO)}))
    (outdir / "config.yaml").write_text("outdir: x\n")
    return table


def provenance_command(outdir, table):
    return [sys.executable, "-m", "klgap", "provenance", "--runs-dir", str(outdir / "runs"),
            "--benchmarks-dir", str(outdir / "benchmarks"), "--config",
            str(outdir / "config.yaml"), "--metrics", str(table), "--commit", "abc",
            "--json", str(outdir / "provenance.json"), "--benchmarks-csv",
            str(outdir / "benchmarks.csv")]


@pytest.mark.parametrize("with_records", [0, 2])
def test_provenance_refuses_tables_whose_runs_have_no_records(tmp_path, with_records):
    runs = layout.grid(["digits"], [2], [1.0], [0, 1, 2])
    table = write_sweep(tmp_path, runs, with_records)
    committed = '{"runs_trained": 84}'
    (tmp_path / "provenance.json").write_text(committed)
    result = subprocess.run(provenance_command(tmp_path, table), capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{3 - with_records} of the 3 runs" in result.stderr and "make sweep" in result.stderr
    assert (tmp_path / "provenance.json").read_text() == committed  # untouched
    assert not (tmp_path / "benchmarks.csv").exists()


def test_provenance_of_complete_runs_lists_their_cpus(tmp_path):
    runs = layout.grid(["digits"], [2], [1.0], [0, 1])
    table = write_sweep(tmp_path, runs, with_records=2)
    subprocess.run(provenance_command(tmp_path, table), check=True, capture_output=True)
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["runs_trained"] == 2
    assert record["cpus"] == [provenance.cpu_label(provenance.cpu_description(CPUINFO))]


def test_runs_without_records_counts_each_run_once(tmp_path):
    runs = layout.grid(["digits"], [2, 10], [0.5], [0])
    table = write_sweep(tmp_path, runs, with_records=1)
    expected, missing = provenance.runs_without_records(tmp_path / "runs", [table])
    assert expected == 2
    assert missing == [str(layout.run_dir(tmp_path, runs[1]).relative_to(tmp_path / "runs"))]


def test_tex_refuses_an_empty_provenance():
    from klgap.paper import tex as report

    table = pd.DataFrame({"a": [1]})
    with pytest.raises(UserError, match="records no trained runs"):
        report.check_inputs(table, table, {"runs_trained": 0, "devices": []}, table)
    with pytest.raises(UserError, match="benchmarks"):
        report.check_inputs(table, table, {"runs_trained": 3, "devices": ["CPU"]}, table.iloc[:0])



def test_provenance_copies_the_sweeps_machine_rate(tmp_path):
    runs = layout.grid(["digits"], [2], [1.0], [0])
    table = write_sweep(tmp_path, runs, with_records=1)
    machine = {"date_utc": "2026-01-01T00:00:00Z", "cpu": provenance.cpu_description(CPUINFO),
               "matmul_gflops_per_thread": 91.5}
    (tmp_path / "machine.json").write_text(json.dumps(machine))
    subprocess.run([*provenance_command(tmp_path, table), "--machine",
                    str(tmp_path / "machine.json")], check=True, capture_output=True)
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["matmul_gflops_per_thread"] == 91.5
    assert record["machine"] == machine
