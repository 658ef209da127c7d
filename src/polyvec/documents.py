"""The document type the pipeline ingests, and the coercions from what users pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polyvec.errors import InvalidInputError


@dataclass
class Document:
    """A text with an optional id (str or int, kept exactly) and JSON-like metadata.

    Attributes:
        frontend: a front end's own bookkeeping (e.g. LlamaIndex's serialised node and its
            source document id under ``source``), stored beside the text under a reserved
            payload key — never mixed into the user's ``metadata``.
        embed_text: what the encoders read when it differs from ``text`` (e.g. LlamaIndex's
            ``MetadataMode.EMBED`` view of a node: metadata, then text); ``text`` is what is
            stored and returned. ``None``: the encoders read ``text``.
    """

    text: str
    id: str | int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    frontend: dict[str, Any] | None = None
    embed_text: str | None = None

    @property
    def encoded_text(self) -> str:
        """The text the encoders read."""
        return self.text if self.embed_text is None else self.embed_text


def as_document(item: Document | Mapping[str, Any] | str, position: int) -> Document:
    """Accept a :class:`Document`, a mapping with ``text`` (``id``, ``metadata``) or a str."""
    if isinstance(item, Document):
        doc = item
    elif isinstance(item, str):
        doc = Document(text=item)
    elif isinstance(item, Mapping):
        unknown = set(item) - {"id", "text", "metadata"}
        if unknown or "text" not in item:
            raise InvalidInputError(
                f"document #{position}: a mapping needs 'text' and may have 'id' and "
                f"'metadata'; got keys {sorted(item)}"
            )
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise InvalidInputError(
                f"document #{position}: metadata must be a dict, got {type(metadata).__name__}"
            )
        doc = Document(text=item["text"], id=item.get("id"), metadata=dict(metadata))
    else:
        raise InvalidInputError(
            f"document #{position}: expected a Document, a dict or a str, got {type(item).__name__}"
        )
    if not isinstance(doc.text, str):
        raise InvalidInputError(
            f"document #{position}: text must be a str, got {type(doc.text).__name__}"
        )
    if doc.embed_text is not None and not isinstance(doc.embed_text, str):
        raise InvalidInputError(
            f"document #{position}: embed_text must be a str or None, got "
            f"{type(doc.embed_text).__name__}"
        )
    if not isinstance(doc.metadata, dict):
        raise InvalidInputError(f"document #{position}: metadata must be a dict")
    return doc
