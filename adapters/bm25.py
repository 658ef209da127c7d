"""BM25 over a text's terms, as a sparse vector field that Qdrant weights by IDF."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from polyvec.adapter import Adapter, FieldVectors, Need
from polyvec.bm25 import TOKENIZERS, Bm25Model, Bm25Settings
from polyvec.errors import InvalidInputError
from polyvec.fields import Encoded, FieldConfig, VectorField


class Bm25Config(FieldConfig):
    """``type: bm25`` — lexical matching: Qdrant's BM25 model on the texts themselves.

    Attributes:
        name: the Qdrant vector name.
        k, b: BM25's term-frequency saturation and length normalisation.
        avg_len: the average document length (in terms) the normalisation assumes.
        tokenizer: ``word`` (default), ``whitespace``, ``prefix``, ``multilingual``, ``code``.
        language: stopwords and stemming of this language (default ``english``;
            ``null``: neither).
        stemmer: a Snowball stemmer language overriding the language's.
        stopwords: extra words to ignore.
        lowercase: lowercase terms before matching.
        ascii_folding: fold accented letters to ASCII (``é`` matches ``e``).
        min_token_len, max_token_len: drop terms shorter or longer than this many
            characters (default: keep all).
    """

    type: Literal["bm25"] = "bm25"
    name: str = "bm25"
    k: float = Field(default=1.2, gt=0)
    b: float = Field(default=0.75, ge=0, le=1)
    avg_len: float = Field(default=256.0, gt=0)
    tokenizer: Literal[tuple(TOKENIZERS)] = "word"  # type: ignore[valid-type]
    language: str | None = "english"
    stemmer: str | None = None
    stopwords: tuple[str, ...] = ()
    lowercase: bool = True
    ascii_folding: bool = False
    min_token_len: int | None = Field(default=None, gt=0)
    max_token_len: int | None = Field(default=None, gt=0)


class Bm25Adapter(Adapter[Bm25Config]):
    """One sparse vector per text; its IDF comes from the collection (Qdrant's modifier)."""

    Config: ClassVar[type[FieldConfig]] = Bm25Config
    needs: ClassVar[frozenset[Need]] = frozenset({"texts"})

    def __init__(self, config: Bm25Config, encoder: object) -> None:
        super().__init__(config, encoder)  # type: ignore[arg-type]
        settings = config.model_dump(exclude={"type", "name"})
        self.model = Bm25Model(Bm25Settings(**settings))

    def vector_fields(self) -> list[VectorField]:
        return [VectorField(name=self.name, size=0, sparse=True, modifier="idf", score="bm25")]

    def _texts(self, batch: Encoded) -> list[str]:
        if batch.texts is None:
            raise InvalidInputError("bm25: the batch carries no texts")
        return batch.texts

    def encode_documents(self, batch: Encoded) -> FieldVectors:
        return {self.name: list(self.model.documents(self._texts(batch)))}

    def encode_queries(self, batch: Encoded) -> FieldVectors:
        return {self.name: list(self.model.queries(self._texts(batch)))}
