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


# The feature network whose penultimate activations define FID, KID and precision/recall of the
# decoded samples (klgap.evaluation.feature_reference): a small CNN classifier, seeded, trained once
# per dataset on the real training images; the file also holds its record and the floor (training
# against test images). It fails below the required test accuracy (99% MNIST, 90% Fashion-MNIST).
# Committed under <outdir>/features/ and shared by the shards of a sweep (which run in their own
# output roots), so that every run is scored by the same network on any machine. A network that
# exists is a source file, not an output: the rule is defined only for the datasets whose network is
# missing, so a dataset prepared again (in a shard, on a clone) never retrains it (ancient() would
# not stop that: an input written by a job of the same invocation counts as updated). Delete the
# file to train it again.
MISSING_FEATURE_NETWORKS = [
    dataset for dataset in config["datasets"] if not os.path.exists(features_file(dataset))
]

if MISSING_FEATURE_NETWORKS:

    rule feature_network:
        input:
            out("data/{dataset}.npz"),
        output:
            features_file("{dataset}"),
        log:
            out("logs/feature_network/{dataset}.log"),
        benchmark:
            out("benchmarks/feature_network/{dataset}.tsv")
        wildcard_constraints:
            dataset="|".join(MISSING_FEATURE_NETWORKS),
        # Every run waits for it: it takes the cores it can (once per dataset, committed).
        threads: max(2, config["threads_per_run"])
        resources:
            mem_mb=config["mem_mb"],
        shell:
            "python -m klgap feature-network --data {input:q} --out {output:q} --threads {threads}"
            " > {log:q} 2>&1"
