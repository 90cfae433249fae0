#!/usr/bin/env bash
# Installs the system packages that the paper build needs, where they are missing:
# LaTeX (latexmk, pdflatex, bibtex), pdfinfo (tests), and the Fashion-MNIST IDX files.
# Also Debian's pythonX.Y-venv when the chosen Python cannot create virtual environments.
# With --slurm (used by `make test`), also Slurm and MUNGE, for the one-node Slurm test
# (scripts/slurm-local.sh); Debian's packages do not start a usable cluster by themselves.
# On Debian/Ubuntu it uses apt-get (with sudo unless root); elsewhere it says what to install.
set -euo pipefail

packages=(latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra
          texlive-fonts-recommended poppler-utils dataset-fashion-mnist)
tools=(latexmk pdflatex bibtex pdfinfo)
case ${1:-} in
    --slurm)
        packages+=(munge slurmctld slurmd slurm-client)
        tools+=(munged slurmctld slurmd sbatch)
        ;;
    "") ;;
    *) echo "usage: $0 [--slurm]" >&2; exit 2 ;;
esac

if command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then
    missing=()
    for package in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || missing+=("$package")
    done
    # Debian's Python needs its venv package for 'python3.11 -m venv'
    python=${PYTHON:-python3.11}
    if ! command -v "$python" >/dev/null; then
        missing+=("$(basename "$python")" "$(basename "$python")-venv")
    elif ! "$python" -c "import ensurepip" 2>/dev/null; then
        missing+=("$(basename "$python")-venv")
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        exit 0
    fi
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo=(sudo)
    fi
    echo "Installing from Debian: ${missing[*]}"
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
    exit 0
fi

missing=()
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    cat >&2 <<MESSAGE
error: ${missing[*]} not found, and this system has no apt-get. Please install:
  - TeX Live with latexmk, pdflatex and bibtex, and the LaTeX packages geometry, amsmath,
    booktabs, graphicx, natbib, hyperref (e.g. MacTeX, or TeX Live's scheme-medium);
  - poppler (for pdfinfo), e.g. 'brew install poppler';
  - with --slurm (for the tests): Slurm (slurmctld, slurmd, sbatch) and MUNGE (munged).
For the fashion_mnist dataset, download its four IDX files (train/t10k images and labels,
.gz) into a directory and pass --config data_dir=that/directory.
MESSAGE
    exit 1
fi
