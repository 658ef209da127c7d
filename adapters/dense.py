"""A single pooled vector per text (the classic dense retriever), optionally truncated."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from polyvec.adapters.base import Adapter, FieldVectors
from polyvec.adapters.quantized import QuantizationConfig, to_quantization
from polyvec.errors import ConfigError
from polyvec.fields import Datatype, Encoded, FieldConfig, VectorField


class DenseConfig(FieldConfig):
    """``type: dense`` — the encoder's pooled vector, cosine similarity.

    Attributes:
        dim: keep only the first ``dim`` dimensions, re-normalised (Matryoshka truncation).
        hnsw: build an HNSW index (worth it past ~100k points); exact scan otherwise.
    """

    type: Literal["dense"] = "dense"
    name: str = "dense"
    dim: int | None = Field(default=None, gt=0)
    datatype: Datatype = "float32"
    hnsw: bool = False
    quantization: QuantizationConfig | None = None


def truncate_and_normalise(pooled: np.ndarray, dim: int | None) -> np.ndarray:
    """First ``dim`` dimensions of each row, L2-normalised again (Matryoshka)."""
    if dim is not None:
        pooled = pooled[:, :dim]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class DenseAdapter(Adapter[DenseConfig]):
    """One cosine-compared vector per text."""

    Config: ClassVar[type[FieldConfig]] = DenseConfig
    needs: ClassVar[frozenset[str]] = frozenset({"pooled"})

    def _size(self) -> int:
        full = self.encoder.dim
        if full is None:
            raise ConfigError(
                f"fields.{self.name}: the encoder {self.encoder.name!r} gives no pooled vector"
            )
        if self.config.dim is not None and self.config.dim > full:
            raise ConfigError(
                f"fields.{self.name}.dim: {self.config.dim} exceeds the encoder's {full} dimensions"
            )
        return self.config.dim or full

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
        assert batch.pooled is not None
        return {self.name: truncate_and_normalise(batch.pooled, self.config.dim).tolist()}

    encode_documents = _vectors
    encode_queries = _vectors
