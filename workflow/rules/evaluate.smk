# Evaluation: ELBO, importance-weighted log-likelihood and the KL decomposition of one run; how
# well it generates (decoded samples labelled by the dataset's classifier) and its prior holes.


rule evaluate:
    input:
        data=out("data/{dataset}.npz"),
        classifier=out("data/{dataset}_classifier.npz"),
        model=out(RUN, "model.npz"),
        run=out(RUN, "run.json"),
    output:
        metrics=out(RUN, "metrics.json"),
        posterior_test=out(RUN, "posterior_test.npz"),
        posterior_train=out(RUN, "posterior_train.npz"),
        samples=out(RUN, "samples.npz"),
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
        iw_samples=config["iw_samples"],
        minibatch_sizes=joined(config["minibatch_sizes"]),
    shell:
        "python -m klgap evaluate --data {input.data:q} --rundir {params.rundir:q}"
        " --classifier {input.classifier:q} --iw-samples {params.iw_samples}"
        " --minibatch-sizes {params.minibatch_sizes}"
        " --threads {threads} > {log:q} 2>&1"
