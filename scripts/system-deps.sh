#!/usr/bin/env bash
# Checks the system tools the paper build and the tests need, and installs the missing ones.
#
#   scripts/system-deps.sh [--test] [--slurm] [--check]
#
# It looks for the tools themselves (command -v, kpsewhich, file paths), not for Debian packages,
# so tools installed any other way (TeX Live from tug.org, a site's Slurm) count as present:
#   - always: LaTeX for the paper (latexmk, pdflatex, bibtex and the LaTeX files paper/main.tex
#     uses), the chosen Python's venv module (PYTHON, from the Makefile), and, optionally,
#     pdfinfo and Debian's Fashion-MNIST IDX files (without them, `klgap prepare` downloads the
#     files);
#   - with --test (make test): pdfinfo becomes required (the end-to-end tests read the PDF);
#   - with --slurm (make test when the slow tests run): Slurm and MUNGE (munged, mungekey,
#     slurmctld, slurmd, sbatch, sinfo, sacct) for the one-node Slurm test
#     (scripts/slurm-local.sh); Debian's packages do not start a usable cluster by themselves.
# Only for what is missing does it ask apt-get for the packages that provide it (with sudo unless
# root). With --check, or SYSTEM_DEPS=skip in the environment (make ... SYSTEM_DEPS=skip), or on a
# system without apt-get, it installs nothing: it lists what is missing and how to get it. It
# exits non-zero only when something required is missing (at the end).
set -euo pipefail

usage() { echo "usage: $0 [--test] [--slurm] [--check]" >&2; exit 2; }
test_tools=false slurm=false install=true
for arg in "$@"; do
    case $arg in
        --test) test_tools=true ;;
        --slurm) slurm=true ;;
        --check) install=false ;;
        *) usage ;;
    esac
done
case ${SYSTEM_DEPS:-install} in
    skip) install=false ;;
    install) ;;
    *) echo "error: SYSTEM_DEPS=${SYSTEM_DEPS} is not 'install' or 'skip'" >&2; exit 2 ;;
esac

# One entry per missing thing: its description, the Debian package that provides it, and
# whether it is required here (else optional). Filled by the checks below.
missing_what=() missing_package=() missing_required=()
missing() { missing_what+=("$1"); missing_package+=("$2"); missing_required+=("$3"); }

# The LaTeX files paper/main.tex loads (\usepackage, \bibliographystyle, the Times fonts of
# mathptmx), with the Debian package of each; checked with kpsewhich once pdflatex is there.
latex_files=(geometry.sty:texlive-latex-base amsmath.sty:texlive-latex-base
             amssymb.sty:texlive-latex-base graphicx.sty:texlive-latex-base
             natbib.sty:texlive-latex-base hyperref.sty:texlive-latex-base
             mathptmx.sty:texlive-latex-base plainnat.bst:texlive-latex-base
             booktabs.sty:texlive-latex-recommended xcolor.sty:texlive-latex-recommended
             ptmr8t.tfm:texlive-fonts-recommended)
# Without pdflatex, the whole set that build_paper.sh names.
latex_packages="texlive-latex-base texlive-latex-recommended texlive-latex-extra"
latex_packages+=" texlive-fonts-recommended"
# The IDX files of Debian's dataset-fashion-mnist, where klgap.data looks for them.
fashion_dir=/usr/share/datasets/fashion-mnist
fashion_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz
               t10k-labels-idx1-ubyte.gz)

