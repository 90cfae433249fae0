#!/usr/bin/env bash
# Compiles the paper in a scratch directory and copies the PDF into place atomically.
#
# Usage: build_paper.sh PAPER_DIR TEX_DIR FIGURES_DIR BUILD_DIR OUT_PDF [strict|lenient]
#   PAPER_DIR    hand-written sources (main.tex, sections/, refs.bib)
#   TEX_DIR      generated macros and tables  -> BUILD_DIR/generated/tex/
#   FIGURES_DIR  generated figures            -> BUILD_DIR/generated/figures/
#   BUILD_DIR    scratch directory, emptied first
#   OUT_PDF      where the PDF goes
#   strict       (default) fail on missing generated values, undefined references or citations
#                and overfull lines; lenient: report them and keep the PDF (config strict_paper)
set -euo pipefail

if [[ $# -lt 5 || $# -gt 6 || ! ${6:-strict} =~ ^(strict|lenient)$ ]]; then
    echo "usage: $0 PAPER_DIR TEX_DIR FIGURES_DIR BUILD_DIR OUT_PDF [strict|lenient]" >&2
    exit 2
fi
paper_dir=$1 tex_dir=$2 figures_dir=$3 build_dir=$4 out_pdf=$5 strictness=${6:-strict}

missing=()
for tool in latexmk pdflatex bibtex; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "error: ${missing[*]} not found; the paper needs LaTeX." >&2
    echo "On Debian/Ubuntu: apt-get install latexmk texlive-latex-base texlive-latex-recommended" \
         "texlive-latex-extra texlive-fonts-recommended (or run 'make paper', which does it)." >&2
    echo "Elsewhere: install TeX Live with latexmk." >&2
    exit 1
fi

rm -rf "$build_dir"
mkdir -p "$build_dir/generated/tex" "$build_dir/generated/figures"
# -L: the next paper links the shared refs.bib and literature.tex from paper/.
cp -RL "$paper_dir/." "$build_dir/"
cp "$tex_dir"/*.tex "$build_dir/generated/tex/"
cp "$figures_dir"/*.pdf "$build_dir/generated/figures/"

cd "$build_dir"
# SOURCE_DATE_EPOCH and FORCE_SOURCE_DATE make pdfTeX's dates, and so the PDF, reproducible.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0} FORCE_SOURCE_DATE=1
latexmk -pdf -interaction=nonstopmode -halt-on-error -file-line-error main.tex
# A clean build only: a missing generated value, an undefined reference or citation, or a line
# that sticks out into the margin fails the build, naming what to fix.
problems=$(grep -E "Package klgap Warning|undefined|Overfull|There were multiply-defined" \
    main.log || true)
cd - >/dev/null
if [[ -n "$problems" && $strictness == lenient ]]; then
    echo "warning: the paper built with problems (strict_paper is false, so the PDF is kept):" >&2
    echo "$problems" >&2
elif [[ -n "$problems" ]]; then
    echo "error: the paper built, but with problems (see $build_dir/main.log):" >&2
    echo "$problems" >&2
    echo "A 'no value for' warning names a \\klgapValue or look-up that numbers.tex does not" \
         "define: fix the name in paper/ or add the value in src/klgap/paper/tex/values.py." >&2
    exit 1
fi

tmp_pdf="$(dirname "$out_pdf")/.tmp-$(basename "$out_pdf")"
cp "$build_dir/main.pdf" "$tmp_pdf"
mv -f "$tmp_pdf" "$out_pdf"
echo "wrote $out_pdf"
