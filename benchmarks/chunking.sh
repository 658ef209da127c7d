#!/usr/bin/env bash
# Issue #9: documents longer than the encoder's window, split into overlapping passages (the
# default, a document ranked by its best passage) or cut at the window (chunking.mode:
# truncate), measured through `polyvec eval` with the bundled model, exact MaxSim (tokens)
# and dense, on BEIR folders. Each run prints nDCG@10, Recall@100, MRR@10 and latency;
# /usr/bin/time reports the process's peak RSS (real encoder, whole pipeline).
#
#   bash benchmarks/chunking.sh [med cranfield ...]     (default: med cranfield; scifact ~25 min)
#   MODES=split bash benchmarks/chunking.sh scifact     (one mode only)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(med cranfield)
for name in "${NAMES[@]}"; do
    for mode in ${MODES:-split truncate}; do
      cat > "$WORK/$name-$mode.yaml" <<YAML
fields:
  - {type: late_interaction, name: tokens}
  - {type: dense, name: dense}
chunking: {mode: $mode}
store: {type: edge, path: $WORK/store, collection: $name-$mode}
YAML
      echo "== $name, chunking.mode: $mode"
      /usr/bin/time -f "peak RSS %M KB, %e s wall" \
        polyvec eval "$DATA/$name" -c "$WORK/$name-$mode.yaml" --plan tokens --plan dense
    done
done
