"""Ingest a few documents into an embedded Qdrant Edge store and search them three ways.

Runs offline with the bundled model: python examples/quickstart.py
"""

from __future__ import annotations

import tempfile

from polyvec import Pipeline

DOCS = [
    {
        "id": "qdrant",
        "text": "Qdrant is a vector database; it stores multivectors and scores them with MaxSim.",
        "metadata": {"topic": "db"},
    },
    {
        "id": "colbert",
        "text": "ColBERT keeps one vector per token and matches each query token to its best document token.",
        "metadata": {"topic": "ir"},
    },
    {
        "id": "muvera",
        "text": "MUVERA turns a set of token vectors into one fixed-dimensional encoding.",
        "metadata": {"topic": "ir"},
    },
    {"id": "cats", "text": "Cats sleep for most of the day.", "metadata": {"topic": "pets"}},
]

with (
    tempfile.TemporaryDirectory() as folder,
    Pipeline.from_config(
        {
            "fields": [
                {"type": "late_interaction", "name": "tokens"},
                {"type": "dense", "name": "dense"},
            ],
            "store": {"type": "edge", "path": folder},
        }
    ) as pipeline,
):
    pipeline.ingest(DOCS)
    query = "how does late interaction match tokens?"
    for plan in ["tokens", "dense", "dense:3 -> tokens"]:
        hits = pipeline.search(query, k=2, plan=plan)
        print(f"{plan:>18}: " + ", ".join(f"{h.id} ({h.score:.3f})" for h in hits))
    only_ir = pipeline.search(query, k=5, filter={"topic": "ir"})
    print("filtered to topic=ir:", [h.id for h in only_ir])
