"""Tests of the generated LaTeX, on a synthetic summary table (figures: test_figures.py)."""

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from klgap.sweep import tables as aggregate
from klgap import cli
from klgap.paper import findings
from klgap.sweep import layout
from klgap.paper.tex import appendix, formatting, tables
from klgap.paper.tex import numbers as macros
from klgap.paper.tex import values as named_values
from klgap.errors import UserError

SMOKE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "smoke.yaml"
EPOCHS = 8  # more than findings.FINAL_EPOCHS
N_TEST = 10000


@pytest.fixture
def summary_csv(tmp_path):
    """A summary of a synthetic sweep, with one run missing."""
    rng = np.random.default_rng(1)
    runs = layout.grid(["fashion_mnist"], [2], [0.5, 2.0], [0, 1, 2])
    records = []
    for run in runs:
        if run == runs[-1]:
            continue
        for split in ("test", "train"):
            mutual_info, aggregate_kl = rng.uniform(1, 5), rng.uniform(0, 1)
            records.append({**run._asdict(), "split": split, "n": float(N_TEST),
                            "log_n": np.log(float(N_TEST)),
                            "elbo": -rng.uniform(90, 110), "iw_ll": -rng.uniform(85, 95),
                            "rate": mutual_info + aggregate_kl, "mutual_info": mutual_info,
                            "aggregate_kl": aggregate_kl, "active_units": 2.0,
                            # An estimate 0.001 below the exact value: its excess rounds to
                            # "-0.00" unless number() drops the sign.
                            "mws_mutual_info_b64": mutual_info - 0.001,
                            "mws_aggregate_kl_b64": aggregate_kl - rng.uniform(0, 2)})
    summary = aggregate.summarize(aggregate.tidy(records), runs)
    path = tmp_path / "fashion_mnist" / "summary.csv"
    aggregate.write_csv(path, summary)
    return path


def write_inputs(directory: Path, epochs: int = EPOCHS, seed: int = 5) -> dict:
    """Writes history.csv, config.yaml, provenance.json and benchmarks.csv of the synthetic sweep.

    Returns:
      The paths, the known final slopes per run and the tables.
    """
    rng = np.random.default_rng(seed)
    runs = layout.grid(["fashion_mnist"], [2], [0.5, 2.0], [0, 1, 2])[:-1]  # as summary_csv
    rows, slopes = [], {}
    for run in runs:
        slopes[run] = {curve: rng.normal(0, 0.3) for curve in findings.CURVES}
        for epoch in range(1, epochs + 1):
            row = {**run._asdict(), "epoch": epoch, "train_elbo": -rng.uniform(90, 110),
                   "train_rate": rng.uniform(1, 5), "train_distortion": rng.uniform(80, 100),
                   "seconds": rng.uniform(1, 2)}
            for curve in findings.CURVES:
                row[curve] = 100 * (curve != "test_rate") + slopes[run][curve] * epoch
            rows.append(row)
    history = pd.DataFrame(rows)
    history_path = directory / "fashion_mnist" / "history.csv"
    history_path.parent.mkdir(parents=True, exist_ok=True)
    history.to_csv(history_path, index=False)

    config = yaml.safe_load(SMOKE_CONFIG.read_text())
    config.update({"datasets": ["fashion_mnist"], "latent_dims": [2], "weights": [0.5, 2],
                   "seeds": [0, 1, 2], "epochs": epochs})
    config_path = directory / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))

    bench_rows = []
    for rule in ("train", "evaluate"):
        for run in runs:
            beta = layout.format_weight(run.weight)
            job = f"{run.dataset}/z{run.latent_dim}/beta{beta}/seed{run.seed}"
            bench_rows.append({"rule": rule, "job": job, "s": rng.uniform(10, 400),
                               "cpu_time": rng.uniform(10, 800),
                               "max_rss": rng.uniform(100, 900)})
    benchmarks = pd.DataFrame(bench_rows)
    benchmarks_path = directory / "benchmarks.csv"
    benchmarks.to_csv(benchmarks_path, index=False)

    provenance = {
        "training_commits": ["a0131a97ad872a8b32bcd8ffb649600d69dd92a9",
                             "ccd412a78ffc31ac4e50e13fdbdb3cdf6917a7b6-dirty"],
        "date_utc": "2026-11-24T00:04:17Z",
        "runs_trained": len(runs),
        "devices": ["CPU (2 cores, 1 threads)", "GPU_0 & co"],
        "wall_seconds_benchmarked_total": float(benchmarks["s"].sum()),
        "cpu_seconds_benchmarked_total": float(benchmarks["cpu_time"].sum()),
        "span_seconds": 5432.1,
    }
    provenance_path = directory / "provenance.json"
    provenance_path.write_text(json.dumps(provenance))
    return {"history": history_path, "config": config_path, "provenance": provenance_path,
            "benchmarks": benchmarks_path, "slopes": slopes, "benchmarks_table": benchmarks,
            "provenance_dict": provenance, "config_dict": config}


