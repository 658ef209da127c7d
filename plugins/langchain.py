"""LangChain integration: a vector store, a retriever and an ``Embeddings`` shim.

Everything here is a thin wrapper over :class:`polyvec.Pipeline`: documents go in
through :meth:`Pipeline.ingest`, queries through :meth:`Pipeline.search`, so a
LangChain retriever returns exactly what the pipeline returns (same plan, same
filter, same order). Both classes pass LangChain's own standard test suites
(``langchain_tests``: ``VectorStoreIntegrationTests`` and ``RetrieversIntegrationTests``).

* :class:`PolyvecVectorStore` — a ``VectorStore`` over a pipeline (or over a config, a
  YAML file or just a LangChain ``Embeddings``).
* :class:`PolyvecRetriever` — a ``BaseRetriever`` with ``k``, ``filter``, ``plan`` and
  ``limits`` fields, each overridable per call (``retriever.invoke(q, k=2)``).
* :class:`EmbeddingsEncoder` — any LangChain ``Embeddings`` as a polyvec dense encoder.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import ConfigDict, Field, InstanceOf, PrivateAttr

from polyvec import registry
from polyvec.config import load_config
from polyvec.documents import Document
from polyvec.encoders import PROBE_TEXT, Encoder
from polyvec.errors import ConfigError, InvalidInputError
from polyvec.fields import Encoded
from polyvec.frontend import (
    OwnsPipeline,
    PipelineSource,
    PlanArg,
    SearchDefaults,
    config_from,
    open_pipeline,
    owning,
    raw_score,
    relevance,
    reopen_pipeline,
)
from polyvec.pipeline import Pipeline
from polyvec.plans import Stage
from polyvec.store import Hit

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document as LCDocument
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.vectorstores import VectorStore
except ImportError as err:
    _error = registry.missing_dependency(err, what="polyvec.plugins.langchain")
    # Registry.resolve translates any ImportError again, by its module name: keep it
    _error.name = err.name
    raise _error from err

__all__ = ["EmbeddingsEncoder", "PolyvecRetriever", "PolyvecVectorStore"]

# With only an ``embedding`` and no config: the store LangChain users expect from
# ``from_texts`` (ephemeral, like ``InMemoryVectorStore``) holding one dense field.
_EMBEDDINGS_FIELDS: list[dict[str, Any]] = [{"type": "dense", "name": "dense"}]
_EPHEMERAL_STORE: dict[str, Any] = {"type": "qdrant", "location": ":memory:"}
_BM25_FIELD: dict[str, Any] = {"type": "bm25", "name": "bm25"}
# langchain-qdrant's RetrievalMode, as polyvec plans over the fields an embedding gets
_RETRIEVAL_PLANS = {"dense": "dense", "sparse": "bm25", "hybrid": "rrf(bm25:100, dense:100)"}


def qdrant_store(
    location: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    path: str | None = None,
    **options: Any,
) -> dict[str, Any] | None:
    """The ``store:`` a langchain-qdrant user's arguments describe (``None``: none given):
    ``location=":memory:"`` or a URL, ``url=`` (with ``api_key=``), or ``path=`` (a
    qdrant-client local folder), plus any other qdrant store option (``prefer_grpc``, ...)."""
    given = [
        name for name, value in (("location", location), ("url", url), ("path", path)) if value
    ]
    if len(given) > 1:
        raise InvalidInputError(f"give one of location=, url= and path=, not {', '.join(given)}")
    if not given:
        if api_key is not None or options:
            raise InvalidInputError("api_key= and store options need a url= (or location=)")
        return None
    store: dict[str, Any] = {"type": "qdrant", given[0]: location or url or path, **options}
    if api_key is not None:
        store["api_key"] = api_key
    return store


def retrieval_plan(mode: Any, plan: PlanArg = None) -> PlanArg:
    """The plan of a langchain-qdrant ``RetrievalMode`` (or its name); without a mode,
    ``plan`` as given (both given: refused)."""
    if mode is None:
        return plan
    if plan is not None:
        raise InvalidInputError("give retrieval_mode= or plan=, not both")
    name = str(getattr(mode, "value", mode)).lower()
    if name not in _RETRIEVAL_PLANS:
        raise InvalidInputError(
            f"retrieval_mode {mode!r}: use dense, sparse or hybrid (or a polyvec plan=)"
        )
    return _RETRIEVAL_PLANS[name]


# --- the Embeddings shim ----------------------------------------------------------------


class EmbeddingsEncoder(Encoder):
    """A LangChain ``Embeddings`` used as a polyvec encoder (pooled vectors only).

    Documents go through ``embed_documents``, queries through ``embed_query``; rows are
    L2-normalised, as every polyvec encoder's are. Use it with ``dense`` fields: an
    ``Embeddings`` gives no token vectors, so ``late_interaction`` is refused.

    Args:
        embeddings: any LangChain embeddings model.
    """

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self._dim = len(embeddings.embed_query(PROBE_TEXT))
        self.name = f"{type(embeddings).__name__}-{self._dim}"
        self._fingerprint: dict[str, Any] | None = None

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def token_dim(self) -> int | None:
        return None

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        if tokens:
            raise ConfigError(
                f"fields: the LangChain embeddings {self.name!r} give one vector per text, "
                "no token vectors; use only 'dense' fields with them"
            )
        if not texts:
            return Encoded(pooled=np.zeros((0, self._dim), np.float32) if pooled else None)
        if not pooled:
            return Encoded()
        if is_query:
            rows = [self.embeddings.embed_query(text) for text in texts]
        else:
            rows = self.embeddings.embed_documents(list(texts))
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.shape != (len(texts), self._dim):
            raise InvalidInputError(
                f"{self.name}: expected {len(texts)} vectors of {self._dim} dimensions, "
                f"got an array of shape {matrix.shape}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return Encoded(pooled=matrix / np.maximum(norms, 1e-12))

    def fingerprint(self) -> dict[str, Any]:
        """Name, class path, size and a hash of a probe text's vector rounded to 2 decimals.

        Computed once per instance (an API-backed model is not called again); equal for
        every instance of a deterministic model, so a stored collection reopens.
        """
        if self._fingerprint is None:
            cls = type(self.embeddings)
            vector = np.asarray(self.embeddings.embed_query(PROBE_TEXT), dtype=np.float32)
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            # + 0.0 turns -0.0 into 0.0, so the hash does not depend on the sign of a zero
            rounded = np.round(vector[:16].astype(np.float64), 2) + 0.0
            self._fingerprint = {
                "name": self.name,
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "dim": self._dim,
                "token_dim": None,
                "probe": hashlib.sha256(rounded.tobytes()).hexdigest()[:16],
            }
        return dict(self._fingerprint)


# --- building a pipeline from what the user gave -----------------------------------------


def build_pipeline(
    source: PipelineSource | None,
    embedding: Embeddings | None = None,
    *,
    store: dict[str, Any] | None = None,
    sparse: bool = False,
    **connection: Any,
) -> tuple[Pipeline, bool]:
    """The pipeline ``source`` describes, and whether the caller owns (must close) it.

    With ``embedding``, the LangChain model is the encoder; a config that names no
    ``fields`` then gets one ``dense`` field, and no config at all an ephemeral
    ``:memory:`` store. A config with its own ``encoder:`` section and an ``embedding``
    is ambiguous and refused. ``store``: a ``store:`` section replacing the config's
    (:func:`qdrant_store`); ``sparse``: give an embedding's default fields a ``bm25`` field
    too. ``connection``: ``client``, ``aclient``, ``collection_name`` (see
    :func:`polyvec.frontend.open_pipeline`).
    """
    if isinstance(source, Pipeline):
        if store is not None:
            raise InvalidInputError(
                "got a Pipeline and location=/url=/path=: the pipeline already has its store"
            )
    elif store is not None and embedding is None:
        base = config_from(source)[0] if source is not None else load_config()
        return open_pipeline(load_config(base, store=store), **connection)
    if isinstance(source, Pipeline):
        if embedding is not None and not (
            isinstance(source.encoder, EmbeddingsEncoder) and source.encoder.embeddings is embedding
        ):
            raise InvalidInputError(
                "got both a Pipeline and embedding=: the pipeline already has its encoder; "
                "pass one or the other"
            )
        return open_pipeline(source, **connection)
    if embedding is None:
        if source is None and not connection.get("client"):
            raise InvalidInputError(
                "nothing to build a store from: pass a Pipeline, a config (dict, "
                "PipelineConfig or YAML path), a client= or a LangChain embedding="
            )
        return open_pipeline(source, **connection)
    config, given = config_from(source) if source is not None else (None, set())
    if "encoder" in given:
        raise ConfigError(
            "encoder: the config has an encoder section and embedding= was given too; "
            "remove one (embedding= replaces the encoder)"
        )
    raw: dict[str, Any] = config.model_dump(mode="python") if config is not None else {}
    if "fields" not in given:
        raw["fields"] = copy.deepcopy(_EMBEDDINGS_FIELDS + ([_BM25_FIELD] if sparse else []))
    if store is not None:
        raw["store"] = store
    elif config is None and not connection.get("client"):
        raw["store"] = dict(_EPHEMERAL_STORE)
    return open_pipeline(load_config(raw), encoder=EmbeddingsEncoder(embedding), **connection)


# --- conversions -----------------------------------------------------------------------


def to_langchain(hit: Hit) -> LCDocument:
    """A LangChain Document equal to what was stored: id, text and metadata, nothing else."""
    return LCDocument(id=hit.id, page_content=hit.text, metadata=hit.metadata)


def _check_id(value: Any, position: int) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # LangChain's Document turns numbers into strings; so do we
    raise InvalidInputError(
        f"document #{position}: id {value!r} is a {type(value).__name__}; LangChain ids are str"
    )


def to_polyvec(documents: Sequence[LCDocument], ids: Sequence[str | None] | None) -> list[Document]:
    """polyvec Documents for an ingest; ``ids`` (if given) take precedence over ``Document.id``.

    Nothing the caller passed is modified or shared: metadata is deep-copied.
    """
    if ids is not None and len(ids) != len(documents):
        raise InvalidInputError(f"got {len(ids)} ids for {len(documents)} documents")
    result = []
    for position, doc in enumerate(documents):
        given = ids[position] if ids is not None else None
        doc_id = _check_id(given if given is not None else doc.id, position)
        result.append(
            Document(text=doc.page_content, id=doc_id, metadata=copy.deepcopy(doc.metadata))
        )
    return result


def _texts_to_documents(
    texts: Iterable[str], metadatas: Sequence[Mapping[str, Any]] | None
) -> list[LCDocument]:
    texts = list(texts)
    if metadatas is not None and len(metadatas) != len(texts):
        raise InvalidInputError(f"got {len(metadatas)} metadatas for {len(texts)} texts")
    return [
        LCDocument(page_content=text, metadata=dict(metadatas[i]) if metadatas else {})
        for i, text in enumerate(texts)
    ]


def _unexpected(kwargs: Mapping[str, Any], where: str, accepted: str) -> None:
    if kwargs:
        raise InvalidInputError(
            f"{where}: unexpected argument(s) {sorted(kwargs)}; accepted: {accepted}"
        )


def _only(kwargs: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    """Refuse keyword arguments outside ``allowed``, naming the accepted ones in order."""
    _unexpected({k: v for k, v in kwargs.items() if k not in allowed}, where, ", ".join(allowed))


# --- the vector store ------------------------------------------------------------------


class PolyvecVectorStore(OwnsPipeline, VectorStore):
    """A LangChain ``VectorStore`` over a polyvec :class:`~polyvec.Pipeline`.

    Args:
        pipeline: a :class:`~polyvec.Pipeline` (used as is, not closed by :meth:`close`),
            or what to build one from: a ``PipelineConfig``, a config dict or a YAML path.
            May be left out when ``embedding`` is given.
        embedding: a LangChain ``Embeddings`` to use as the (dense) encoder. Without a
            config, the store is an ephemeral qdrant-client ``:memory:`` collection with one
            ``dense`` field; with a config that names no ``fields``, one ``dense`` field.
        plan: default query plan (plan name, field name, plan string or ``Stage``).
        limits: default per-field candidate limits, e.g. ``{"dense": 200}``.
        client: an existing ``QdrantClient`` to store the collection in (never closed).
        aclient: an existing ``AsyncQdrantClient`` for the async twins.
        collection_name: the collection to use (overrides the config's).
        location, url, api_key, path: a langchain-qdrant user's connection arguments: the
            collection lives in qdrant-client at ``location`` (``":memory:"`` or a URL),
            on a server at ``url``, or in a local folder ``path`` (see :func:`qdrant_store`).
        retrieval_mode: langchain-qdrant's ``RetrievalMode`` (or ``"dense"``, ``"sparse"``,
            ``"hybrid"``): the default plan ``dense``, ``bm25`` or
            ``rrf(bm25:100, dense:100)``; with an embedding and no fields configured,
            ``sparse``/``hybrid`` add a ``bm25`` field.

    Searches accept ``filter=`` (polyvec's simple dict form or a Qdrant filter),
    ``plan=`` and ``limits=`` per call; per-call limits are merged over the defaults
    (:class:`polyvec.frontend.SearchDefaults`).
    """

    def __init__(
        self,
        pipeline: PipelineSource | None = None,
        embedding: Embeddings | None = None,
        *,
        plan: PlanArg = None,
        limits: Mapping[str, int] | None = None,
        client: Any = None,
        aclient: Any = None,
        collection_name: str | None = None,
        location: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        retrieval_mode: Any = None,
    ) -> None:
        plan = retrieval_plan(retrieval_mode, plan)
        self._pipeline, self._owns_pipeline = build_pipeline(
            pipeline,
            embedding,
            store=qdrant_store(location, url, api_key, path),
            sparse=plan in ("bm25", _RETRIEVAL_PLANS["hybrid"]),
            client=client,
            aclient=aclient,
            collection_name=collection_name,
        )
        try:
            self._defaults = SearchDefaults(plan=plan, limits=dict(limits or {})).check(
                self._pipeline
            )
        except BaseException:
            self.close()
            raise

    # --- properties and lifecycle -------------------------------------------------

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline every call goes through."""
        return self._pipeline

    @property
    def plan(self) -> PlanArg:
        """The default query plan."""
        return self._defaults.plan

    @property
    def limits(self) -> dict[str, int] | None:
        """The default per-field candidate limits."""
        return dict(self._defaults.limits) or None

    @property
    def embeddings(self) -> Embeddings | None:
        """The LangChain embeddings, when the pipeline's encoder is one."""
        encoder = self._pipeline.encoder
        return encoder.embeddings if isinstance(encoder, EmbeddingsEncoder) else None

    # --- search arguments ------------------------------------------------------------

    def _search_args(self, k: int, kwargs: dict[str, Any], where: str) -> dict[str, Any]:
        _only(kwargs, ("filter", "plan", "limits"), where)
        return self._defaults.merged(self._pipeline, k=k, **kwargs)

    # --- writing -----------------------------------------------------------------------

    def add_documents(self, documents: list[LCDocument], **kwargs: Any) -> list[str]:
        """Add (or replace, by id) documents; returns their ids.

        Ids come from ``ids=`` if given, else from each ``Document.id``; ``None`` ids get a
        generated string id. The documents passed in are not modified.
        """
        ids = kwargs.pop("ids", None)
        batch_size = kwargs.pop("batch_size", None)  # LangChain's indexing API passes it
        _unexpected(kwargs, "add_documents", "ids, batch_size")
        docs = to_polyvec(documents, ids)
        if not docs:
            return []
        return cast("list[str]", self._pipeline.ingest(docs, batch_size=batch_size))

    async def aadd_documents(self, documents: list[LCDocument], **kwargs: Any) -> list[str]:
        ids = kwargs.pop("ids", None)
        batch_size = kwargs.pop("batch_size", None)
        _unexpected(kwargs, "aadd_documents", "ids, batch_size")
        docs = to_polyvec(documents, ids)
        if not docs:
            return []
        return cast("list[str]", await self._pipeline.aingest(docs, batch_size=batch_size))

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        return self.add_documents(_texts_to_documents(texts, metadatas), ids=ids, **kwargs)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        return await self.aadd_documents(_texts_to_documents(texts, metadatas), ids=ids, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by id (unknown ids are ignored), with ``filter=`` by metadata filter, or
        with ``source=`` every passage of those sources (e.g. files ingested by the CLI).

        Unlike LangChain's default, ``delete()`` with none of them never deletes everything:
        call ``store.pipeline.clear()`` for that.
        """
        flt = kwargs.pop("filter", None)
        sources = kwargs.pop("source", None)
        _unexpected(kwargs, "delete", "ids, filter, source")
        if ids is None and flt is None and sources is None:
            raise InvalidInputError(
                "delete needs ids, filter= or source=; to delete everything call "
                "store.pipeline.clear()"
            )
        if ids:
            self._pipeline.delete(ids)
        if flt is not None:
            self._pipeline.delete_where(flt)
        if sources is not None:
            self._pipeline.delete_sources([sources] if isinstance(sources, str) else sources)
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return await asyncio.to_thread(self.delete, ids, **kwargs)

    # --- reading -----------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[LCDocument]:
        """The documents that exist among ``ids`` (unknown ids are skipped)."""
        return [to_langchain(hit) for hit in self._pipeline.get(list(ids))]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[LCDocument]:
        return [to_langchain(hit) for hit in await self._pipeline.aget(list(ids))]

    def _hits(self, query: str, k: int, kwargs: dict[str, Any], where: str) -> list[Hit]:
        return self._pipeline.search(query, **self._search_args(k, kwargs, where))

    async def _ahits(self, query: str, k: int, kwargs: dict[str, Any], where: str) -> list[Hit]:
        return await self._pipeline.asearch(query, **self._search_args(k, kwargs, where))

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[LCDocument]:
        """The ``k`` best documents (``filter=``, ``plan=``, ``limits=`` accepted)."""
        return [to_langchain(h) for h in self._hits(query, k, kwargs, "similarity_search")]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[LCDocument]:
        hits = await self._ahits(query, k, kwargs, "asimilarity_search")
        return [to_langchain(h) for h in hits]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[LCDocument, float]]:
        """Documents with the plan's raw root score (cosine, or a MaxSim sum)."""
        hits = self._hits(query, k, kwargs, "similarity_search_with_score")
        return [(to_langchain(h), raw_score(h)) for h in hits]

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[LCDocument, float]]:
        hits = await self._ahits(query, k, kwargs, "asimilarity_search_with_score")
        return [(to_langchain(h), raw_score(h)) for h in hits]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[LCDocument]:
        """The ``k`` documents nearest to a query vector of a dense field (``field=``,
        default the first dense field; ``filter=`` accepted): exact search on that field."""
        _only(kwargs, ("filter", "field"), "similarity_search_by_vector")
        field = self._pipeline.dense_field(kwargs.get("field"))
        hits = self._pipeline.search_vectors(
            [{field: embedding}], k, plan=field, filter=kwargs.get("filter")
        )[0]
        return [to_langchain(h) for h in hits]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[LCDocument]:
        return await asyncio.to_thread(self.similarity_search_by_vector, embedding, k, **kwargs)

    def _mmr_args(self, kwargs: dict[str, Any], where: str) -> dict[str, Any]:
        _only(kwargs, ("filter", "field"), where)
        return kwargs

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[LCDocument]:
        """Qdrant's MMR over the ``fetch_k`` nearest on a dense field (``field=``, default
        the first; ``filter=`` accepted)."""
        args = self._mmr_args(kwargs, "max_marginal_relevance_search")
        hits = self._pipeline.search_mmr(query, k, fetch_k=fetch_k, lambda_mult=lambda_mult, **args)
        return [to_langchain(h) for h in hits]

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[LCDocument]:
        args = self._mmr_args(kwargs, "amax_marginal_relevance_search")
        hits = await self._pipeline.asearch_mmr(
            query, k, fetch_k=fetch_k, lambda_mult=lambda_mult, **args
        )
        return [to_langchain(h) for h in hits]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[LCDocument]:
        """MMR from a query vector of the dense field (``field=``, default the first)."""
        args = self._mmr_args(kwargs, "max_marginal_relevance_search_by_vector")
        hits = self._pipeline.search_mmr(
            "", k, fetch_k=fetch_k, lambda_mult=lambda_mult, vector=embedding, **args
        )
        return [to_langchain(h) for h in hits]

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[LCDocument]:
        return await asyncio.to_thread(
            self.max_marginal_relevance_search_by_vector,
            embedding,
            k,
            fetch_k,
            lambda_mult,
            **kwargs,
        )

    # The relevance of a MaxSim score depends on the query's length, which a score alone
    # does not carry: use the pipeline's own relevance (in [0, 1]) instead of a score fn.
    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[LCDocument, float]]:
        hits = self._hits(query, k, kwargs, "similarity_search_with_relevance_scores")
        return [(to_langchain(h), relevance(h)) for h in hits]

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[LCDocument, float]]:
        hits = await self._ahits(query, k, kwargs, "asimilarity_search_with_relevance_scores")
        return [(to_langchain(h), relevance(h)) for h in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Score -> relevance for the default plan, where a score alone determines it.

        The store's own relevance methods do not use this; it serves code that calls it
        directly. A cosine (or dot) root maps to itself clipped to [0, 1]; a MaxSim root
        cannot be mapped without the query's length and is refused.
        """
        stage = self._pipeline.plan(self.plan, self.limits)
        if stage.fusion or self._pipeline.vector_fields[stage.field].score == "maxsim":
            raise InvalidInputError(
                f"the plan {stage.describe()} ends on a MaxSim field or a fusion, whose "
                "relevance depends on the query or the plan, not on a score alone; use "
                "similarity_search_with_relevance_scores"
            )
        if self._pipeline.vector_fields[stage.field].score == "bm25":
            return lambda score: score / (1.0 + score) if score > 0 else 0.0
        return lambda score: min(1.0, max(0.0, score))

    # --- construction --------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> PolyvecVectorStore:
        """A store holding ``texts``.

        Keyword arguments: ``pipeline`` (anything the constructor takes) and the
        constructor's keywords (``plan``, ``limits``, ``client``, ``collection_name``,
        langchain-qdrant's ``location``, ``url``, ``api_key``, ``path``,
        ``retrieval_mode``). ``embedding`` may be ``None``: the bundled model (or
        ``pipeline``'s encoder) encodes.
        """
        pipeline = kwargs.pop("pipeline", None)
        accepted = set(inspect.signature(cls.__init__).parameters) - {
            "self",
            "pipeline",
            "embedding",
        }
        _only(kwargs, ["ids", "pipeline", *sorted(accepted)], "from_texts")
        if pipeline is None and embedding is None and not kwargs.get("client"):
            pipeline = {}  # the default pipeline: the bundled model, the store given
        store = cls(pipeline, embedding, **kwargs)
        try:
            store.add_texts(texts, metadatas, ids=ids)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def from_documents(
        cls, documents: list[LCDocument], embedding: Embeddings | None = None, **kwargs: Any
    ) -> PolyvecVectorStore:
        """:meth:`from_texts` of the documents (``embedding`` optional, as there)."""
        return cast(
            "PolyvecVectorStore",
            super().from_documents(documents, embedding, **kwargs),  # type: ignore[arg-type]
        )

    @classmethod
    async def afrom_documents(
        cls, documents: list[LCDocument], embedding: Embeddings | None = None, **kwargs: Any
    ) -> PolyvecVectorStore:
        return await asyncio.to_thread(cls.from_documents, documents, embedding, **kwargs)

    @classmethod
    def from_existing_collection(
        cls,
        collection_name: str,
        embedding: Embeddings | None = None,
        *,
        store: Mapping[str, Any] | None = None,
        client: Any = None,
        aclient: Any = None,
        location: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        retrieval_mode: Any = None,
        plan: PlanArg = None,
        limits: Mapping[str, int] | None = None,
        **options: Any,
    ) -> PolyvecVectorStore:
        """A store over a polyvec collection as its manifest records it (fields, encoder,
        plans, chunking), without repeating its configuration.

        Where it lives: langchain-qdrant's ``location``, ``url`` (+ ``api_key`` and other
        qdrant-client ``options`` such as ``prefer_grpc``) or ``path``; a ``client``; or a
        polyvec ``store:`` section (e.g. ``{"type": "edge", "path": "./polyvec_data"}``,
        the default). ``embedding``: the LangChain model the collection was built with, if
        any (a manifest cannot rebuild it). :meth:`close` closes what this opened.
        """
        plan = retrieval_plan(retrieval_mode, plan)
        given = qdrant_store(location, url, api_key, path, **options)
        if given is not None and store is not None:
            raise InvalidInputError("give store= or location=/url=/path=, not both")
        pipeline = reopen_pipeline(
            collection_name,
            given or store,
            encoder=EmbeddingsEncoder(embedding) if embedding is not None else None,
            client=client,
            aclient=aclient,
        )
        return owning(pipeline, lambda built: cls(built, plan=plan, limits=limits))

    @classmethod
    def from_pipeline(
        cls, pipeline: Pipeline, *, plan: PlanArg = None, limits: Mapping[str, int] | None = None
    ) -> PolyvecVectorStore:
        """A store over an existing pipeline (which stays the caller's to close)."""
        return cls(pipeline, plan=plan, limits=limits)

    def as_polyvec_retriever(self, **fields: Any) -> PolyvecRetriever:
        """A :class:`PolyvecRetriever` over this store's pipeline and defaults.

        Unlike :meth:`as_retriever` (LangChain's ``VectorStoreRetriever``, configured by
        ``search_kwargs``), it has ``k``, ``filter``, ``plan`` and ``limits`` fields.
        """
        fields.setdefault("plan", self.plan)
        fields.setdefault("limits", self.limits)
        return PolyvecRetriever(pipeline=self._pipeline, **fields)


# --- the retriever ---------------------------------------------------------------------


class PolyvecRetriever(OwnsPipeline, BaseRetriever):
    """A LangChain retriever over a polyvec :class:`~polyvec.Pipeline`.

    Every field can be overridden per call: ``retriever.invoke(q, k=2, filter={...},
    plan="tokens", limits={"dense": 300})``. Returned Documents carry the stored id, text
    and metadata and nothing else (scores: :meth:`PolyvecVectorStore.similarity_search_with_relevance_scores`).

    Attributes:
        pipeline: the pipeline searched.
        k: number of documents returned.
        filter: metadata filter (simple dict form or a Qdrant filter).
        plan: query plan (plan name, field name, plan string or ``Stage``); default: the
            pipeline's default plan.
        limits: per-field candidate limits overriding the plan's.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pipeline: InstanceOf[Pipeline]
    k: int = Field(default=4, gt=0)
    filter: Any = None
    plan: str | InstanceOf[Stage] | None = None
    limits: dict[str, int] | None = None

    _owns_pipeline: bool = PrivateAttr(default=False)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, **fields: Any) -> PolyvecRetriever:
        """A retriever over an existing pipeline (which stays the caller's to close)."""
        return cls(pipeline=pipeline, **fields)

    @classmethod
    def from_yaml(
        cls, path: str | os.PathLike[str], *, encoder: Encoder | None = None, **fields: Any
    ) -> PolyvecRetriever:
        """A retriever over the pipeline a YAML file describes (closed by :meth:`close`)."""
        return cls.from_source(Path(path), encoder=encoder, **fields)

    @classmethod
    def from_source(
        cls,
        source: PipelineSource,
        *,
        encoder: Encoder | None = None,
        client: Any = None,
        collection_name: str | None = None,
        **fields: Any,
    ) -> PolyvecRetriever:
        """A retriever over anything a front end is built from (a pipeline, a config, a
        config dict, a YAML path; optionally an existing ``QdrantClient``)."""
        pipeline, owned = open_pipeline(
            source, encoder=encoder, client=client, collection_name=collection_name
        )
        try:
            retriever = cls(pipeline=pipeline, **fields)
        except BaseException:
            if owned:
                pipeline.close()
            raise
        retriever._owns_pipeline = owned
        return retriever

    def _search_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.pop("verbose", None)  # BaseRetriever.invoke leaves it in the call's kwargs
        _only(kwargs, ("k", "filter", "plan", "limits"), "PolyvecRetriever")
        defaults = SearchDefaults(
            k=self.k, filter=self.filter, plan=self.plan, limits=self.limits or {}
        )
        return defaults.merged(self.pipeline, **kwargs)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[LCDocument]:
        hits = self.pipeline.search(query, **self._search_args(kwargs))
        return [to_langchain(h) for h in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[LCDocument]:
        hits = await self.pipeline.asearch(query, **self._search_args(kwargs))
        return [to_langchain(h) for h in hits]
