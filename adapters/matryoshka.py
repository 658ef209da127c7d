"""Matryoshka: one pooled vector stored at several truncation sizes.

Models trained with a Matryoshka loss keep most of their quality in the first dimensions;
truncating (and re-normalising) gives cheap candidate stages, e.g.
``mrl64:1000 -> mrl384:100 -> tokens``. For other models truncation still works, with a
larger loss: measure it on your data (``polyvec eval``/``polyvec tune``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from polyvec.adapter import Adapter, FieldVectors, Need
from polyvec.fields import Datatype, Encoded, FieldConfig, VectorField
from polyvec.quantization import QuantizationConfig, to_quantization
from polyvec.vectors import encoder_size, l2_normalise, require_pooled


class MatryoshkaConfig(FieldConfig):
    """``type: matryoshka`` — fields ``<name><dim>`` for each size in ``dims``.

    Attributes:
        name: the prefix of the fields' names.
        dims: truncation sizes, e.g. ``[64, 128, 384]`` gives ``mrl64``, ``mrl128``, ``mrl384``.
        datatype: storage of the vectors (``float16`` halves the bytes).
        hnsw_dims: sizes that get an HNSW index (the rest are scanned exactly).
        quantization: a quantized copy for every size (see ``polyvec.quantization``).
    """

    type: Literal["matryoshka"] = "matryoshka"
    name: str = "mrl"
    dims: list[int] = Field(min_length=1)
    datatype: Datatype = "float32"
    hnsw_dims: list[int] = Field(default_factory=list)
    quantization: QuantizationConfig | None = None

    @field_validator("dims")
    @classmethod
    def _positive_unique(cls, dims: list[int]) -> list[int]:
        if any(d <= 0 for d in dims) or len(set(dims)) != len(dims):
            raise ValueError(f"dims must be distinct positive sizes, got {dims}")
        return sorted(dims)

    def vector_names(self) -> list[str]:
        return [f"{self.name}{d}" for d in self.dims]


class MatryoshkaAdapter(Adapter[MatryoshkaConfig]):
    """Truncated, re-normalised copies of the pooled vector, one field per size."""

    Config: ClassVar[type[FieldConfig]] = MatryoshkaConfig
    needs: ClassVar[frozenset[Need]] = frozenset({"pooled"})

    def vector_fields(self) -> list[VectorField]:
        encoder_size(self.encoder, "pooled", self.name, self.config.dims)
        return [
            VectorField(
                name=f"{self.name}{d}",
                size=d,
                distance="cosine",
                datatype=self.config.datatype,
                hnsw=d in self.config.hnsw_dims,
                quantization=to_quantization(self.config.quantization),
            )
            for d in self.config.dims
        ]

    def _vectors(self, batch: Encoded) -> FieldVectors:
        pooled = require_pooled(batch.pooled)
        return {f"{self.name}{d}": l2_normalise(pooled, d).tolist() for d in self.config.dims}

    encode_documents = _vectors
    encode_queries = _vectors
