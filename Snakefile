# klgap: per-example KL versus aggregate KL in VAEs, from training to the paper's PDF.
#
#   snakemake --cores all                                               # the paper (make paper)
#   snakemake --cores all --forcerun aggregate histories latent_samples sample_grids
#                                                                       # the sweep (make sweep)
#   snakemake ... --configfile config/smoke.yaml                         # smoke test
#   snakemake ... --config outdir=elsewhere 'datasets=[mnist]' data_dir=/path/to/idx
#
# Snakemake loads profiles/default by itself. On a clone, which has the committed tables but no
# runs, the first line only builds the paper; the second trains what the tables need. The rules
# are in workflow/rules/, the configuration's keys and defaults in
# workflow/schemas/config.schema.yaml; the workflow itself is
# workflow/Snakefile (Snakemake's catalog layout), included here.


include: "workflow/Snakefile"


# An included file's default target does not carry over (Snakemake restores the includer's).
workflow.default_target = "all"
