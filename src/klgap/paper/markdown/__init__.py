"""Markdown generated from the committed records (``klgap findings``): the README's findings
block (``readme``) and ``docs/performance.md`` (``performance``, with its tables of benchmark
records, ``bench_tables``, of sweeps' provenance, ``sweep_records``, and its speed records,
``speed_records``), with shared formatting (``text``)."""

from klgap.paper.markdown.bench_tables import bench_value  # noqa: F401
from klgap.paper.markdown.performance import performance_markdown  # noqa: F401
from klgap.paper.markdown.readme import (findings_markdown, findings_text,  # noqa: F401
                                         read_block, replace_block)
from klgap.paper.markdown.text import (CEILING_MARK, FINDINGS_END, FINDINGS_START,  # noqa: F401
                                       MINUS, WIDTH, number, significant)
