# Data: one prepared .npz per dataset (binarized evaluation subsets, source checksums).


rule prepare:
    output:
        out("data/{dataset}.npz"),
    log:
        out("logs/prepare/{dataset}.log"),
    localrule: True
    params:
        data_dir=data_dir_option,
    shell:
        "python -m klgap prepare --dataset {wildcards.dataset} --out {output:q} {params.data_dir}"
        " > {log:q} 2>&1"


# The label classifier that judges generated samples (klgap.evaluation.classifier): a logistic regression on
# the real training images, trained once per dataset; every run's evaluation reads it.
rule classifier:
    input:
        out("data/{dataset}.npz"),
    output:
        out("data/{dataset}_classifier.npz"),
    log:
        out("logs/classifier/{dataset}.log"),
    benchmark:
        out("benchmarks/classifier/{dataset}.tsv")
    threads: config["threads_per_run"]
    resources:
        mem_mb=config["mem_mb"],
    shell:
        "python -m klgap classifier --data {input:q} --out {output:q} > {log:q} 2>&1"
