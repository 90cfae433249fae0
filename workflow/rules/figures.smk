# Figures: drawn from the aggregated summaries only, as vector PDF plus a PNG preview.


rule figures:
    input:
        summaries=expand(out("{dataset}/summary.csv"), dataset=config["datasets"]),
    output:
        pdf=out("figures/{figure}.pdf"),
        png=out("figures/{figure}.png"),
    log:
        out("logs/figures/{figure}.log"),
    localrule: True
    shell:
        "python -m klgap figures {wildcards.figure} --summaries {input.summaries:q}"
        " --pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"
