"""Bytes per document, per field, counted honestly from what the collection stores.

For each field: the original vectors (size x vectors per document x datatype bytes), the
quantized copy kept beside them, and the HNSW links where an index is built (a sparse
field: its entries, in the vector storage and the inverted index); plus the
payload (text and metadata). Vectors per document of a multivector field are measured on a
sample of stored points (token pooling changes them). These are the bytes of the data
itself; the engine's files on disk also hold pre-allocated space (WAL, segment headroom),
which ``disk_bytes`` reports separately.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from polyvec.fields import VectorField
from polyvec.quantization import DATATYPE_BYTES, quantized_bytes_per_dimension
from polyvec.store.base import Store

HNSW_LINK_BYTES = 4  # one u32 point id per link on level 0, 2*m links per point
# a sparse entry: a u32 term id and an f32 weight, kept in the vector storage and again in
# the field's inverted index (a posting: point offset and weight)
SPARSE_ENTRY_BYTES = 8


def field_bytes(field: VectorField, vectors_per_doc: float) -> dict[str, float]:
    """Bytes per document of one field: ``vectors``, ``quantized``, ``index`` and ``total``.

    ``vectors_per_doc`` counts a multivector field's vectors, a sparse field's entries."""
    if field.sparse:
        entries = vectors_per_doc * SPARSE_ENTRY_BYTES
        return {
            "vectors_per_doc": vectors_per_doc,
            "vectors": entries,
            "quantized": 0.0,
            "index": entries,
            "total": 2 * entries,
        }
    original = vectors_per_doc * field.size * DATATYPE_BYTES[field.datatype]
    quantized = (
        vectors_per_doc * field.size * quantized_bytes_per_dimension(field.quantization)
        if field.quantization is not None
        else 0.0
    )
    index = vectors_per_doc * 2 * field.hnsw_m * HNSW_LINK_BYTES if field.hnsw else 0.0
    return {
        "vectors_per_doc": vectors_per_doc,
        "vectors": original,
        "quantized": quantized,
        "index": index,
        "total": original + quantized + index,
    }


def bytes_per_document(
    store: Store, fields: dict[str, VectorField], sample: int = 256
) -> dict[str, Any]:
    """Per-field and total bytes per document, measured on up to ``sample`` stored points."""
    points = store.sample(sample)
    if not points:
        return {}
    report: dict[str, Any] = {}
    for name, field in fields.items():
        if field.multivector or field.sparse:
            counts = [_entries(v[name]) for _, v in points if name in v]
            per_doc = statistics.mean(counts) if counts else 0.0
        else:
            per_doc = 1.0
        report[name] = field_bytes(field, per_doc)
    report["payload"] = {
        "total": statistics.mean(len(json.dumps(p, ensure_ascii=False).encode()) for p, _ in points)
    }
    report["total"] = sum(r["total"] for r in report.values())
    return report


def _entries(vector: Any) -> int:
    """Vectors of a multivector, entries of a sparse vector (any engine's type)."""
    indices = getattr(vector, "indices", None)
    return len(indices) if indices is not None else len(vector)
