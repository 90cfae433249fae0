# The paper: generated macros and tables, then LaTeX in a scratch directory.


rule config_snapshot:
    output:
        out("config.yaml"),
    log:
        out("logs/config_snapshot.log"),
    localrule: True
    params:
        config_hash=config_hash(),
        config_label=config_label(),
    run:
        write_config_snapshot(output[0], log[0])


# The generated TeX and the PDF, for a configuration with a paper (config key paper_dir; a study
# the paper reads has none).
if config["paper_dir"]:

    rule tex:
        input:
            summaries=expand(out("{dataset}/summary.csv"), dataset=swept_datasets()),
            histories=expand(out("{dataset}/history.csv"), dataset=swept_datasets()),
            latent_samples=latent_sample_tables(),
            config=out("config.yaml"),
            provenance=out("provenance.json"),
            benchmarks=out("benchmarks.csv"),
            metrics=expand(out("{dataset}/metrics.csv"), dataset=swept_datasets()),
            study_metrics=study_tables("metrics"),
            study_histories=study_tables("history"),
            cross_cpu_report=cross_cpu_report(),
        output:
            numbers=out("tex/numbers.tex"),
            table=out("tex/table_rate.tex"),
            objectives_table=out("tex/table_objectives.tex"),
            convergence_table=out("tex/table_convergence.tex"),
            bracket_table=out("tex/table_bracket.tex"),
            alternatives_table=out("tex/table_alternatives.tex"),
            study_table=out("tex/table_study.tex"),
            figure_sources=out("tex/figure_sources.tex"),
        log:
            out("logs/tex.log"),
        localrule: True
        params:
            commit=code_version(),
            config_label=config_label(),
            config_hash=config_hash(),
            figures=figure_sources(),
            study=lambda wildcards, input: (
                f"--study-metrics {joined(input.study_metrics, shlex.quote)}"
                f" --study-histories {joined(input.study_histories, shlex.quote)}"
                if input.study_metrics
                else ""
            ),
            cross_cpu=lambda wildcards, input: (
                f"--cross-cpu-report {joined(input.cross_cpu_report, shlex.quote)}"
                if input.cross_cpu_report
                else ""
            ),
        shell:
            "python -m klgap tex --summaries {input.summaries:q} --histories {input.histories:q}"
            " --latent-samples {input.latent_samples:q} --metrics {input.metrics:q}"
            " --config {input.config:q} --provenance {input.provenance:q}"
            " --benchmarks {input.benchmarks:q} --commit {params.commit:q}"
            " --config-label {params.config_label:q} --config-hash {params.config_hash}"
            " --numbers {output.numbers:q} --table {output.table:q}"
            " --objectives-table {output.objectives_table:q}"
            " --convergence-table {output.convergence_table:q}"
            " --bracket-table {output.bracket_table:q}"
            " --alternatives-table {output.alternatives_table:q}"
            " {params.study} --study-table {output.study_table:q} {params.cross_cpu}"
            " --figures {params.figures} --figure-sources {output.figure_sources:q} > {log:q} 2>&1"

    rule paper:
        input:
            main=paper_dir() / "main.tex",
            sources=paper_sources(),
            script=SCRIPTS / "build_paper.sh",
            numbers=out("tex/numbers.tex"),
            table=out("tex/table_rate.tex"),
            objectives_table=out("tex/table_objectives.tex"),
            convergence_table=out("tex/table_convergence.tex"),
            bracket_table=out("tex/table_bracket.tex"),
            alternatives_table=out("tex/table_alternatives.tex"),
            study_table=out("tex/table_study.tex"),
            figure_sources=out("tex/figure_sources.tex"),
            figures=expand(out("figures/{figure}.pdf"), figure=figures_drawn()),
        output:
            pdf=report(out("paper.pdf"), caption="../report/paper.rst", category="Paper"),
        log:
            out("logs/paper.log"),
        localrule: True
        params:
            paper_dir=lambda wildcards, input: os.path.dirname(input.main),
            tex_dir=lambda wildcards, input: os.path.dirname(input.numbers),
            figures_dir=lambda wildcards, input: os.path.dirname(input.figures[0]),
            build_dir=lambda wildcards, output: os.path.join(
                os.path.dirname(output.pdf), "paper_build"
            ),
            strictness="strict" if config["strict_paper"] else "lenient",
        shell:
            "bash {input.script:q} {params.paper_dir:q} {params.tex_dir:q} {params.figures_dir:q}"
            " {params.build_dir:q} {output.pdf:q} {params.strictness} > {log:q} 2>&1"
