#!/usr/bin/env bash
# Issue #2 acceptance: exact MaxSim (late interaction) and the pooled dense baseline on
# SciFact with the bundled model, through the CLI. Reference (../shared/data/README.md):
# MaxSim nDCG@10 0.7072, dense 0.6451. First run encodes the corpus (~8-10 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/scifact}
exec polyvec eval "$DATA" -c benchmarks/configs/scifact.yaml --plan tokens --plan dense "$@"
