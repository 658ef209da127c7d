"""Late interaction (ColBERT-style): one vector per token, scored by MaxSim in Qdrant."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from polyvec.adapters.base import Adapter, FieldVectors
from polyvec.errors import ConfigError, InvalidInputError
from polyvec.fields import Datatype, Encoded, FieldConfig, VectorField


class LateInteractionConfig(FieldConfig):
    """``type: late_interaction`` — a multivector field compared with MaxSim.

    Attributes:
        name: the Qdrant vector name.
        datatype: storage of the token vectors (``float16`` halves the bytes).
    """

    type: Literal["late_interaction"] = "late_interaction"
    name: str = "tokens"
    datatype: Datatype = "float32"
    pool_factor: int = Field(default=1, ge=1, le=8)


def check_token_sets(token_sets: list[np.ndarray]) -> None:
    """Qdrant rejects an empty multivector: say which text caused it."""
    for position, tokens in enumerate(token_sets):
        if len(tokens) == 0:
            raise InvalidInputError(
                f"text #{position} of the batch encoded to no token vectors; "
                "give it some text (empty strings are kept only by encoders that add "
                "special tokens)"
            )


class LateInteractionAdapter(Adapter[LateInteractionConfig]):
    """Stores token vectors as a multivector field; no HNSW (exact MaxSim scan)."""

    Config: ClassVar[type[FieldConfig]] = LateInteractionConfig
    needs: ClassVar[frozenset[str]] = frozenset({"tokens"})

    def vector_fields(self) -> list[VectorField]:
        if self.encoder.token_dim is None:
            raise ConfigError(
                f"fields.{self.name}: the encoder {self.encoder.name!r} gives no token vectors"
            )
        return [
            VectorField(
                name=self.name,
                size=self.encoder.token_dim,
                multivector=True,
                distance="dot",
                datatype=self.config.datatype,
                hnsw=False,  # multivector HNSW is very slow to build; use FDE for candidates
                score="maxsim",
            )
        ]

    def document_token_sets(self, batch: Encoded) -> list[np.ndarray]:
        """Token vectors of a document batch, after pooling when configured."""
        assert batch.tokens is not None
        check_token_sets(batch.tokens)
        return batch.tokens

    def encode_documents(self, batch: Encoded) -> FieldVectors:
        return {self.name: [t.tolist() for t in self.document_token_sets(batch)]}

    def encode_queries(self, batch: Encoded) -> FieldVectors:
        assert batch.tokens is not None
        check_token_sets(batch.tokens)
        return {self.name: [t.tolist() for t in batch.tokens]}