def run_tex(tmp_path, summary_csv, inputs) -> tuple[Path, Path]:
    """Runs ``klgap tex``; returns the paths of numbers.tex and the table."""
    numbers, table = tmp_path / "tex" / "numbers.tex", tmp_path / "tex" / "table.tex"
    cli.main(["tex", "--summaries", str(summary_csv), "--histories", str(inputs["history"]),
              "--config", str(inputs["config"]), "--provenance", str(inputs["provenance"]),
              "--benchmarks", str(inputs["benchmarks"]),
              "--commit", "0123456789abcdef0123-dirty",
              "--config-label", "smoke.yaml + --config outdir", "--config-hash", "abc",
              "--numbers", str(numbers), "--table", str(table)])
    return numbers, table


def value_definitions(text: str) -> dict[str, str]:
    r"""The ``\klgapValue`` definitions of numbers.tex: name -> text."""
    return dict(re.findall(r"^\\@namedef\{klgap@value@([^}]*)\}\{(.*)\}$", text, re.MULTILINE))


def test_numbers_and_table(tmp_path, summary_csv):
    inputs = write_inputs(tmp_path)
    numbers, table = run_tex(tmp_path, summary_csv, inputs)
    text = numbers.read_text()
    assert r"\newcommand{\klgapCommit}{0123456789ab-dirty}" in text
    assert r"\newcommand{\klgapNumRuns}{5}" in text
    assert r"\newcommand{\klgapNumMissingRuns}{1}" in text
    summary = pd.read_csv(summary_csv)
    rate = summary[(summary["weight"] == 0.5) & (summary["split"] == "test")
                   & (summary["metric"] == "rate")].iloc[0]
    assert (rf"\@namedef{{klgap@vae@fashion_mnist@2@0.5@test@rate@mean}}"
            rf"{{{rate['mean']:.2f}}}") in text
    lines = table.read_text().splitlines()
    rows = [line for line in lines if r"\pm" in line]
    assert len(rows) == 2
    assert rows[1].endswith(r"2/3 \\")
    # A heading row per dataset names its test split's N and log N.
    heading = next(line for line in lines if r"\emph{Fashion-MNIST}" in line)
    assert f"$\\log N = {math.log(N_TEST):.2f}$" in heading
    # Every row has as many cells as the header.
    header = next(line for line in lines if line.startswith("$d_z$"))
    assert all(row.count("&") == header.count("&") for row in rows)

    # Named values, against references computed here from the inputs.
    values = value_definitions(text)
    assert values["n/fashion_mnist/test"] == "10{,}000"
    assert values["n/fashion_mnist/train"] == "10{,}000"
    assert values["logn/fashion_mnist/test"] == f"{math.log(N_TEST):.2f}"
    assert values["epochs/fashion_mnist"] == str(EPOCHS)
    assert values["betas"] == "0.5 and 2" and values["seeds"] == "0, 1 and 2"
    assert values["hidden"] == "--".join(map(str, inputs["config_dict"]["hidden"]))
    assert values["minibatch_sizes"] == " and ".join(
        map(str, inputs["config_dict"]["minibatch_sizes"]))

    def cell_mean(beta, metric):
        rows = summary[(summary["weight"] == beta) & (summary["split"] == "test")
                       & (summary["metric"] == metric)]
        assert len(rows) == 1
        return rows["mean"].iloc[0]

    shares = [100 * cell_mean(b, "aggregate_kl") / cell_mean(b, "rate") for b in (0.5, 2.0)]
    assert all(cell_mean(b, "rate") >= findings.SHARE_MIN_RATE for b in (0.5, 2.0))
    assert values["share_min"] == f"{min(shares):.0f}"
    assert values["share_max"] == f"{max(shares):.0f}"
    assert values["share_min/fashion_mnist"] == f"{min(shares):.0f}"
    assert values["share_max/fashion_mnist"] == f"{max(shares):.0f}"
    assert values["collapse_beta/fashion_mnist/2"] == "none"  # units active at every beta

    # Final slopes: the largest |mean over seeds| of the known per-run slopes.
    assert values["final_epochs"] == str(findings.FINAL_EPOCHS)
    for curve in findings.CURVES:
        per_cell = {}
        for run, slopes in inputs["slopes"].items():
            per_cell.setdefault(run.weight, []).append(slopes[curve])
        largest = max(abs(sum(s) / len(s)) for s in per_cell.values())
        assert values[f"final_slope/fashion_mnist/{curve}"] == f"{largest:.2f}", curve

    # Minibatch: the excess of mws is -0.001 everywhere, printed without a sign.
    assert values["mws_mi_excess_min"] == "0.00" and values["mws_mi_excess_max"] == "0.00"
    assert r"\@namedef{klgap@vae@fashion_mnist@2@0.5@test@mws_mi_excess_b64@mean}{0.00}" in text
    assert values["num_minibatch_cells"] == "2"

    # Provenance and job times.
    benchmarks = inputs["benchmarks_table"]
    for rule in ("train", "evaluate"):
        seconds = benchmarks[benchmarks["rule"] == rule]["s"]
        assert values[f"job_seconds/{rule}/fashion_mnist"] == f"{seconds.sum() / len(seconds):.0f}"
    assert values["training_commits"] == "a0131a97ad87 and ccd412a78ffc-dirty"
    assert values["num_training_commits"] == "2"
    assert values["sweep_date"] == "2026-11-24"
    assert values["devices"] == r"CPU (2 cores, 1 threads) and GPU\_0 \& co"
    assert values["job_hours"] == f"{benchmarks['s'].sum() / 3600:.1f}"
    assert values["cpu_hours"] == f"{benchmarks['cpu_time'].sum() / 3600:.1f}"
    assert values["span_minutes"] == "91"  # 5432.1 s

    # No negative zero anywhere ("-0", "-0.0", "-0.00", ... not followed by another digit).
    assert not re.findall(r"-0(?:\.0+)?(?![0-9.])", text)


