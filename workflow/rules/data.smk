# Data: one prepared .npz per dataset (binarized evaluation subsets, source checksums).


rule prepare:
    output:
        out("data/{dataset}.npz"),
    log:
        out("logs/prepare/{dataset}.log"),
    params:
        data_dir=data_dir_option,
    localrule: True
    shell:
        "python -m klgap prepare --dataset {wildcards.dataset} --out {output:q} {params.data_dir}"
        " > {log:q} 2>&1"
