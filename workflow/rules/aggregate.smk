# Aggregation: one tidy table per dataset (a row per run and split) and a summary over seeds.
# aggregate is told the whole expected sweep, so runs without metrics are reported, not dropped.


rule aggregate:
    input:
        metrics_files,
    output:
        metrics=out("{dataset}/metrics.csv"),
        summary=out("{dataset}/summary.csv"),
    log:
        out("logs/aggregate/{dataset}.log"),
    params:
        runs_dir=lambda wildcards: layout.runs_dir(config["outdir"], wildcards.dataset),
        latent_dims=joined(config["latent_dims"]),
        betas=joined(config["betas"], layout.format_beta),
        seeds=joined(config["seeds"]),
    localrule: True
    shell:
        "python -m klgap aggregate --dataset {wildcards.dataset} --runs-dir {params.runs_dir:q}"
        " --latent-dims {params.latent_dims} --betas {params.betas} --seeds {params.seeds}"
        " --metrics-out {output.metrics:q} --summary-out {output.summary:q} > {log:q} 2>&1"


rule provenance:
    input:
        metrics=expand(out("{dataset}/metrics.csv"), dataset=config["datasets"]),
        config=out("config.yaml"),
    output:
        json=out("provenance.json"),
        benchmarks=out("benchmarks.csv"),
    log:
        out("logs/provenance.log"),
    params:
        commit=code_version(),
        runs_dir=out("runs"),
        benchmarks_dir=out("benchmarks"),
    localrule: True
    shell:
        "python -m klgap provenance --runs-dir {params.runs_dir:q}"
        " --benchmarks-dir {params.benchmarks_dir:q} --config {input.config:q}"
        " --commit {params.commit:q} --json {output.json:q}"
        " --benchmarks-csv {output.benchmarks:q} > {log:q} 2>&1"