@pytest.mark.parametrize("value, digits, text", [
    (-0.004, 2, "0.00"), (-0.0, 2, "0.00"), (-1e-12, 2, "0.00"), (-0.4, 0, "0"),
    (-0.04, 1, "0.0"), (-0.005001, 2, "-0.01"), (0.004, 2, "0.00"), (-1.5, 1, "-1.5"),
    (float("nan"), 2, "n/a"), (float("-inf"), 2, "n/a")])
def test_number_has_no_negative_zero(value, digits, text):
    assert formatting.number(value, digits) == text


def test_number_random_values_never_negative_zero():
    rng = np.random.default_rng(13)
    for value in rng.normal(0, 0.01, size=2000):
        for digits in (0, 1, 2, 3):
            text = formatting.number(value, digits)
            assert float(text) == pytest.approx(round(value, digits), abs=10 ** -digits)
            assert not re.fullmatch(r"-0(\.0*)?", text), (value, digits)


def test_numbers_with_smoke_length_history(tmp_path, summary_csv):
    """The smoke configuration trains 3 epochs, fewer than findings.FINAL_EPOCHS + 1."""
    inputs = write_inputs(tmp_path, epochs=3)
    numbers, _ = run_tex(tmp_path, summary_csv, inputs)
    values = value_definitions(numbers.read_text())
    assert values["epochs/fashion_mnist"] == "3"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_numbers_typeset(tmp_path, summary_csv):
    inputs = write_inputs(tmp_path)
    numbers, _ = run_tex(tmp_path, summary_csv, inputs)
    document = tmp_path / "tex" / "doc.tex"
    document.write_text("\n".join([
        r"\documentclass{article}",
        r"\input{numbers.tex}",
        r"\begin{document}",
        r"Missing: [\klgapValue{no_such_value}].",
        r"Defined: [\klgapValue{n/fashion_mnist/test}] [\klgapValue{share_max}].",
        r"Lookup: [\klgapMean{fashion_mnist}{2}{0.5}{test}{rate}].",
        r"\end{document}", ""]))
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                            cwd=document.parent, capture_output=True, text=True, timeout=120)
    log = (document.parent / "doc.log").read_text(errors="replace")
    assert result.returncode == 0, log[-3000:]
    # The missing value warns once; the defined ones do not.
    warnings = re.findall(r"Package klgap Warning: no value for ([^\n]*?)(?: on input line|\n)",
                          log)
    assert warnings == ["no_such_value"], warnings
    values = value_definitions(numbers.read_text())
    summary = pd.read_csv(summary_csv)
    rate = summary[(summary["weight"] == 0.5) & (summary["split"] == "test")
                   & (summary["metric"] == "rate")]["mean"].iloc[0]
    if shutil.which("pdftotext"):
        subprocess.run(["pdftotext", "doc.pdf", "doc.txt"], cwd=document.parent, check=True,
                       timeout=60)
        output = " ".join((document.parent / "doc.txt").read_text().split())
        assert "Missing: [??]." in output
        assert f"Defined: [10,000] [{values['share_max']}]." in output
        assert f"Lookup: [{rate:.2f}]." in output
