# Evaluation: ELBO, importance-weighted log-likelihood and the KL decomposition of one run; how
# well it generates (decoded samples labelled by the dataset's classifier) and its prior holes.


# With batched_training only: rule run (train.smk) evaluates each run in its training job.
if config["batched_training"]:

    rule evaluate:
        input:
            data=out("data/{dataset}.npz"),
            classifier=out("data/{dataset}_classifier.npz"),
            features=ancient(features_file("{dataset}")),
            model=out(RUN, "model.npz"),
            run=out(RUN, "run.json"),
        output:
            **evaluation_outputs(),
        log:
            out("logs/evaluate", f"{RUN_ID}.log"),
        benchmark:
            out("benchmarks/evaluate", f"{RUN_ID}.tsv")
        threads: config["threads_per_run"]
        resources:
            mem_mb=config["mem_mb"],
            gpu=config["gpus_per_run"],
            gpu_percent=gpu_percent_per_run(),
        params:
            rundir=lambda wildcards, output: os.path.dirname(output.metrics),
            evaluation=evaluation_options,
        shell:
            "python -m klgap evaluate --data {input.data:q} --rundir {params.rundir:q}"
            " --classifier {input.classifier:q} --features {input.features:q}"
            " {params.evaluation}"
            " --threads {threads} > {log:q} 2>&1"
