#!/bin/sh
# The image's install steps, in one place: deploy/Dockerfile runs them, and so does
# tests/test_image_install.py, in a clean venv (no container daemon runs on CI).
#
#   deploy/install-labkit.sh PYTHON PREFIX WHEEL NOTEBOOKS DEST
#
# makes a venv at PREFIX with PYTHON, installs labkit from WHEEL (not editable, pinned to the
# wheel's version) with the hub extra: JupyterLab, widgets and plots (the lab extra), the
# single-user server a hub spawns and nbgitpuller; no test packages. Then copies the notebooks
# from NOTEBOOKS to DEST. Both stay root's: students read and run them, never change them.
set -eu
python=$1 prefix=$2 wheel=$3 notebooks=$4 dest=$5

version=$(basename "$wheel" | cut -d- -f2)   # labkit-0.1.0-py3-none-any.whl -> 0.1.0
"$python" -m venv "$prefix"
"$prefix/bin/python" -m pip install --quiet --no-input --find-links "$(dirname "$wheel")" "labkit[hub]==$version"

mkdir -p "$dest"
cp "$notebooks"/[0-9][0-9]-*.ipynb "$dest/"
chmod -R u+rwX,go+rX,go-w "$prefix" "$dest"