@pytest.mark.parametrize("text, escaped", [("fashion_mnist", r"fashion\_mnist"),
                                           ("50% & $x$", r"50\% \& \$x\$")])
def test_escape(text, escaped):
    assert formatting.escape(text) == escaped
    assert not re.search(r"(?<!\\)[_%&$]", formatting.escape(text))


def test_figure_sources_table_lists_every_figure_with_rule_command_and_tables(tmp_path,
                                                                              summary_csv):
    inputs = write_inputs(tmp_path)
    out = tmp_path / "tex" / "figure_sources.tex"
    arguments = ["tex", "--summaries", str(summary_csv), "--histories", str(inputs["history"]),
                 "--config", str(inputs["config"]), "--provenance", str(inputs["provenance"]),
                 "--benchmarks", str(inputs["benchmarks"]), "--numbers", str(tmp_path / "n.tex"),
                 "--table", str(tmp_path / "t.tex"), "--figure-sources", str(out)]
    cli.main(arguments + ["--figures", "rate_split=summary", "two_tables=summary,history"])
    rows = [line for line in out.read_text().splitlines() if line.startswith(r"\texttt")]
    assert rows == [
        r"\texttt{figures/rate\_split.pdf} & \texttt{figures}: \texttt{klgap figures rate\_split}"
        r" & \texttt{<dataset>/summary.csv} \\",
        r"\texttt{figures/two\_tables.pdf} & \texttt{figures}: \texttt{klgap figures two\_tables}"
        r" & \texttt{<dataset>/summary.csv}, \texttt{<dataset>/history.csv} \\"]
    with pytest.raises(UserError, match="NAME=TABLE"):
        appendix.parse_figure_sources(["rate_split"])


def objectives_summary(rng: np.random.Generator) -> pd.DataFrame:
    """A summary of a synthetic sweep with a beta-VAE and an MMD run at the same weight."""
    runs = [layout.Run("mnist", 10, 10.0, seed, objective)
            for objective in ("vae", "mmd") for seed in (0, 1)]
    records = [{**run._asdict(), "split": "test", "n": 20.0, "log_n": math.log(20.0),
                "rate": rng.uniform(5, 9), "distortion": rng.uniform(80, 90),
                "mutual_info": rng.uniform(1, 3), "aggregate_kl": rng.uniform(0, 4),
                "prior_holes_fraction": rng.uniform(0, 1)} for run in runs]
    return aggregate.summarize(aggregate.tidy(records), runs)


