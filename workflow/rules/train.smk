# Training: one job per run of the sweep (dataset x objective x latent size x weight x seed).


# The sweep's job per run: training, then evaluation (workflow/rules/evaluate.smk says what it
# measures), in one process (`klgap train-and-evaluate`), so that TensorFlow's start-up, the data
# and the model are paid for once. A killed job resumes from <rundir>/checkpoint.npz, which is not
# a declared output and so survives Snakemake's clean-up of incomplete outputs; killed during the
# evaluation, it evaluates again. With batched_training, rule train_together trains and rule
# evaluate evaluates.
if not config["batched_training"]:

    rule run:
        input:
            data=out("data/{dataset}.npz"),
            classifier=out("data/{dataset}_classifier.npz"),
            # ancient(): the committed network, whatever its modification time on a clone, is
            # no reason to run again the runs behind the committed tables.
            features=ancient(features_file("{dataset}")),
        output:
            **evaluation_outputs(),
            model=out(RUN, "model.npz"),
            history=out(RUN, "history.csv"),
            run=out(RUN, "run.json"),
        log:
            out("logs/run", f"{RUN_ID}.log"),
        benchmark:
            out("benchmarks/run", f"{RUN_ID}.tsv")
        priority: run_priority
        threads: config["threads_per_run"]
        resources:
            mem_mb=config["mem_mb"],
            gpu=config["gpus_per_run"],
            gpu_percent=gpu_percent_per_run(),
        params:
            rundir=lambda wildcards, output: os.path.dirname(output.run),
            options=training_options,
            run_options=run_options,
            evaluation=evaluation_options,
        shell:
            "python -m klgap train-and-evaluate --data {input.data:q} --rundir {params.rundir:q}"
            " --{wildcards.weight_name} {wildcards.weight} --seed {wildcards.seed}"
            " {params.options} {params.run_options} --classifier {input.classifier:q}"
            " --features {input.features:q} {params.evaluation}"
            " --threads {threads} > {log:q} 2>&1"


# With batched_training, one job per cell (dataset x objective x latent size x weight) trains all
# the configuration's seeds as
# one batched computation (klgap.training.batched), to fill a GPU that one small model cannot. On the
# 2-core CPU measured in docs/performance.md separate jobs are faster, hence the default false.
if config["batched_training"]:

    rule train_together:
        input:
            data=out("data/{dataset}.npz"),
        output:
            model=expand(out(RUN, "model.npz"), seed=config["seeds"], allow_missing=True),
            history=expand(out(RUN, "history.csv"), seed=config["seeds"], allow_missing=True),
            run=expand(out(RUN, "run.json"), seed=config["seeds"], allow_missing=True),
        log:
            out(
                "logs/train_together",
                "{dataset}/{objective}/{subset}z{latent_dim}/{weight_name}{weight}.log",
            ),
        benchmark:
            out(
                "benchmarks/train_together",
                "{dataset}/{objective}/{subset}z{latent_dim}/{weight_name}{weight}.tsv",
            )
        threads: config["threads_per_run"]
        resources:
            mem_mb=config["mem_mb"],
            gpu=config["gpus_per_run"],
            gpu_percent=gpu_percent_per_run(),
        params:
            rundirs=lambda wildcards, output: joined(
                [os.path.dirname(path) for path in output.run], shlex.quote
            ),
            seeds=joined(config["seeds"]),
            options=training_options,
        shell:
            "python -m klgap train-together --data {input.data:q} --rundirs {params.rundirs}"
            " --seeds {params.seeds} --{wildcards.weight_name}s {wildcards.weight} {params.options}"
            " --threads {threads} > {log:q} 2>&1"
