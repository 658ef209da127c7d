"""The contract every adapter fulfils."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Literal, TypeVar

from polyvec.fields import Encoded, EncoderInfo, FieldConfig, VectorField

ConfigT = TypeVar("ConfigT", bound=FieldConfig)
Need = Literal["pooled", "tokens", "texts"]

# One entry per document (or query): a dense vector as a list, or a list of vectors.
FieldVectors = dict[str, list[Any]]


class Adapter(ABC, Generic[ConfigT]):
    """Turns encoder output into the vectors of one or more named fields.

    Subclasses set ``Config`` (their pydantic config model) and ``needs``: what they read
    of a batch, ``"pooled"`` and ``"tokens"`` (the encoder's outputs; the encoder runs only
    if an adapter needs one) and ``"texts"`` (the texts themselves, e.g. for BM25).
    """

    Config: ClassVar[type[FieldConfig]]
    needs: ClassVar[frozenset[Need]]

    def __init__(self, config: ConfigT, encoder: EncoderInfo) -> None:
        self.config = config
        self.encoder = encoder

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    def vector_fields(self) -> list[VectorField]:
        """The named vectors this adapter stores."""

    @abstractmethod
    def encode_documents(self, batch: Encoded) -> FieldVectors:
        """Vectors of each field for a batch of documents, as plain lists."""

    @abstractmethod
    def encode_queries(self, batch: Encoded) -> FieldVectors:
        """Vectors of each field for a batch of queries, as plain lists."""

    def manifest(self) -> dict[str, Any]:
        """Everything a later query needs to reproduce this adapter's vectors."""
        return self.config.model_dump(mode="json")

    def defaults(self) -> dict[str, Any]:
        """The default of every config setting that has one, as the manifest records it."""
        return {
            name: info.get_default(call_default_factory=True)
            for name, info in type(self.config).model_fields.items()
            if not info.is_required()
        }
