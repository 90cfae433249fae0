# Figures: drawn from the aggregated tables only (FIGURES in common.smk says which tables each
# figure needs), as vector PDF plus a PNG preview. Each file carries the commit, the configuration
# hash, the rule and the command that made it (PDF/PNG metadata); the PNG and its caption (the
# figure's docstring, written by the same command) go into `snakemake --report`.


rule figures:
    input:
        unpack(figure_tables),
    output:
        pdf=out("figures/{figure}.pdf"),
        png=report(
            out("figures/{figure}.png"),
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        caption=out("figures/{figure}.rst"),
    log:
        out("logs/figures/{figure}.log"),
    localrule: True
    params:
        tables=figure_table_options,
        commit=code_version(),
        config_hash=config_hash(),
    shell:
        "python -m klgap figures {wildcards.figure} {params.tables}"
        " --pdf {output.pdf:q} --png {output.png:q} --caption {output.caption:q}"
        " --commit {params.commit:q} --config-hash {params.config_hash} --rule figures"
        " > {log:q} 2>&1"
