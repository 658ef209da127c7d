#!/usr/bin/env bash
# Check the import-linter contracts in pyproject.toml. polyvec's sources live in three
# folders mapped into one package (src/polyvec, adapters/ -> polyvec.adapters, plugins/ ->
# polyvec.plugins); import-linter reads a package from one folder, so the three are
# assembled, as the wheel does, in a temporary folder first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -r src/polyvec "$staging/polyvec"
cp -r adapters "$staging/polyvec/adapters"
cp -r plugins "$staging/polyvec/plugins"
PYTHONPATH="$staging" "$BIN/lint-imports" --config pyproject.toml --no-cache
