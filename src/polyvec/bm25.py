"""Qdrant's own BM25 model: sparse vectors of a text's terms, computed in-process.

``qdrant_edge.Bm25`` is the tokenizer, stemmer and stopword list of Qdrant's full-text
index, and the term-frequency weighting of Qdrant's BM25 (documents) and unit weights
(queries); the IDF factor is applied by the engine through the field's ``idf`` modifier, so
it follows the collection as documents come and go. polyvec computes the vectors here for
every store, Edge and server alike, so one collection holds the same sparse vectors
wherever it lives; nothing is tokenised or stemmed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import qdrant_edge as qe
from qdrant_client import models

from polyvec.errors import ConfigError

TOKENIZERS = {
    "word": qe.TokenizerType.Word,
    "whitespace": qe.TokenizerType.Whitespace,
    "prefix": qe.TokenizerType.Prefix,
    "multilingual": qe.TokenizerType.Multilingual,
    "code": qe.TokenizerType.Code,
}


@dataclass(frozen=True)
class Bm25Settings:
    """The settings of the model (see ``type: bm25`` in the configuration docs)."""

    k: float = 1.2
    b: float = 0.75
    avg_len: float = 256.0
    tokenizer: str = "word"
    language: str | None = "english"
    stemmer: str | None = None
    stopwords: tuple[str, ...] = ()
    lowercase: bool = True
    ascii_folding: bool = False
    min_token_len: int | None = None
    max_token_len: int | None = None


class Bm25Model:
    """Sparse BM25 vectors of documents and queries, as ``models.SparseVector``."""

    def __init__(self, settings: Bm25Settings) -> None:
        options: dict[str, Any] = {
            "k": settings.k,
            "b": settings.b,
            "avg_len": settings.avg_len,
            "tokenizer": TOKENIZERS[settings.tokenizer],
            "language": settings.language,
            "lowercase": settings.lowercase,
            "ascii_folding": settings.ascii_folding,
            "min_token_len": settings.min_token_len,
            "max_token_len": settings.max_token_len,
        }
        if settings.stemmer is not None:
            options["stemmer"] = qe.SnowballParams(_snowball(settings.stemmer))
        if settings.stopwords:
            options["stopwords"] = qe.StopwordsSet(custom=set(settings.stopwords))
        try:
            self._model = qe.Bm25(qe.Bm25Config(**options))
        except Exception as err:  # the engine's own words: an unknown language, ...
            raise ConfigError(f"bm25: Qdrant's BM25 refused these settings: {err}") from err

    def documents(self, texts: Sequence[str]) -> list[models.SparseVector]:
        return [_sparse(self._model.embed_document(t)) for t in texts]

    def queries(self, texts: Sequence[str]) -> list[models.SparseVector]:
        return [_sparse(self._model.embed_query(t)) for t in texts]


def _snowball(name: str) -> Any:
    for language in dir(qe.SnowballLanguage):
        if language.lower() == name.lower():
            return getattr(qe.SnowballLanguage, language)
    known = sorted(n.lower() for n in dir(qe.SnowballLanguage) if not n.startswith("_"))
    raise ConfigError(f"bm25.stemmer: {name!r} is not a Snowball language; use one of {known}")


def _sparse(vector: Any) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))
