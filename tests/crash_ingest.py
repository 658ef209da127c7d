"""Ingest a fixed set of documents into an Edge store, resuming what is already stored.

Run by tests/test_crash.py, which kills it with SIGKILL at random points and runs it again.
Prints one line when done: ``done <written> <skipped>``.

    python tests/crash_ingest.py STORE_PATH N_DOCS
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from polyvec import Pipeline

FIELDS = [{"type": "late_interaction", "name": "tokens"}, {"type": "dense", "name": "dense"}]


def documents(n: int) -> list[dict[str, object]]:
    topics = ["vectors", "cats", "rust", "tokens", "search", "weather", "music"]
    return [
        {
            "id": f"doc-{i}",
            "text": f"Document {i} is about {topics[i % 7]} and {topics[(i * 3) % 7]}.",
            "metadata": {"n": i},
        }
        for i in range(n)
    ]


def main() -> None:
    path, n = sys.argv[1], int(sys.argv[2])
    config = {"fields": FIELDS, "store": {"type": "edge", "path": path, "collection": "crash"}}
    with Pipeline.from_config(config) as pipeline:
        docs = documents(n)
        pipeline.ingest(docs, batch_size=4, skip_unchanged=True)
        print(f"done {n - pipeline.last_ingest_skipped} {pipeline.last_ingest_skipped}", flush=True)


if __name__ == "__main__":
    main()
