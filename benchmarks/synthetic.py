"""The scaling curve's synthetic corpus (``scaling.py``, ``scaling_warp.py``): numpy only, so
it runs where polyvec is not installed (a peer's venv, a machine lent for one build).

A document's text (``doc <i>``, or ``topic <q> <rank>`` for a planted near-duplicate) fixes
its 64 unit token vectors of 128 dimensions (the same vectors on every run and machine). For
each of ``queries`` topics, ``planted`` documents are the topic's vectors plus Gaussian noise
growing with rank, so the exact MaxSim top 10 is well defined; a query (``topic <q>``) is 32
of its topic's vectors plus noise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

TOKENS, DIM, QUERY_TOKENS = 64, 128, 32
QUERIES, PLANTED, NOISE = 30, 10, 0.03  # the defaults: topics, documents each, noise


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _rng(text: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed)


def token_vectors(text: str, is_query: bool, noise: float) -> np.ndarray:
    """The unit token vectors of one text: random for ``doc <i>``, a topic's vectors plus
    noise for ``topic <q> <rank>`` (documents) and ``topic <q>`` (the query)."""
    words = text.split()
    if words[0] != "topic":
        return unit(_rng(text).standard_normal((TOKENS, DIM)))
    topic = unit(_rng(f"topic {words[1]}").standard_normal((TOKENS, DIM)))
    jitter = _rng(text).standard_normal(topic.shape)
    if is_query:
        return unit(topic[:QUERY_TOKENS] + noise * jitter[:QUERY_TOKENS])
    rank = int(words[2])
    return unit(topic + noise * (1 + rank / 10) * jitter)


@dataclass(frozen=True)
class SyntheticCorpus:
    """``size`` documents, the planted ones spread evenly through it; re-iterable."""

    size: int
    queries: int
    planted: int

    def __iter__(self) -> Iterator[dict[str, str]]:
        step = self.size // (self.queries * self.planted)
        planted = {
            (q * self.planted + r) * step: f"topic {q} {r}"
            for q in range(self.queries)
            for r in range(self.planted)
        }
        for i in range(self.size):
            yield {"id": f"d{i}", "text": planted.get(i, f"doc {i}")}


def encode_all(
    texts: list[str], is_query: bool, noise: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pooled vectors (the unit mean token vector) and token vectors (views of one float32
    array) of ``texts``, written into arrays allocated once: per-text float64 temporaries
    are small enough to live on the malloc heap, which keeps their pages after they are
    freed, so gathering 200k documents' arrays first left a process holding gigabytes while
    WARP's build ran beside it (and the 2-core box ran out of memory)."""
    rows = QUERY_TOKENS if is_query else TOKENS
    flat = np.empty((len(texts) * rows, DIM), np.float32)
    pooled = np.empty((len(texts), DIM), np.float32)
    for i, text in enumerate(texts):
        tokens = token_vectors(text, is_query, noise)
        flat[i * rows : (i + 1) * rows] = tokens
        pooled[i] = unit(tokens.mean(axis=0))
    return pooled, [flat[i * rows : (i + 1) * rows] for i in range(len(texts))]
