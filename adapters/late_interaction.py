"""Late interaction (ColBERT-style): one vector per token, scored by MaxSim in Qdrant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from polyvec.adapter import Adapter, FieldVectors, Need
from polyvec.fields import Datatype, Encoded, FieldConfig, VectorField
from polyvec.quantization import QuantizationConfig, to_quantization
from polyvec.vectors import check_token_sets, encoder_size


class LateInteractionConfig(FieldConfig):
    """``type: late_interaction`` — a multivector field compared with MaxSim.

    Attributes:
        name: the Qdrant vector name.
        datatype: storage of the token vectors (``float16`` halves the bytes, ``turbo8``
            quarters them).
        pool_factor: hierarchical token pooling of *documents* (queries are untouched):
            keep about ``1 / pool_factor`` of each document's vectors. 1 disables it.
        protected_tokens: leading tokens never merged (the ``[CLS]`` vector).
        quantization: a quantized copy searched first, rescored with the originals.
    """

    type: Literal["late_interaction"] = "late_interaction"
    name: str = "tokens"
    datatype: Datatype = "float32"
    pool_factor: float = Field(default=1.0, ge=1.0, le=8.0)
    protected_tokens: int = Field(default=1, ge=0)
    quantization: QuantizationConfig | None = None


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` intra-op threads, then restore.

    Pooling is a long series of tiny ops (a 250x250 matmul, a scatter per document); with
    several threads their synchronisation costs more than the work — measured here: 6 ms
    per document on one thread against 190 ms with two threads on a busy 2-core machine.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def pool_token_sets(
    token_sets: list[np.ndarray], pool_factor: float, protected_tokens: int = 1
) -> list[np.ndarray]:
    """Hierarchical (Ward) token pooling, as sentence-transformers implements it.

    Each document keeps its first ``protected_tokens`` vectors and clusters the rest into
    ``n // pool_factor`` groups replaced by their means; outputs are L2-normalised.
    """
    if pool_factor <= 1:
        return token_sets
    import torch
    from sentence_transformers.multi_vector_encoder.modules.token_pooling import (
        HierarchicalTokenPooling,
    )

    pooler = HierarchicalTokenPooling(
        pool_factor, num_protected_tokens=protected_tokens, normalize_embeddings=True
    )
    with _torch_threads(1):
        # np.require copies only arrays torch cannot share (read-only or non-contiguous)
        pooled = pooler.pool(
            [torch.from_numpy(np.require(t, requirements=["C", "W"])) for t in token_sets]
        )
    return [p.numpy() for p in pooled]


class LateInteractionAdapter(Adapter[LateInteractionConfig]):
    """Stores token vectors as a multivector field; no HNSW (exact MaxSim scan)."""

    Config: ClassVar[type[FieldConfig]] = LateInteractionConfig
    needs: ClassVar[frozenset[Need]] = frozenset({"tokens"})

    def vector_fields(self) -> list[VectorField]:
        return [
            VectorField(
                name=self.name,
                size=encoder_size(self.encoder, "tokens", self.name),
                multivector=True,
                distance="dot",
                datatype=self.config.datatype,
                hnsw=False,  # multivector HNSW is very slow to build; use FDE for candidates
                quantization=to_quantization(self.config.quantization),
                score="maxsim",
            )
        ]

    def document_token_sets(self, batch: Encoded) -> list[np.ndarray]:
        """Token vectors of a document batch, after pooling when configured."""
        tokens = check_token_sets(batch.tokens, "document")
        return pool_token_sets(tokens, self.config.pool_factor, self.config.protected_tokens)

    def encode_documents(self, batch: Encoded) -> FieldVectors:
        return {self.name: [t.tolist() for t in self.document_token_sets(batch)]}

    def encode_queries(self, batch: Encoded) -> FieldVectors:
        return {self.name: [t.tolist() for t in check_token_sets(batch.tokens, "query")]}
