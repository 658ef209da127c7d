#!/usr/bin/env bash
# Every SciFact figure of issues #2, #3 and #5 in one go (about an hour on 2 cores):
# the CLI evaluation (exact MaxSim and dense), the FDE plans, the compression table.
# The CLI run encodes the corpus once; its stored vectors then seed the encoding cache
# that the other two benchmarks build their collections from.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
bash benchmarks/scifact_quality.sh | tee benchmarks/results/scifact_quality.txt
python benchmarks/embedding_cache.py benchmarks/configs/scifact.yaml ../shared/data/scifact benchmarks/.cache/scifact-bundled
python benchmarks/fde_scifact.py | tee benchmarks/results/fde_scifact.txt
python benchmarks/compression.py | tee benchmarks/results/compression.txt
