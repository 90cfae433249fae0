# Training: one job per run of the sweep (dataset x latent size x beta x seed).
# A killed job resumes from <rundir>/checkpoint.npz, which is not a declared output and so
# survives Snakemake's clean-up of incomplete outputs.


rule train:
    input:
        data=out("data/{dataset}.npz"),
    output:
        model=out(RUN, "model.npz"),
        history=out(RUN, "history.csv"),
        run=out(RUN, "run.json"),
    log:
        out("logs/train", f"{RUN_ID}.log"),
    benchmark:
        out("benchmarks/train", f"{RUN_ID}.tsv")
    threads: config["threads_per_run"]
    resources:
        mem_mb=config["mem_mb"],
        gpu=config["gpus_per_run"],
        gpu_percent=gpu_percent_per_run(),
    params:
        rundir=lambda wildcards, output: os.path.dirname(output.run),
        epochs=lambda wildcards: epochs_for(wildcards.dataset),
        batch_size=config["batch_size"],
        learning_rate=config["learning_rate"],
        hidden=joined(config["hidden"]),
    shell:
        "python -m klgap train --data {input.data:q} --rundir {params.rundir:q}"
        " --latent-dim {wildcards.latent_dim} --beta {wildcards.beta} --seed {wildcards.seed}"
        " --epochs {params.epochs} --batch-size {params.batch_size}"
        " --learning-rate {params.learning_rate} --hidden {params.hidden}"
        " --threads {threads} > {log:q} 2>&1"