def test_lookups_and_tables_keep_objectives_apart():
    rng = np.random.default_rng(23)
    summary = objectives_summary(rng)
    lines = "\n".join(macros.lookup_definitions(summary))
    for objective in ("vae", "mmd"):
        rows = summary[(summary["objective"] == objective) & (summary["metric"] == "rate")]
        assert (rf"\@namedef{{klgap@{objective}@mnist@10@10@test@rate@mean}}"
                rf"{{{rows['mean'].iloc[0]:.2f}}}") in lines
    table = tables.objectives_table_tex(summary)
    rows = [line for line in table.splitlines() if "= 10$" in line]
    assert [row.split(" & ")[0] for row in rows] == [r"$\beta$-VAE", "MMD"]
    holes = summary[(summary["objective"] == "mmd")
                    & (summary["metric"] == "prior_holes_fraction")]["mean"].iloc[0]
    assert rows[1].split(" & ")[-1] == f"{holes:.3f} \\\\"
    assert tables.objectives_table_tex(aggregate.only_vae(summary)) == tables.NO_OBJECTIVES


def test_class_sizes_come_from_a_whole_split_of_latent_samples():
    rng = np.random.default_rng(29)
    summary = objectives_summary(rng)
    labels = rng.integers(0, 3, size=20)
    samples = pd.DataFrame({"dataset": "mnist", "objective": "vae", "latent_dim": 2,
                            "weight": np.repeat([1.0, 8.0], 20), "seed": 0,
                            "label": np.tile(labels, 2)})
    values = named_values.class_count_values(samples, summary)
    for label in range(3):
        count = int((labels == label).sum())
        assert values[f"n_class/mnist/{label}"] == str(count)
        assert values[f"logn_class/mnist/{label}"] == f"{math.log(count):.2f}"
        assert values[f"log_inv_share/mnist/{label}"] == f"{math.log(20 / count):.2f}"
    assert named_values.class_count_values(samples.iloc[5:], summary) == {}  # not the whole split


def test_convergence_table_has_a_row_per_cell_of_every_objective():
    rows = []
    for objective, weight, slope in (("vae", 1.0, 0.25), ("mmd", 100.0, -1.5)):
        for epoch in range(1, 9):
            rows.append({"dataset": "mnist", "objective": objective, "latent_dim": 10,
                         "weight": weight, "seed": 0, "epoch": epoch,
                         **{curve: slope * epoch for curve in findings.CURVES}})
    table = tables.convergence_table_tex(pd.DataFrame(rows))
    # Two cells: one on each side of the two side-by-side blocks.
    cells = [line.split(" & ") for line in table.splitlines() if line.startswith("mnist")]
    assert len(cells) == 1 and len(cells[0]) == 18
    assert cells[0][4:9] == ["8", "0.25", "0.25", "0.25", "0.25"]
    assert cells[0][13:] == ["8", "-1.50", "-1.50", "-1.50", "-1.50 \\\\"]
    values = named_values.convergence_values(pd.DataFrame(rows))
    assert values["final_slope/mnist/test_elbo"] == "1.50"
    assert values["final_slope/vae/mnist/test_elbo"] == "0.25"


def test_table_lists_only_the_cells_that_ran():
    # An experiment's latent size with one beta beside the main grid's betas: the table must not
    # invent the other pairs (pivot_table with dropna=False does).
    rng = np.random.default_rng(37)
    runs = layout.grid(["mnist"], [10], [0.5, 1.0], [0]) + layout.grid(["mnist"], [20], [1.0], [0])
    records = [{**run._asdict(), "split": "test", "n": 20.0, "log_n": math.log(20.0),
                "rate": rng.uniform(1, 5), "elbo": -rng.uniform(90, 100)} for run in runs]
    table = tables.table_tex(aggregate.summarize(aggregate.tidy(records), runs))
    rows = [line.split(" & ")[:2] for line in table.splitlines() if r"\pm" in line]
    assert rows == [["10", "0.5"], ["10", "1"], ["20", "1"]]


def test_runs_are_counted_per_objective():
    # An MMD run with lambda = 10 and a TCVAE run with beta = 10 share dataset, latent size and
    # weight: both count.
    runs = [layout.Run("mnist", 10, 10.0, 0, "mmd"), layout.Run("mnist", 10, 10.0, 0, "tcvae")]
    records = [{**run._asdict(), "split": "test", "rate": 1.0} for run in runs]
    summary = aggregate.summarize(aggregate.tidy(records), runs)
    assert named_values.count_runs(summary) == (2, 2)


