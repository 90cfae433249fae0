# Figures: drawn from the aggregated tables only (FIGURES in common.smk says which tables each
# figure needs), as vector PDF plus a PNG preview.


rule figures:
    input:
        unpack(figure_tables),
    output:
        pdf=out("figures/{figure}.pdf"),
        png=out("figures/{figure}.png"),
    log:
        out("logs/figures/{figure}.log"),
    params:
        tables=figure_table_options,
    localrule: True
    shell:
        "python -m klgap figures {wildcards.figure} {params.tables}"
        " --pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"
