# A sweep in shards (config key shards; klgap.sweep.shards). Each shard runs as its own output
# root, <outdir>/shards/<name> (make shard-<name>); this output root's tables and provenance are
# then the shards' combined: tables concatenated, summaries over every seed recomputed,
# provenance the shards' records side by side. Only with shards and without shard. The shards'
# files are committed like the combined ones, so a clone's arbitrary modification times must not
# re-make the combination: its inputs are ancient(), and `make sweep` forces these rules.


if COMBINES_SHARDS:

    rule combine_metrics:
        input:
            lambda wildcards: ancient(shard_tables(wildcards.dataset, "metrics")),
        output:
            metrics=out("{dataset}/metrics.csv"),
            summary=report(
                out("{dataset}/summary.csv"),
                caption="../report/summary.rst",
                category="Tables",
                labels={"dataset": "{dataset}", "table": "summary"},
            ),
        log:
            out("logs/combine_metrics/{dataset}.log"),
        localrule: True
        params:
            runs=expected_runs,
        shell:
            "python -m klgap combine-shards --dataset {wildcards.dataset} --table metrics"
            " --tables {input:q} --runs {params.runs} --out {output.metrics:q}"
            " --summary-out {output.summary:q} > {log:q} 2>&1"

    rule combine_table:
        input:
            lambda wildcards: ancient(shard_tables(wildcards.dataset, wildcards.table)),
        output:
            out("{dataset}/{table}.csv"),
        log:
            out("logs/combine_table/{dataset}_{table}.log"),
        wildcard_constraints:
            table="history|latent_samples|sample_grids",
        localrule: True
        shell:
            "python -m klgap combine-shards --dataset {wildcards.dataset}"
            " --table {wildcards.table} --tables {input:q} --out {output:q} > {log:q} 2>&1"

    rule combine_provenance:
        input:
            provenance=lambda wildcards: ancient(list(shard_provenance().values())),
            config=ancient(out("config.yaml")),
        output:
            json=out("provenance.json"),
            benchmarks=out("benchmarks.csv"),
        log:
            out("logs/combine_provenance.log"),
        localrule: True
        params:
            shards=lambda wildcards: joined(
                [f"{name}={path}" for name, path in shard_provenance().items()], shlex.quote
            ),
        shell:
            "python -m klgap combine-shards --provenance {params.shards} --config {input.config:q}"
            " --provenance-out {output.json:q} --benchmarks-out {output.benchmarks:q}"
            " > {log:q} 2>&1"
