"""A single pooled vector per text (the classic dense retriever), optionally truncated."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from polyvec.adapter import Adapter, FieldVectors, Need
from polyvec.fields import Datatype, Encoded, FieldConfig, VectorField
from polyvec.quantization import QuantizationConfig, to_quantization
from polyvec.vectors import encoder_size, l2_normalise, require_pooled


class DenseConfig(FieldConfig):
    """``type: dense`` — the encoder's pooled vector, cosine similarity.

    Attributes:
        name: the Qdrant vector name.
        dim: keep only the first ``dim`` dimensions, re-normalised (Matryoshka truncation).
        datatype: storage of the vectors (``float16`` halves the bytes, ``turbo8`` quarters
            them).
        hnsw: build an HNSW index (worth it past ~100k points); exact scan otherwise.
        quantization: a quantized copy searched first, rescored with the originals.
    """

    type: Literal["dense"] = "dense"
    name: str = "dense"
    dim: int | None = Field(default=None, gt=0)
    datatype: Datatype = "float32"
    hnsw: bool = False
    quantization: QuantizationConfig | None = None


class DenseAdapter(Adapter[DenseConfig]):
    """One cosine-compared vector per text."""

    Config: ClassVar[type[FieldConfig]] = DenseConfig
    needs: ClassVar[frozenset[Need]] = frozenset({"pooled"})

    def _size(self) -> int:
        wanted = [self.config.dim] if self.config.dim is not None else []
        return self.config.dim or encoder_size(self.encoder, "pooled", self.name, wanted)

    def vector_fields(self) -> list[VectorField]:
        return [
            VectorField(
                name=self.name,
                size=self._size(),
                distance="cosine",
                datatype=self.config.datatype,
                hnsw=self.config.hnsw,
                quantization=to_quantization(self.config.quantization),
            )
        ]

    def _vectors(self, batch: Encoded) -> FieldVectors:
        pooled = require_pooled(batch.pooled)
        return {self.name: l2_normalise(pooled, self.config.dim).tolist()}

    encode_documents = _vectors
    encode_queries = _vectors
