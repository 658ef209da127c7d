"""An on-disk cache of document encodings, so benchmarks that build many variants of a
collection encode the corpus once (the encoder is ~12 docs/s on 2 cores).

``CachedEncoder`` wraps a real encoder: document-side outputs (pooled and token vectors,
float32, exactly what the encoder returned) are looked up by a hash of the text and
computed by the wrapped encoder when missing; queries always go to the wrapped encoder.
Its fingerprint is the wrapped encoder's, so collections record the real model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyvec.encoders import Encoder
from polyvec.fields import Encoded


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class CachedEncoder(Encoder):
    def __init__(self, inner: Encoder, folder: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.folder = Path(folder)
        self._pooled: dict[str, np.ndarray] = {}
        self._tokens: dict[str, np.ndarray] = {}
        self._dirty = False
        if (self.folder / "keys.json").exists():
            keys = json.loads((self.folder / "keys.json").read_text())
            pooled = np.load(self.folder / "pooled.npy")
            tokens = np.load(self.folder / "tokens.npy", mmap_mode="r")
            offsets = np.load(self.folder / "offsets.npy")
            for i, key in enumerate(keys):
                self._pooled[key] = pooled[i]
                self._tokens[key] = np.asarray(tokens[offsets[i] : offsets[i + 1]])

    @property
    def dim(self) -> int | None:
        return self.inner.dim

    @property
    def token_dim(self) -> int | None:
        return self.inner.token_dim

    def fingerprint(self) -> dict[str, Any]:
        return self.inner.fingerprint()

    def __len__(self) -> int:
        return len(self._tokens)

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        if is_query:
            return self.inner.encode(texts, is_query=True, pooled=pooled, tokens=tokens)
        keys = [text_key(t) for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=False) if k not in self._tokens}.items()
        )
        if missing:
            fresh = self.inner.encode(
                [t for _, t in missing], is_query=False, pooled=True, tokens=True
            )
            assert fresh.pooled is not None and fresh.tokens is not None
            for (key, _), p, t in zip(missing, fresh.pooled, fresh.tokens, strict=False):
                self._pooled[key], self._tokens[key] = p, t
            self._dirty = True
        return Encoded(
            pooled=np.stack([self._pooled[k] for k in keys]) if pooled else None,
            tokens=[self._tokens[k] for k in keys] if tokens else None,
        )

    def save(self) -> None:
        if not self._dirty:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = list(self._tokens)
        lengths = [len(self._tokens[k]) for k in keys]
        np.save(self.folder / "pooled.npy", np.stack([self._pooled[k] for k in keys]))
        np.save(self.folder / "tokens.npy", np.concatenate([self._tokens[k] for k in keys]))
        np.save(self.folder / "offsets.npy", np.concatenate([[0], np.cumsum(lengths)]))
        (self.folder / "keys.json").write_text(json.dumps(keys))
        self._dirty = False


def warm_from_collection(cache: CachedEncoder, pipeline: Any, documents: Sequence[Any]) -> int:
    """Fill ``cache`` with the encodings an existing collection already stores.

    For a collection built by the same encoder with an unpooled float32 ``late_interaction``
    field and a full-size float32 ``dense`` field (``benchmarks/configs/scifact.yaml``), the
    stored vectors are exactly what the encoder returned (Qdrant keeps float32 as given), so
    re-encoding the corpus (~10 min) can be skipped. Texts are checked against the payload.
    """
    from polyvec.store.ids import point_id

    tokens_field = next(f.name for f in pipeline.vector_fields.values() if f.multivector)
    dense_field = next(f.name for f in pipeline.vector_fields.values() if not f.multivector)
    shard = pipeline.store.shard
    added = 0
    for start in range(0, len(documents), 256):
        chunk = documents[start : start + 256]
        records = {
            str(r.id): r for r in shard.retrieve([point_id(d.id) for d in chunk], True, True)
        }
        for doc in chunk:
            record = records.get(point_id(doc.id))
            if record is None or record.payload.get("text") != doc.text:
                continue
            key = text_key(doc.text)
            cache._tokens[key] = np.asarray(record.vector[tokens_field], np.float32)
            cache._pooled[key] = np.asarray(record.vector[dense_field], np.float32)
            added += 1
    cache._dirty = added > 0
    return added


if __name__ == "__main__":
    # python benchmarks/embedding_cache.py CONFIG BEIR_FOLDER CACHE_FOLDER
    import sys

    from polyvec import Pipeline
    from polyvec.encoders import SentenceTransformerEncoder
    from polyvec.eval import load_beir

    config, data, folder = sys.argv[1:4]
    documents = list(load_beir(data).corpus())
    with Pipeline.from_yaml(config) as source:
        cache = CachedEncoder(SentenceTransformerEncoder("bundled"), folder)
        print(
            f"copied {warm_from_collection(cache, source, documents)} of {len(documents)} encodings"
        )
        cache.save()