def interval_summary(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic MNIST sweep at d_z 10 (beta-VAE at two betas, MMD at one lambda, 3 seeds; an
    MMD cell that never ran), its summary and its per-run records."""
    runs = (layout.grid(["mnist"], [10], [1.0, 4.0], [0, 1, 2])
            + layout.grid(["mnist"], [10], [30.0, 300.0], [0, 1, 2], objective="mmd"))
    finished = [run for run in runs if run.weight != 300.0]
    records = []
    for run in finished:
        records.append({**run._asdict(), "split": "test", "n": 10000.0, "log_n": math.log(1e4),
                        # the beta = 1 cell's information is at its ceiling
                        "mutual_info": math.log(1e4) - (0.01 if run.weight == 1 else 2.0),
                        **{metric: rng.normal(0, 10) for metric in
                           list(tables.BRACKET_METRICS) + list(tables.ALTERNATIVE_METRICS)
                           if metric != "mutual_info"}})
    return aggregate.summarize(aggregate.tidy(records), runs), pd.DataFrame(records)


def expected_cell(values: np.ndarray, digits: int = 2) -> str:
    """``$mean \\pm h$`` with the t-based 95% half-width, computed with SciPy."""
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return f"${values.mean():.{digits}f} \\pm {half:.{digits}f}$"


def test_bracket_table_gives_means_with_intervals_and_marks_the_ceiling():
    summary, records = interval_summary(np.random.default_rng(31))
    table = tables.bracket_table_tex(summary)
    rows = {line.split(" & ")[1]: line.removesuffix(r" \\").split(" & ")
            for line in table.splitlines() if line.startswith("10 & ")}
    assert sorted(rows) == ["1", "4"]
    for beta, row in rows.items():
        mine = records[(records["objective"] == "vae") & (records["weight"] == float(beta))]
        for column, metric in enumerate(tables.BRACKET_METRICS, start=2):
            cell = expected_cell(mine[metric].to_numpy())
            if metric == "mutual_info" and beta == "1":
                cell = cell[:-1] + r"^\dagger$"
            assert row[column] == cell, metric


def test_alternatives_table_lists_finished_cells_with_their_verdict():
    summary, records = interval_summary(np.random.default_rng(37))
    table = tables.alternatives_table_tex(summary)
    rows = [line.removesuffix(r" \\").split(" & ") for line in table.splitlines()
            if line.startswith((r"$\beta$-VAE", "MMD"))]
    assert [row[:2] for row in rows] == [[r"$\beta$-VAE", r"$\beta = 1$"],
                                         [r"$\beta$-VAE", r"$\beta = 4$"],
                                         ["MMD", r"$\lambda = 30$"]]  # lambda 300 never ran
    mmd = records[records["objective"] == "mmd"]
    assert rows[2][6] == expected_cell(mmd["prior_fid"].to_numpy(), digits=1)
    verdict = findings.frontier_comparison(summary).iloc[0]
    expected = ("--" if verdict["verdict"] == "no main cell as likely" else
                tables.VERDICT_SIGNS[verdict["verdict"]]
                + f" $\\beta = {layout.format_weight(verdict['best_weight'])}$")
    assert rows[2][-1] == expected and rows[0][-1] == ""


def test_runs_on_some_classes_have_lookups_apart_from_the_whole_datasets():
    rng = np.random.default_rng(41)
    runs = [layout.Run("mnist", 10, 1.0, seed) for seed in (0, 1)]
    ones = [layout.Run("mnist", 10, 1.0, seed, classes=(1,)) for seed in (0, 1)]
    records = [{**run._asdict(), "classes": layout.classes_label(run.classes), "split": "test",
                "rate": rng.uniform(5, 30)}
               for run in runs + ones]
    summary = aggregate.summarize(aggregate.tidy(records), runs + ones)
    lines = "\n".join(macros.lookup_definitions(aggregate.whole_dataset(summary))
                      + macros.lookup_definitions(macros.class_subset_rows(summary)))
    for name, group in (("vae", runs), ("vae-classes1", ones)):
        rates = [r["rate"] for r, run in zip(records, runs + ones) if run in group]
        assert (rf"\@namedef{{klgap@{name}@mnist@10@1@test@rate@mean}}"
                rf"{{{np.mean(rates):.2f}}}") in lines
    assert lines.count("@test@rate@mean}") == 2
