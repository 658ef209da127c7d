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