check() {
    missing_what=() missing_package=() missing_required=()
    local spec file package tool python version
    command -v latexmk >/dev/null || missing "latexmk" latexmk required
    if ! command -v pdflatex >/dev/null || ! command -v bibtex >/dev/null; then
        missing "LaTeX (pdflatex, bibtex)" "$latex_packages" required
    elif command -v kpsewhich >/dev/null; then
        for spec in "${latex_files[@]}"; do
            file=${spec%%:*} package=${spec#*:}
            [[ -n $(kpsewhich "$file" 2>/dev/null) ]] || missing "LaTeX file $file" "$package" required
        done
    fi
    command -v pdfinfo >/dev/null ||
        missing "pdfinfo (for the tests)" poppler-utils "$($test_tools && echo required || echo optional)"
    for file in "${fashion_files[@]}"; do
        if [[ ! -f $fashion_dir/$file ]]; then
            missing "Fashion-MNIST IDX files in $fashion_dir (else downloaded when used)" \
                dataset-fashion-mnist optional
            break
        fi
    done
    if $slurm; then
        for spec in munged:munge mungekey:munge slurmctld:slurmctld slurmd:slurmd \
                    sbatch:slurm-client sinfo:slurm-client sacct:slurm-client; do
            tool=${spec%%:*} package=${spec#*:}
            command -v "$tool" >/dev/null || missing "$tool (Slurm test)" "$package" required
        done
    fi
    # The Python that makes .venv needs its venv module (Debian ships it as pythonX.Y-venv);
    # an existing virtual environment needs nothing. No Python, or one that does not run, is
    # the Makefile's error (it names what to install).
    python=${PYTHON:-}
    if [[ -n $python ]] && version=$("$python" -c \
            'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(sys.prefix != sys.base_prefix)' \
            2>/dev/null) && ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
        missing "the venv module of $python" "python$version-venv" required
    fi
}

# Prints the missing things, each with its package; returns 1 if one of them is required.
report() {
    local i need=0
    for i in "${!missing_what[@]}"; do
        printf '  - %-9s %s  (Debian/Ubuntu: %s)\n' "${missing_required[$i]}:" \
            "${missing_what[$i]}" "${missing_package[$i]}" >&2
        [[ ${missing_required[$i]} == optional ]] || need=1
    done
    return $need
}

check
[[ ${#missing_what[@]} -eq 0 ]] && exit 0

if $install && command -v apt-get >/dev/null; then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "error: system packages are missing and this is not root, without sudo:" >&2
            report || true
            echo "Install them as root, or run with SYSTEM_DEPS=skip to go on without the" \
                "optional ones." >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    echo "Missing here:"
    report 2>&1 || true
    "${sudo[@]}" apt-get update || echo "warning: apt-get update failed; trying the package" \
        "lists this system has" >&2
    # Unique package names, in order (several missing files can come from one package), and only
    # those apt knows: one unknown name (e.g. a dataset package another distribution lacks) would
    # make apt-get install nothing at all.
    packages=() unknown=()
    for entry in "${missing_package[@]}"; do
        for package in $entry; do
            [[ " ${packages[*]} ${unknown[*]} " == *" $package "* ]] && continue
            if apt-cache show --no-all-versions "$package" >/dev/null 2>&1; then
                packages+=("$package")
            else
                unknown+=("$package")
            fi
        done
    done
    [[ ${#unknown[@]} -eq 0 ]] || echo "warning: apt has no package ${unknown[*]}" >&2
    if [[ ${#packages[@]} -gt 0 ]]; then
        echo "Installing from apt: ${packages[*]}"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${packages[@]}" ||
            echo "warning: apt-get install failed (see above)" >&2
    fi
    check
    [[ ${#missing_what[@]} -eq 0 ]] && exit 0
    if report 2>/dev/null; then
        echo "note: still missing, optional:" >&2
        report || true
        exit 0
    fi
    echo "error: still missing after trying apt-get; install by hand:" >&2
    report || true
    exit 1
fi

if $install; then
    reason="this system has no apt-get"
else
    reason="installing system packages is switched off (SYSTEM_DEPS=skip or --check)"
fi
if report 2>/dev/null; then
    echo "note: $reason; these optional tools are missing:" >&2
    report || true
    exit 0
fi
echo "error: $reason, and something required is missing. Please install:" >&2
report || true
cat >&2 <<MESSAGE
Elsewhere than Debian/Ubuntu: TeX Live with latexmk, pdflatex and bibtex and the LaTeX packages
geometry, amsmath, amsfonts, booktabs, graphics, natbib, hyperref, xcolor, psnfss with the Times
fonts (e.g. MacTeX, or TeX Live's scheme-medium); poppler for pdfinfo (e.g. 'brew install
poppler'); for the Slurm test, Slurm (slurmctld, slurmd, sbatch, sinfo, sacct) and MUNGE.
For the fashion_mnist dataset without Debian's package, nothing is needed: 'klgap prepare'
downloads its four IDX files (or pass --config data_dir=a/directory/with/them).
MESSAGE
exit 1
