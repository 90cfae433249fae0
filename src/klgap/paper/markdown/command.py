"""``klgap findings``: Markdown written from the committed records, like the paper's numbers.

Two texts are generated, never typed: the README's findings (``--markdown``: how the rate of the
beta-VAE splits into information and aggregate KL, from ``<results>/<dataset>/summary.csv``),
which sits in the README between ``FINDINGS_START`` and ``FINDINGS_END``, and
``docs/performance.md`` (``--performance``: every benchmark record of ``<results>/bench/*.csv``
and the sweeps' ``provenance.json``). ``tests/test_readme.py`` and ``tests/test_docs.py`` fail
when the committed text differs from what this prints for the committed records; then

    python -m klgap findings --markdown --readme README.md
    python -m klgap findings --performance --out docs/performance.md

rewrite it. Without ``--markdown`` or ``--performance`` the findings are printed as plain text.
"""


import argparse
import sys
from pathlib import Path


from klgap import atomic
from klgap.errors import UserError
from klgap.paper.markdown.readme import (findings_markdown, findings_text, load_summaries,
                                         replace_block, study_sentence)
from klgap.paper.markdown.performance import performance_markdown
from klgap.paper.markdown.sweep_records import shards_sentence
from klgap.paper.markdown.text import FINDINGS_END, FINDINGS_START


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="output root with config.yaml, <dataset>/summary.csv and bench/")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--markdown", action="store_true",
                      help="the README's findings block (Markdown)")
    what.add_argument("--performance", action="store_true",
                      help="docs/performance.md, from <results>/bench/*.csv")
    parser.add_argument("--out", type=Path,
                        help="write the text to this file instead of printing it")
    parser.add_argument("--readme", type=Path,
                        help=f"with --markdown: replace the block between {FINDINGS_START} and "
                             f"{FINDINGS_END} of this file")


def main(args: argparse.Namespace) -> None:
    """Prints (or writes) the findings or the performance page."""
    if args.readme is not None and not args.markdown:
        raise UserError("--readme rewrites the findings block: give it with --markdown")
    if args.performance:
        text = performance_markdown(args.results)
    elif args.markdown:
        text = findings_markdown(load_summaries(args.results))
        for sentence in (study_sentence(args.results), shards_sentence(args.results)):
            if sentence:
                text += f"\n{sentence}\n"
    else:
        text = findings_text(load_summaries(args.results))
    if args.readme is not None:
        atomic.write_text(args.readme, replace_block(args.readme.read_text(), text))
        print(f"wrote the findings into {args.readme}")
    elif args.out is not None:
        atomic.write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
