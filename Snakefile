# klgap: per-example KL versus aggregate KL in VAEs, from training to the paper's PDF.
#
#   snakemake --cores all                                               # the paper (make paper)
#   snakemake --cores all --forcerun aggregate histories latent_samples sample_grids
#                                                                       # the sweep (make sweep)
#   snakemake ... --configfile workflow/config/smoke.yaml                # smoke test
#   snakemake ... --config outdir=elsewhere 'datasets=[mnist]' data_dir=/path/to/idx
#
# Snakemake loads profiles/default by itself. On a clone, which has the committed tables but no
# runs, the first line only builds the paper; the second trains what the tables need. The rules
# are in workflow/rules/, the configuration's keys and defaults in
# workflow/schemas/config.schema.yaml.

import os
import sys

from snakemake.utils import min_version

min_version("9.0")

try:
    import klgap  # noqa: F401 (the rules' helpers and every job use the package)
except ImportError as error:
    sys.exit(
        f"error: the klgap package is not importable from {sys.executable} ({error}); "
        "run `make setup` and use .venv/bin/snakemake (or `pip install -e .` into this Python)"
    )


configfile: os.path.join(workflow.basedir, "workflow", "config", "default.yaml")


# The description at the top of `snakemake --report` (`make report`); the figures, summaries and
# PDF flagged with report(...) in the rules are embedded below it.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# snakemake.utils.validate against workflow/schemas/config.schema.yaml (SCHEMA): fills in the
# defaults, and stops before any job on a bad or unknown key, naming it.
check_config(config, SCHEMA)


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/machine.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        out("paper.pdf"),
        out("config.yaml"),
        out("provenance.json"),
        aggregated_tables(),
        expand(out("figures/{figure}.{ext}"), figure=figures_drawn(), ext=["pdf", "png"]),
