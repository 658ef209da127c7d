"""Value objects shared by adapters, stores and the pipeline.

An adapter turns encoder output into one or more :class:`VectorField` s (named
vectors of one Qdrant collection). The store creates the collection from them and
the manifest records them, so a collection always remembers how it was built.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

Distance = Literal["cosine", "dot", "euclid"]
Datatype = Literal["float32", "float16", "turbo8", "turbo16"]


class StrictModel(BaseModel):
    """Base for everything a user writes: unknown keys are errors, not silently ignored."""

    # use_attribute_docstrings: a field's docstring is its description in the JSON schema and
    # in docs/reference.md (polyvec.schema), so a key is explained once, beside its code
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class FieldConfig(StrictModel):
    """Common part of every adapter's configuration (one item of ``fields:``).

    Adapters subclass it with ``type: Literal["<name>"]`` and their own parameters.
    """

    type: str
    name: str


@dataclass(frozen=True)
class Quantization:
    """Qdrant-side quantization of a vector field (built by the engine, rescored on query)."""

    kind: Literal["scalar", "binary", "product", "turbo"]
    # scalar: quantile; binary: encoding, query_encoding; product: compression; turbo: bits;
    # all: rescore, oversampling (search-time defaults)
    options: tuple[tuple[str, Any], ...] = ()
    always_ram: bool = True

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class VectorField:
    """One named vector of the collection.

    Attributes:
        name: Qdrant vector name.
        size: dimensions of one vector.
        multivector: a set of vectors per point, compared with MaxSim.
        sparse: a sparse vector (term ids and weights, e.g. BM25); ``size`` is 0.
        modifier: ``idf`` has Qdrant weight a sparse field's terms by their inverse
            document frequency, kept up to date by the engine as documents come and go.
        distance: Qdrant distance; ``dot`` on unit vectors for MaxSim fields.
        datatype: how Qdrant stores the original vectors.
        hnsw: build an HNSW graph (``False``: exact scan, ``m=0``).
        quantization: optional quantized copy kept by Qdrant beside the originals.
        score: how a raw score of this field maps to a relevance in [0, 1]:
            ``cosine`` (already in [-1, 1]), ``maxsim`` (a sum over query vectors: divided
            by their number), ``dot`` (an unbounded inner product: clipped) or ``bm25``
            (a non-negative sum of term weights ``s``: ``s / (1 + s)``).
    """

    name: str
    size: int
    multivector: bool = False
    sparse: bool = False
    modifier: Literal["none", "idf"] = "none"
    distance: Distance = "dot"
    datatype: Datatype = "float32"
    hnsw: bool = False
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    quantization: Quantization | None = None
    score: Literal["cosine", "maxsim", "dot", "bm25"] = "cosine"

    @property
    def kind(self) -> Literal["dense", "multivector", "sparse"]:
        """How Qdrant stores the field: one vector, a set of vectors, or a sparse vector."""
        if self.sparse:
            return "sparse"
        return "multivector" if self.multivector else "dense"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Default of every attribute that has one."""
        return {f.name: f.default for f in dataclass_fields(cls) if f.default is not MISSING}

    def manifest(self) -> dict[str, Any]:
        data = asdict(self)
        if self.quantization is not None:
            data["quantization"] = {
                "kind": self.quantization.kind,
                "always_ram": self.quantization.always_ram,
                **dict(self.quantization.options),
            }
        return data


@dataclass
class Encoded:
    """What an encoder produced for a batch of texts (either part may be absent)."""

    pooled: np.ndarray | None = None  # (n, dim) float32, L2-normalised
    tokens: list[np.ndarray] | None = None  # n arrays of (n_tokens_i, token_dim)
    texts: list[str] | None = None  # the texts themselves, for adapters that read them
    truncated: int = 0  # texts cut at the model's window (their end was not encoded)

    def __len__(self) -> int:
        if self.pooled is not None:
            return len(self.pooled)
        if self.tokens is not None:
            return len(self.tokens)
        return len(self.texts or [])


@dataclass(frozen=True)
class EncoderInfo:
    """What adapters need to know about the encoder to size their fields."""

    name: str
    dim: int | None
    token_dim: int | None
    fingerprint: dict[str, Any] = field(default_factory=dict)
