"""The paper: built from the committed results, with every value it uses defined.

The build runs the rules of `make figures` on a copy of the committed tables in a temporary
output root, so the repository's results are not touched.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from klgap.evaluation import fitted_bound
from klgap.sweep import study as sweep_study
from klgap.sweep import verify as sweep_verify
from klgap.sweep import tables as aggregate
from klgap.paper import tex as report
from klgap.paper.tex import study as tex_study
from klgap.paper.tex import values as tex_values
from test_workflow import FIGURES, REPO, TABLES, snakemake

RESULTS = REPO / "results"
PAPER = REPO / "paper"
COMMITTED_RECORDS = ["provenance.json", "benchmarks.csv", sweep_verify.CROSS_CPU_REPORT]
# The page on which the references start (the main text may end on it), and all pages.
MAX_MAIN_TEXT_PAGES = 10
MAX_PAGES = 15


def paper_text() -> str:
    """The hand-written TeX of the paper (main.tex and sections/), without comments."""
    paths = sorted(PAPER.glob("*.tex")) + sorted(PAPER.glob("sections/*.tex"))
    return "\n".join(without_comments(path.read_text()) for path in paths)


def without_comments(tex: str) -> str:
    """Removes TeX comments (from an unescaped % to the end of the line)."""
    return re.sub(r"(?m)(?<!\\)%.*$", "", tex)


def committed_numbers() -> str:
    """``numbers.tex`` generated from the committed results."""
    config = yaml.safe_load((RESULTS / "config.yaml").read_text())
    # read as `klgap tex` reads them (every objective; older tables: objective added, beta
    # called weight)
    summary = aggregate.load_summaries([RESULTS / d / "summary.csv" for d in config["datasets"]])
    history = aggregate.load_tables([RESULTS / d / "history.csv" for d in config["datasets"]],
                                    "history")
    samples = aggregate.load_tables([RESULTS / d / "latent_samples.csv"
                                     for d in config["datasets"]], "latent_samples")
    # The convergence study's values (config key convergence_study), as `klgap tex` adds them.
    metrics = aggregate.load_tables([RESULTS / d / "metrics.csv" for d in config["datasets"]],
                                    "metrics")
    study_values = tex_values.family_choice_values(metrics)  # `klgap tex --metrics`
    if study_metrics := sweep_study.study_tables(REPO, config, "metrics"):
        study_values |= tex_study.study_values(
            metrics, history, aggregate.load_tables(study_metrics, "metrics"),
            aggregate.load_tables(sweep_study.study_tables(REPO, config, "history"), "history"))
    # The cross-CPU record (klgap.sweep.verify.CROSS_CPU_REPORT), as the workflow passes it.
    study_values.update(tex_values.cross_cpu_values(RESULTS / sweep_verify.CROSS_CPU_REPORT))
    return report.numbers_tex(summary, history, config,
                              json.loads((RESULTS / "provenance.json").read_text()),
                              pd.read_csv(RESULTS / "benchmarks.csv"), "0" * 40, "config.yaml",
                              "hash", samples, more_values=study_values)


def test_the_flow_that_the_evaluation_leaves_out_was_never_the_chosen_family():
    # The methods say the committed evaluations fitted a flow too, chosen in none of the runs,
    # so that leaving it out (klgap.evaluation.fitted_bound.FAMILIES) changes no chosen bound.
    config = yaml.safe_load((RESULTS / "config.yaml").read_text())
    metrics = aggregate.load_tables([RESULTS / d / "metrics.csv" for d in config["datasets"]],
                                    "metrics")
    test = metrics[metrics["split"] == "test"]
    assert "flow" not in fitted_bound.FAMILIES
    assert test["fitted_flow_aggregate_kl_lower"].notna().any()  # the flow was fitted
    values = tex_values.family_choice_values(metrics)
    assert values["fitted_chosen/flow"] == "0"
    assert int(values["fitted_runs"]) == test["fitted_family"].notna().sum() > 100
    assert sum(int(values[f"fitted_chosen/{f}"]) for f in ("mixture", "gmm", "flow", "prior")) \
        == int(values["fitted_runs"])


def test_family_choice_values_count_the_test_records():
    metrics = pd.DataFrame({"split": ["test", "train", "test", "test", "test"],
                            "fitted_family": ["gmm", None, "mixture", "gmm", None]})
    assert tex_values.family_choice_values(metrics) == {
        "fitted_runs": "3", "fitted_chosen/mixture": "1", "fitted_chosen/gmm": "2",
        "fitted_chosen/flow": "0", "fitted_chosen/prior": "0"}
    assert tex_values.family_choice_values(metrics.drop(columns="fitted_family")) == {}


def test_every_value_the_text_names_is_generated():
    text, numbers = paper_text(), committed_numbers()
    used = set(re.findall(r"\\klgapValue\{([^}]+)\}", text))
    assert used, "the paper uses no generated values?"
    missing = sorted(name for name in used
                     if rf"\@namedef{{klgap@value@{name}}}" not in numbers)
    assert not missing, f"\\klgapValue names without a value: {missing}"
    macros = set(re.findall(r"\\(klgap[A-Z]\w*)", text)) - {"klgapValue", "klgapMean", "klgapSD",
                                                                 "klgapObj"}
    undefined = sorted(m for m in macros if rf"\newcommand{{\{m}}}" not in numbers)
    assert not undefined, f"macros the text uses but numbers.tex does not define: {undefined}"


def test_no_number_about_our_results_is_typed_into_the_text():
    # Decimal numbers in the prose belong in generated macros; published numbers of other work
    # live in literature.tex with their sources.
    for path in sorted(PAPER.rglob("*.tex")):
        if path.name == "literature.tex":
            continue
        prose = without_comments(path.read_text())
        # Lengths and float fractions are layout, not results.
        typed = re.findall(r"(?<![\w.{\\])\d+\.\d+(?!\d|in\b|pt\b|\\linewidth)", prose)
        assert not typed, f"{path.relative_to(REPO)} has hand-typed numbers: {typed}"


@pytest.mark.slow
def test_paper_builds_from_the_committed_results(tmp_path):
    outdir = tmp_path / "results"
    config = yaml.safe_load((RESULTS / "config.yaml").read_text())
    for dataset in config["datasets"]:
        (outdir / dataset).mkdir(parents=True)
        for table in TABLES:
            shutil.copy(RESULTS / dataset / f"{table}.csv", outdir / dataset)
    for record in COMMITTED_RECORDS:
        (outdir / record).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RESULTS / record, outdir / record)
    makefile = (REPO / "Makefile").read_text()
    figure_rules = re.search(r"^FIGURE_RULES := (.+)$", makefile, re.MULTILINE)[1].split()
    result = snakemake(tmp_path, "--cores", "2", "--allowed-rules", *figure_rules,
                       "--config", f"outdir={outdir}", "--", "paper")
    assert result.returncode == 0, result.stdout + (outdir / "logs" / "paper.log").read_text()
    for figure in FIGURES:
        assert (outdir / "figures" / f"{figure}.pdf").stat().st_size > 0
    # The build script fails on warnings about missing values, undefined references or
    # citations and overfull lines; check the log as well, and the text of the PDF.
    log = (outdir / "paper_build" / "main.log").read_text(errors="replace")
    assert "Package klgap Warning" not in log and "undefined" not in log
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(
        ["pdfinfo", str(outdir / "paper.pdf")], capture_output=True, text=True).stdout)[1])
    # Issue 33: a main text of at most about nine pages, then references and appendix.
    main_text_pages = next(page for page in range(1, pages + 1) if re.search(
        r"(?m)^References$", subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(outdir / "paper.pdf"), "-"],
            capture_output=True, text=True).stdout))
    assert main_text_pages <= MAX_MAIN_TEXT_PAGES and pages <= MAX_PAGES, (main_text_pages, pages)
    text = subprocess.run(["pdftotext", str(outdir / "paper.pdf"), "-"], capture_output=True,
                          text=True).stdout
    assert "??" not in text
    provenance = json.loads((RESULTS / "provenance.json").read_text())
    assert f"{provenance['runs_trained']} of {provenance['runs_trained']} runs finished" in text
    # The appendix lists every figure with its rule and command (generated from the registry).
    appendix = " ".join(text.split("Reproducibility")[-1].split())
    for figure in FIGURES:
        assert f"figures/{figure}.pdf" in appendix and f"klgap figures {figure}" in appendix

    # `make report` on the same output root: every figure, both summaries and the paper are
    # embedded, with their captions.
    report_html = outdir / "report.html"
    # (as one part: this output root has the combined tables, not the shards')
    result = snakemake(tmp_path, "--report", str(report_html), "--config", f"outdir={outdir}",
                       "shards={}")
    assert result.returncode == 0, result.stdout[-3000:]
    html = report_html.read_text()
    embedded, categories = report_object(html, "results"), report_object(html, "categories")
    files = {category: sorted(Path(path).name for paths in subcategories.values()
                              for path in paths)
             for category, subcategories in categories.items()}
    assert files["Figures"] == sorted(f"{figure}.png" for figure in FIGURES)
    assert files["Tables"] == ["summary.csv"] * len(config["datasets"])
    assert files["Paper"] == ["paper.pdf"]
    for path, record in embedded.items():
        if path.endswith(".png"):
            assert "Made by rule" in record["caption"] and "klgap figures" in record["caption"]
            assert record["data_uri"].startswith("data:image/png")


def report_object(html: str, name: str) -> dict:
    """An object of a Snakemake report's page: ``results`` (path -> embedded file) or
    ``categories`` (category -> subcategory -> paths)."""
    start = html.index("{", re.search(rf"\b{name} = \{{", html).start())
    return json.JSONDecoder().raw_decode(html, start)[0]
