"""LlamaIndex vector store over a :class:`polyvec.Pipeline`.

:class:`PolyvecVectorStore` encodes ``query_str`` itself with the pipeline's encoder
(``is_embedding_query = False``), so a ``VectorStoreIndex`` needs no real embed model:
``VectorStoreIndex.from_vector_store(store, embed_model=MockEmbedding(embed_dim=1))``.
Nodes' own embeddings are ignored. Every read and write goes through the pipeline and the
front-end kit (:mod:`polyvec.frontend`); this module only translates LlamaIndex's types
(nodes, ``MetadataFilters``, queries) to polyvec's.

Stored layout: a node is a polyvec document whose id is the node id, whose text is
``node.get_content(metadata_mode=NONE)`` and whose metadata is the node's own metadata,
exactly (so ``MetadataFilters`` on a user key work, and LangChain or the CLI show the same
metadata). What LlamaIndex needs to rebuild the node (its JSON without text and metadata,
its type) and its source document id live under the reserved ``frontend`` payload key,
never in the user's metadata. The encoders read ``node.get_content(metadata_mode=EMBED)``,
as LlamaIndex's own stores embed a node (the metadata it shows, then the text).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from qdrant_client import models

from polyvec.config import PipelineConfig
from polyvec.documents import Document
from polyvec.encoders import Encoder
from polyvec.errors import InvalidInputError
from polyvec.filters import equals, metadata_key, one_of
from polyvec.frontend import (
    SOURCE_KEY,
    OwnsPipeline,
    PipelineSource,
    SearchDefaults,
    open_pipeline,
    owning,
    relevance,
    reopen_pipeline,
    source_filter,
)
from polyvec.pipeline import Pipeline
from polyvec.plans import Stage
from polyvec.registry import missing_dependency
from polyvec.store import Hit, Store

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode, MetadataMode, TextNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import (
        metadata_dict_to_node,
        node_to_metadata_dict,
    )
except ImportError as err:  # pragma: no cover - exercised by a test that hides the package
    raise missing_dependency(err, what="polyvec.plugins.llamaindex") from err

__all__ = ["PolyvecVectorStore", "metadata_filters_to_qdrant"]

# What node_to_metadata_dict adds to a node's metadata; polyvec keeps none of it there.
_NODE_CONTENT_KEY = "_node_content"
_NODE_TYPE_KEY = "_node_type"
_ADDED_KEYS = (_NODE_CONTENT_KEY, _NODE_TYPE_KEY, "ref_doc_id", "doc_id", "document_id")
_RANGE = {
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
}
_QUERY_OPTIONS = {"plan", "limits", "mmr_prefetch_k", "mmr_prefetch_factor"}
_MODES = (
    VectorStoreQueryMode.DEFAULT,
    VectorStoreQueryMode.MMR,
    VectorStoreQueryMode.SPARSE,
    VectorStoreQueryMode.HYBRID,
)


# --- MetadataFilters -> Qdrant JSON filter -----------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _equals(path: str, value: Any, f: MetadataFilter) -> models.Condition:
    hint = "; use FilterOperator.IS_EMPTY for missing values" if value is None else ""
    return equals(path, value, f" ({f.operator.name}{hint})")


def _one_of(path: str, values: list[Any], f: MetadataFilter) -> models.Condition:
    return one_of(path, values, f" ({f.operator.name})")


def _as_list(f: MetadataFilter) -> list[Any]:
    if isinstance(f.value, list):
        if not f.value:
            raise InvalidInputError(
                f"metadata filter on {f.key!r}: operator {f.operator.name} needs a non-empty list"
            )
        return list(f.value)
    return [f.value]


def _range(path: str, op: FilterOperator, value: Any) -> models.FieldCondition:
    bound = {_RANGE[op]: value}
    kind = models.Range if _is_number(value) else models.DatetimeRange
    return models.FieldCondition(key=path, range=kind(**bound))


def _filter_condition(f: MetadataFilter) -> models.Condition:
    """One ``MetadataFilter`` as a Qdrant condition (or a nested Qdrant filter)."""
    path = metadata_key(f.key)
    op = f.operator
    if op == FilterOperator.EQ:
        return _equals(path, f.value, f)
    if op == FilterOperator.NE:  # like LlamaIndex: a node without the key matches
        return models.Filter(must_not=[_equals(path, f.value, f)])
    if op in _RANGE:
        if _is_number(f.value) or _is_datetime(f.value):
            return _range(path, op, f.value)
        raise InvalidInputError(
            f"metadata filter on {f.key!r}: operator {op.name} needs a number or an ISO 8601 "
            f"datetime (Qdrant cannot order other strings), got {f.value!r}"
        )
    if op in (FilterOperator.IN, FilterOperator.ANY):
        return _one_of(path, _as_list(f), f)
    if op == FilterOperator.NIN:  # like LlamaIndex: a node without the key matches
        return models.Filter(must_not=[_one_of(path, _as_list(f), f)])
    if op == FilterOperator.ALL:
        return models.Filter(must=[_equals(path, v, f) for v in _as_list(f)])
    if op == FilterOperator.CONTAINS:
        return _equals(path, f.value, f)
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        if not isinstance(f.value, str) or not f.value:
            raise InvalidInputError(
                f"metadata filter on {f.key!r}: operator {op.name} needs a non-empty str, "
                f"got {f.value!r}"
            )
        if op == FilterOperator.TEXT_MATCH:  # exact, case-sensitive substring
            return models.FieldCondition(key=path, match=models.MatchSubstring(substring=f.value))
        # Qdrant's full-text match: every word of the value is a word of the field, any case
        return models.FieldCondition(key=path, match=models.MatchText(text=f.value))
    if op == FilterOperator.IS_EMPTY:  # LlamaIndex: missing, null, [] or ""
        return models.Filter(
            should=[
                models.IsEmptyCondition(is_empty=models.PayloadField(key=path)),
                models.FieldCondition(key=path, match=models.MatchValue(value="")),
            ]
        )
    raise InvalidInputError(
        f"metadata filter on {f.key!r}: operator {op!r} is not supported by polyvec; "
        f"supported: {', '.join(o.name for o in _SUPPORTED_OPERATORS)}"
    )


_SUPPORTED_OPERATORS = (
    FilterOperator.EQ,
    FilterOperator.NE,
    FilterOperator.GT,
    FilterOperator.GTE,
    FilterOperator.LT,
    FilterOperator.LTE,
    FilterOperator.IN,
    FilterOperator.NIN,
    FilterOperator.ANY,
    FilterOperator.ALL,
    FilterOperator.CONTAINS,
    FilterOperator.TEXT_MATCH,
    FilterOperator.TEXT_MATCH_INSENSITIVE,
    FilterOperator.IS_EMPTY,
)
_CLAUSE = {
    FilterCondition.AND: "must",
    FilterCondition.OR: "should",
    FilterCondition.NOT: "must_not",
}


def metadata_filters_to_qdrant(filters: MetadataFilters | None) -> models.Filter | None:
    """Translate LlamaIndex ``MetadataFilters`` into a typed Qdrant filter.

    Keys are metadata keys (stored under ``metadata.``); nested ``MetadataFilters`` become
    nested Qdrant filters, and AND / OR / NOT become ``must`` / ``should`` / ``must_not``
    (NOT matches when none of its filters match, as in LlamaIndex). Returns ``None`` for
    no filter.

    Raises:
        InvalidInputError: an operator or value Qdrant cannot express.
    """
    if filters is None or not filters.filters:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition not in _CLAUSE:
        raise InvalidInputError(
            f"metadata filters: condition {condition!r} is not supported; use AND, OR or NOT"
        )
    conditions: list[models.Condition] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = metadata_filters_to_qdrant(item)
            if nested is not None:
                conditions.append(nested)
        else:
            conditions.append(_filter_condition(item))
    if not conditions:
        return None
    clause = _CLAUSE[condition]
    return models.Filter(
        must=conditions if clause == "must" else None,
        should=conditions if clause == "should" else None,
        must_not=conditions if clause == "must_not" else None,
    )


def _sources(doc_ids: Sequence[str]) -> models.Filter:
    """Nodes whose source document is one of ``doc_ids``.

    polyvec 0.1 kept the source id in the metadata (``ref_doc_id``, beside
    ``_node_content``); such nodes are matched too, so old collections stay deletable.
    """
    legacy = models.Filter(
        must=[
            models.FieldCondition(
                key=metadata_key("ref_doc_id"), match=models.MatchAny(any=list(doc_ids))
            )
        ],
        must_not=[
            models.IsEmptyCondition(
                is_empty=models.PayloadField(key=metadata_key(_NODE_CONTENT_KEY))
            )
        ],
    )
    return models.Filter(should=[source_filter(doc_ids), legacy])


# --- the store ---------------------------------------------------------------------------


class PolyvecVectorStore(OwnsPipeline, BasePydanticVectorStore):
    """A LlamaIndex vector store backed by a polyvec :class:`~polyvec.Pipeline`.

    Args:
        pipeline: a :class:`~polyvec.Pipeline` (used as is; the caller closes it), or what
            to build one from: a ``PipelineConfig``, a config dict or a YAML path (then
            :meth:`close` closes it). ``None``: the default configuration.
        plan: the query plan of every query (a plan name, a field name or a plan string
            such as ``"dense:100 -> tokens"``); ``None``: the pipeline's default plan.
        limits: per-field candidate limits overriding the plan's, e.g. ``{"dense": 300}``.
        client: an existing ``QdrantClient`` to store the collection in (never closed).
        aclient: an existing ``AsyncQdrantClient`` for the async twins.
        collection_name: the collection to use (overrides the config's).
        encoder: use this encoder instead of the configured one.
        store: use this (unopened) polyvec store instead of the configured one.

    A query can override ``plan`` and ``limits`` through the retriever:
    ``index.as_retriever(vector_store_kwargs={"plan": "tokens"})``; its ``limits`` are
    merged over the store's.
    """

    stores_text: bool = True
    is_embedding_query: bool = False
    plan: str | Stage | None = None
    limits: dict[str, int] | None = None

    _pipeline: Pipeline = PrivateAttr()
    _owns_pipeline: bool = PrivateAttr(default=False)
    _defaults: SearchDefaults = PrivateAttr()

    def __init__(
        self,
        pipeline: PipelineSource | None = None,
        *,
        plan: str | Stage | None = None,
        limits: Mapping[str, int] | None = None,
        client: Any = None,
        aclient: Any = None,
        collection_name: str | None = None,
        encoder: Encoder | None = None,
        store: Store | None = None,
        **kwargs: Any,
    ) -> None:
        # through a dict: mypy sees only BasePydanticVectorStore's fields in its __init__
        fields: dict[str, Any] = {"plan": plan, "limits": dict(limits) if limits else None}
        super().__init__(**fields, **kwargs)
        built, owned = open_pipeline(
            pipeline,
            encoder=encoder,
            store=store,
            client=client,
            aclient=aclient,
            collection_name=collection_name,
        )
        try:
            self._defaults = SearchDefaults(plan=plan, limits=dict(limits or {})).check(built)
        except BaseException:
            if owned:
                built.close()
            raise
        self._pipeline = built
        self._owns_pipeline = owned

    @classmethod
    def from_config(
        cls, config: PipelineConfig | Mapping[str, Any], **kwargs: Any
    ) -> PolyvecVectorStore:
        """Open a pipeline from a config dict or ``PipelineConfig``; :meth:`close` closes it."""
        return cls(config, **kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: Any) -> PolyvecVectorStore:
        """Open a pipeline from a YAML file; :meth:`close` closes it."""
        return cls(Path(path), **kwargs)

    @classmethod
    def from_existing_collection(
        cls,
        collection_name: str,
        *,
        store: Mapping[str, Any] | None = None,
        client: Any = None,
        aclient: Any = None,
        encoder: Encoder | None = None,
        plan: str | Stage | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> PolyvecVectorStore:
        """A store over a polyvec collection as its manifest records it (fields, encoder,
        plans, chunking), without repeating its configuration.

        Where it lives: a ``client`` (``QdrantClient``), or a polyvec ``store:`` section
        (default: the embedded store in ``./polyvec_data``). ``encoder``: the one the
        collection was built with, if it was handed in. :meth:`close` closes what this
        opened.
        """
        pipeline = reopen_pipeline(
            collection_name, store, encoder=encoder, client=client, aclient=aclient
        )
        return owning(pipeline, lambda built: cls(built, plan=plan, limits=limits))

    @classmethod
    def class_name(cls) -> str:
        return "PolyvecVectorStore"

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline every call goes through."""
        return self._pipeline

    @property
    def client(self) -> Pipeline:
        """The pipeline (LlamaIndex's name for a store's backend)."""
        return self._pipeline

    # --- nodes <-> polyvec documents ------------------------------------------------------

    @staticmethod
    def _document(node: BaseNode) -> Document:
        added = node_to_metadata_dict(node, remove_text=True)
        content = json.loads(added[_NODE_CONTENT_KEY])
        content["metadata"] = {}  # stored once, as the document's metadata
        frontend: dict[str, Any] = {"node": json.dumps(content), "type": added[_NODE_TYPE_KEY]}
        if node.ref_doc_id is not None:
            frontend[SOURCE_KEY] = node.ref_doc_id
        text = node.get_content(metadata_mode=MetadataMode.NONE)
        # encoded as LlamaIndex embeds a node: with the metadata its EMBED mode shows
        # (excluded_embed_metadata_keys, metadata_template and text_template honoured)
        embedded = node.get_content(metadata_mode=MetadataMode.EMBED)
        return Document(
            text=text,
            id=node.node_id,
            metadata=dict(node.metadata),
            frontend=frontend,
            embed_text=embedded if embedded != text else None,
        )

    @staticmethod
    def _node(hit: Hit) -> BaseNode:
        if "node" in hit.frontend:
            node = metadata_dict_to_node(
                {_NODE_CONTENT_KEY: hit.frontend["node"], _NODE_TYPE_KEY: hit.frontend["type"]},
                text=hit.text,
            )
            node.metadata = dict(hit.metadata)
            return node
        if _NODE_CONTENT_KEY in hit.metadata:  # written by polyvec 0.1 (bookkeeping in metadata)
            node = metadata_dict_to_node(hit.metadata, text=hit.text)
            node.metadata = {k: v for k, v in node.metadata.items() if k not in _ADDED_KEYS}
            return node
        # written by Pipeline.ingest, LangChain or the CLI, not through LlamaIndex
        return TextNode(id_=str(hit.id), text=hit.text, metadata=dict(hit.metadata))

    # --- queries --------------------------------------------------------------------------

    def _search_args(self, query: VectorStoreQuery, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(kwargs) - _QUERY_OPTIONS
        if unknown:
            raise InvalidInputError(
                f"PolyvecVectorStore.query: unknown option(s) {sorted(unknown)}; "
                f"it takes {sorted(_QUERY_OPTIONS)}"
            )
        if query.mode not in _MODES:
            raise InvalidInputError(
                f"PolyvecVectorStore supports the query modes "
                f"{', '.join(m.value for m in _MODES)}, got {query.mode.value!r}; choose "
                "another retrieval method with a polyvec plan (vector_store_kwargs={'plan': ...})"
            )
        vector = None
        if not query.query_str:
            vector = self._query_vector(query, kwargs)
        metadata = metadata_filters_to_qdrant(query.filters)
        sources = _sources(query.doc_ids) if query.doc_ids else None
        flt = (
            models.Filter(must=[f for f in (metadata, sources) if f])
            if metadata or sources
            else None
        )
        # An empty node_ids list restricts nothing: VectorStoreIndex.as_retriever() passes
        # node_ids=[] to every store that keeps the text itself.
        return {
            "query": query.query_str,
            "vector": vector,
            **self._defaults.merged(
                self._pipeline,
                k=query.similarity_top_k,
                filter=flt,
                plan=self._mode_plan(query) or kwargs.get("plan"),
                limits=kwargs.get("limits"),
                ids=list(query.node_ids) if query.node_ids else None,
            ),
        }

    @staticmethod
    def _query_vector(query: VectorStoreQuery, kwargs: Mapping[str, Any]) -> list[float]:
        """A query given only as ``query_embedding``: a vector of the dense field."""
        if query.query_embedding is None:
            raise InvalidInputError(
                "PolyvecVectorStore.query needs query_str (encoded by the pipeline's model, "
                "searched with its plan) or query_embedding (a vector of its dense field)"
            )
        if query.mode in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.HYBRID):
            raise InvalidInputError(
                f"the {query.mode.value} query mode needs query_str: BM25 reads the query's "
                "words, a query_embedding has none"
            )
        if kwargs.get("plan") is not None:
            raise InvalidInputError(
                "a query_embedding searches the dense field; plan= needs query_str"
            )
        return list(query.query_embedding)

    def _by_vector(self, vector: list[float], args: Mapping[str, Any]) -> list[Hit]:
        field = self._pipeline.dense_field()
        return self._pipeline.search_vectors(
            [{field: vector}], args["k"], plan=field, filter=args.get("filter"), ids=args.get("ids")
        )[0]

    def _mode_plan(self, query: VectorStoreQuery) -> Stage | None:
        """The plan of the ``sparse`` and ``hybrid`` modes (``None``: the store's plan).

        ``sparse``: the first sparse (``bm25``) field, ``sparse_top_k`` (default
        ``similarity_top_k``) deep. ``hybrid``: Qdrant's RRF of that field's
        ``sparse_top_k`` and the store's plan's ``hybrid_top_k`` (default: both
        ``similarity_top_k``; a plan reading only sparse fields is replaced by the first
        dense or token field), weighted ``1 - alpha`` and ``alpha`` (default 0.5).
        """
        if query.mode not in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.HYBRID):
            return None
        sparse = [n for n, f in self._pipeline.vector_fields.items() if f.kind == "sparse"]
        if not sparse:
            raise InvalidInputError(
                f"the {query.mode.value} query mode needs a sparse field: add "
                "{type: bm25} to the pipeline's fields"
            )
        k = query.similarity_top_k
        lexical = Stage(sparse[0], limit=query.sparse_top_k or k)
        if query.mode == VectorStoreQueryMode.SPARSE:
            return lexical
        alpha = 0.5 if query.alpha is None else float(query.alpha)
        if not 0.0 < alpha < 1.0:
            raise InvalidInputError(f"hybrid mode: alpha must lie in (0, 1), got {alpha!r}")
        semantic = self._pipeline.plan(self._defaults.plan, self._defaults.limits or None)
        fields = self._pipeline.vector_fields
        if all(fields[f].kind == "sparse" for f in semantic.fields()):  # e.g. a bm25 default
            vectors = [n for n, f in fields.items() if f.kind != "sparse"]
            if not vectors:
                raise InvalidInputError("hybrid mode needs a dense or token field too")
            semantic = Stage(vectors[0])
        semantic = replace(semantic, limit=query.hybrid_top_k or k)
        return Stage(
            "rrf", prefetch=(lexical, semantic), fusion="rrf", weights=(1.0 - alpha, alpha)
        )

    def _result(self, hits: list[Hit]) -> VectorStoreQueryResult:
        nodes = [self._node(hit) for hit in hits]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[relevance(h) for h in hits], ids=[n.node_id for n in nodes]
        )

    def _mmr_args(
        self, query: VectorStoreQuery, args: dict[str, Any], kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``mmr`` mode: Qdrant's MMR on the dense field; ``mmr_threshold`` is the weight of
        relevance (LlamaIndex's, default 0.5), over ``mmr_prefetch_k`` candidates (default
        ``mmr_prefetch_factor`` (4) times ``similarity_top_k``)."""
        k = args["k"]
        fetch_k = kwargs.get("mmr_prefetch_k") or k * kwargs.get("mmr_prefetch_factor", 4)
        lambda_mult = query.mmr_threshold if query.mmr_threshold is not None else 0.5
        return {
            "k": k,
            "fetch_k": fetch_k,
            "lambda_mult": lambda_mult,
            "filter": args.get("filter"),
            "ids": args.get("ids"),
        }

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` best nodes for ``query.query_str`` (``mmr`` mode: the
        most relevant and diverse, by Qdrant's MMR on the dense field).

        A query with only ``query_embedding`` (no text) searches the dense field with
        that vector (``default`` and ``mmr`` modes). Honours ``filters``, ``doc_ids``
        (source documents) and ``node_ids`` (empty lists restrict nothing, as in
        LlamaIndex). Options: ``plan`` replaces the store's plan and ``limits`` are merged
        over the store's for this query; in ``mmr`` mode ``mmr_prefetch_k`` or
        ``mmr_prefetch_factor``.
        """
        args = self._search_args(query, kwargs)
        text, vector = args.pop("query"), args.pop("vector")
        if query.mode == VectorStoreQueryMode.MMR:
            mmr = self._mmr_args(query, args, kwargs)
            return self._result(self._pipeline.search_mmr(text or "", vector=vector, **mmr))
        if vector is not None:
            return self._result(self._by_vector(vector, args))
        return self._result(self._pipeline.search(text, **args))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        args = self._search_args(query, kwargs)
        text, vector = args.pop("query"), args.pop("vector")
        if query.mode == VectorStoreQueryMode.MMR:
            mmr = self._mmr_args(query, args, kwargs)
            return self._result(await self._pipeline.asearch_mmr(text or "", vector=vector, **mmr))
        if vector is not None:
            return self._result(await asyncio.to_thread(self._by_vector, vector, args))
        return self._result(await self._pipeline.asearch(text, **args))

    # --- writes ---------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Encode and store nodes under their node ids (re-adding an id replaces it)."""
        if not nodes:
            return []
        return [str(i) for i in self._pipeline.ingest([self._document(n) for n in nodes])]

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        ids = await self._pipeline.aingest([self._document(n) for n in nodes])
        return [str(i) for i in ids]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node whose source document is ``ref_doc_id``.

        Nodes without a source document are never matched (not even by ``"None"``).
        """
        self._pipeline.delete_where(_sources([ref_doc_id]))

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await self._pipeline.adelete_where(_sources([ref_doc_id]))

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id, by metadata filter, or both (ids that also match the filter)."""
        flt = metadata_filters_to_qdrant(filters)
        if node_ids is None and flt is None:
            raise InvalidInputError(
                "delete_nodes needs node_ids or non-empty filters; use clear() to delete all"
            )
        if node_ids is not None and not node_ids:
            return
        if flt is None and node_ids is not None:
            self._pipeline.delete(node_ids)
        else:
            self._pipeline.delete_where(flt, ids=node_ids)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters)

    def clear(self) -> None:
        """Delete every node (the collection and its manifest stay)."""
        self._pipeline.clear()

    async def aclear(self) -> None:
        await self._pipeline.aclear()

    # --- reads by id or filter ------------------------------------------------------------

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """Nodes by id (in that order, unknown ids skipped), by metadata filter, or both.

        With neither, every node is returned.
        """
        flt = metadata_filters_to_qdrant(filters)
        if node_ids is not None and not node_ids:
            return []
        if flt is None and node_ids is not None:
            hits = self._pipeline.get(node_ids)
        else:
            hits = self._pipeline.get_where(flt, ids=node_ids)
        return [self._node(hit) for hit in hits]

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)
