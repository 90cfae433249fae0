# Aggregation: per dataset, small tables from the runs, committed so that `make figures` can
# redraw everything without the run directories: the metrics (a row per run and split) and their
# summary over seeds, the training histories, samples of the 2-D aggregate posteriors, and the
# decoded prior and ex-post samples of each cell's first seed.
# Each command is told the whole expected sweep, so runs without outputs are reported, not dropped.
# Without shards, or in a shard's own output root; a root that combines shards has
# workflow/rules/shards.smk instead.


if not COMBINES_SHARDS:

    rule aggregate:
        input:
            metrics_files,
        output:
            metrics=out("{dataset}/metrics.csv"),
            summary=report(
                out("{dataset}/summary.csv"),
                caption="../report/summary.rst",
                category="Tables",
                labels={"dataset": "{dataset}", "table": "summary"},
            ),
        log:
            out("logs/aggregate/{dataset}.log"),
        localrule: True
        params:
            runs_dir=lambda wildcards: layout.runs_dir(config["outdir"], wildcards.dataset),
            runs=expected_runs,
        shell:
            "python -m klgap aggregate --dataset {wildcards.dataset} --runs-dir {params.runs_dir:q}"
            " --runs {params.runs} --metrics-out {output.metrics:q} --summary-out {output.summary:q} > {log:q} 2>&1"

    rule histories:
        input:
            history_files,
        output:
            out("{dataset}/history.csv"),
        log:
            out("logs/histories/{dataset}.log"),
        localrule: True
        params:
            runs_dir=lambda wildcards: layout.runs_dir(config["outdir"], wildcards.dataset),
            runs=expected_runs,
        shell:
            "python -m klgap histories --dataset {wildcards.dataset} --runs-dir {params.runs_dir:q}"
            " --runs {params.runs} --out {output:q} > {log:q} 2>&1"

    rule latent_samples:
        input:
            latent_posterior_files,
        output:
            out("{dataset}/latent_samples.csv"),
        log:
            out("logs/latent_samples/{dataset}.log"),
        localrule: True
        params:
            runs_dir=lambda wildcards: layout.runs_dir(config["outdir"], wildcards.dataset),
            objective=config["objective"],
            latent_dim=collected_files.LATENT_SPACE_DIM,
            weights=lambda wildcards: joined(
                collected_files.latent_space_weights(config, wildcards.dataset),
                layout.format_weight,
            ),
            seeds=lambda wildcards: joined(collected_files.sweep_seeds(config, wildcards.dataset)),
            also=other_latent_spaces,
        shell:
            "python -m klgap latent-samples --dataset {wildcards.dataset}"
            " --runs-dir {params.runs_dir:q} --objective {params.objective}"
            " --latent-dim {params.latent_dim} --weights {params.weights}"
            " --also {params.also} --seeds {params.seeds} --out {output:q} > {log:q} 2>&1"

    rule sample_grids:
        input:
            sample_grid_files,
        output:
            out("{dataset}/sample_grids.csv"),
        log:
            out("logs/sample_grids/{dataset}.log"),
        localrule: True
        params:
            runs_dir=lambda wildcards: layout.runs_dir(config["outdir"], wildcards.dataset),
            runs=expected_runs,
        shell:
            "python -m klgap sample-grids --dataset {wildcards.dataset} --runs-dir {params.runs_dir:q}"
            " --runs {params.runs} --out {output:q} > {log:q} 2>&1"

    # The tables and the configuration are committed beside provenance.json, and a checkout gives
    # them arbitrary modification times: ancient() keeps a table that merely looks newer from
    # re-running provenance on a clone without runs. What re-runs it is a run record (run.json,
    # metrics.json; never committed) that is new or newer, i.e. a training or an evaluation.
    rule provenance:
        input:
            records=run_records,
            metrics=ancient(expand(out("{dataset}/metrics.csv"), dataset=swept_datasets())),
            config=ancient(out("config.yaml")),
            machine=out("machine.json"),
        output:
            json=out("provenance.json"),
            benchmarks=out("benchmarks.csv"),
        log:
            out("logs/provenance.log"),
        localrule: True
        params:
            commit=code_version(),
            runs_dir=out("runs"),
            # A function of the output, not a literal path: a literal that is a prefix of an output
            # file name (benchmarks.csv) is flagged by --lint.
            benchmarks_dir=lambda wildcards, output: os.path.join(
                os.path.dirname(output.json), "benchmarks"
            ),
        shell:
            "python -m klgap provenance --runs-dir {params.runs_dir:q}"
            " --benchmarks-dir {params.benchmarks_dir:q} --config {input.config:q}"
            " --metrics {input.metrics:q}"
            " --commit {params.commit:q} --json {output.json:q}"
            " --benchmarks-csv {output.benchmarks:q} --machine {input.machine:q} > {log:q} 2>&1"
