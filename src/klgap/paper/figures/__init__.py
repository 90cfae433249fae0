"""Figures of the paper, drawn from the aggregated tables of ``<outdir>/<dataset>/``.

Each figure is a function from tables to a matplotlib figure (``decomposition``, ``classes``,
``estimators``, ``objectives``, ``latent``, ``curves``, ``samples``), listed by name with the
tables it needs in ``registry`` (the tables: ``klgap.paper.figure_registry``), and saved by
``command`` (``klgap figures NAME``) as a vector PDF (for the paper) and a PNG preview, with its
provenance (``provenance``). All figures share one look (``style``) and one panel toolkit
(``panels``): 7-8 pt text at the paper's full width (6.9 in), information in nats, and over seeds
the mean with its t-based 95% interval (``ci95_low/high``). Figures of the beta-VAE are given its
rows only; those that compare the objectives (``figure_registry.EVERY_OBJECTIVE_FIGURES``) every
objective's.
"""

import matplotlib

matplotlib.use("Agg")  # headless, before any module of the package imports pyplot
