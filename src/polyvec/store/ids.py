"""User ids <-> Qdrant point ids.

Qdrant (Edge and server) accepts only unsigned integers and UUIDs as point ids. Every
user id — any string, any int — is mapped to a UUIDv5 and the original is kept in the
payload, so it comes back exactly as given ("1" stays a string, 1 stays an int).
"""

from __future__ import annotations

import uuid
from typing import Any

from polyvec.errors import InvalidInputError

NAMESPACE = uuid.UUID("7b0e4b4c-2f4e-5d1a-9a53-706f6c797665")  # fixed forever: ids depend on it


def point_id(user_id: Any) -> str:
    """The UUID under which ``user_id`` is stored (``str`` and ``int`` ids never collide)."""
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
        raise InvalidInputError(
            f"document id {user_id!r} is a {type(user_id).__name__}; ids must be str or int"
        )
    kind = "s" if isinstance(user_id, str) else "i"
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{user_id}"))


def new_id() -> str:
    """A fresh id for a document given without one."""
    return str(uuid.uuid4())
