"""LlamaIndex vector store over a :class:`polyvec.Pipeline`.

:class:`PolyvecVectorStore` encodes ``query_str`` itself with the pipeline's encoder
(``is_embedding_query = False``), so a ``VectorStoreIndex`` needs no real embed model:
``VectorStoreIndex.from_vector_store(store, embed_model=MockEmbedding(embed_dim=1))``.
Nodes' own embeddings are ignored. Every read and write goes through the pipeline; this
module only translates LlamaIndex's types (nodes, ``MetadataFilters``) to polyvec's.

Stored layout: a node is a polyvec document whose id is the node id, whose text is
``node.get_content(metadata_mode=NONE)`` and whose metadata is the node's own metadata
(top level, so ``MetadataFilters`` on a user key work) plus what LlamaIndex needs to
rebuild the node (``_node_content``, ``_node_type``) and its source document id under
``ref_doc_id``, ``doc_id`` and ``document_id`` (LlamaIndex's convention).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from polyvec.config import PipelineConfig
from polyvec.documents import Document
from polyvec.encoders import Encoder
from polyvec.errors import InvalidInputError
from polyvec.pipeline import Pipeline
from polyvec.plans import Stage
from polyvec.plugins._ownership import ClosesOwnedPipeline
from polyvec.registry import missing_dependency
from polyvec.store.base import Hit, Store
from polyvec.store.filters import equals, metadata_key, one_of
from polyvec.store.ids import point_id

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

# Where node_to_metadata_dict puts the source document id ("None" when there is none).
_REF_DOC_KEYS = ("ref_doc_id", "doc_id", "document_id")
_REF_DOC_KEY = "ref_doc_id"
_NODE_CONTENT_KEY = "_node_content"
_RANGE = {
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
}
_QUERY_OPTIONS = {"plan", "limits"}


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


def _equals(path: str, value: Any, f: MetadataFilter) -> dict[str, Any]:
    hint = "; use FilterOperator.IS_EMPTY for missing values" if value is None else ""
    return equals(path, value, f" ({f.operator.name}{hint})")


def _one_of(path: str, values: list[Any], f: MetadataFilter) -> dict[str, Any]:
    return one_of(path, values, f" ({f.operator.name})")


def _as_list(f: MetadataFilter) -> list[Any]:
    if isinstance(f.value, list):
        if not f.value:
            raise InvalidInputError(
                f"metadata filter on {f.key!r}: operator {f.operator.name} needs a non-empty list"
            )
        return list(f.value)
    return [f.value]


def _filter_condition(f: MetadataFilter) -> dict[str, Any]:
    """One ``MetadataFilter`` as a Qdrant condition (or a nested Qdrant filter)."""
    path = metadata_key(f.key)
    op = f.operator
    if op == FilterOperator.EQ:
        return _equals(path, f.value, f)
    if op == FilterOperator.NE:  # like LlamaIndex: a node without the key matches
        return {"must_not": [_equals(path, f.value, f)]}
    if op in _RANGE:
        if _is_number(f.value) or _is_datetime(f.value):
            return {"key": path, "range": {_RANGE[op]: f.value}}
        raise InvalidInputError(
            f"metadata filter on {f.key!r}: operator {op.name} needs a number or an ISO 8601 "
            f"datetime (Qdrant cannot order other strings), got {f.value!r}"
        )
    if op in (FilterOperator.IN, FilterOperator.ANY):
        return _one_of(path, _as_list(f), f)
    if op == FilterOperator.NIN:  # like LlamaIndex: a node without the key matches
        return {"must_not": [_one_of(path, _as_list(f), f)]}
    if op == FilterOperator.ALL:
        return {"must": [_equals(path, v, f) for v in _as_list(f)]}
    if op == FilterOperator.CONTAINS:
        return _equals(path, f.value, f)
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        if not isinstance(f.value, str) or not f.value:
            raise InvalidInputError(
                f"metadata filter on {f.key!r}: operator {op.name} needs a non-empty str, "
                f"got {f.value!r}"
            )
        if op == FilterOperator.TEXT_MATCH:  # exact, case-sensitive substring
            return {"key": path, "match": {"substring": f.value}}
        # Qdrant's full-text match: every word of the value is a word of the field, any case
        return {"key": path, "match": {"text": f.value}}
    if op == FilterOperator.IS_EMPTY:  # LlamaIndex: missing, null, [] or ""
        return {"should": [{"is_empty": {"key": path}}, {"key": path, "match": {"value": ""}}]}
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


def metadata_filters_to_qdrant(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """Translate LlamaIndex ``MetadataFilters`` into Qdrant's JSON filter syntax.

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
    conditions: list[dict[str, Any]] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = metadata_filters_to_qdrant(item)
            if nested is not None:
                conditions.append(nested)
        else:
            conditions.append(_filter_condition(item))
    if not conditions:
        return None
    return {_CLAUSE[condition]: conditions}


def _all_of(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    parts = [f for f in filters if f]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"must": parts}


def _has_ids(node_ids: Sequence[str]) -> dict[str, Any]:
    return {"must": [{"has_id": [point_id(i) for i in node_ids]}]}


def _ref_docs(doc_ids: Sequence[str]) -> dict[str, Any]:
    return {"must": [{"key": metadata_key(_REF_DOC_KEY), "match": {"any": list(doc_ids)}}]}


# --- the store ---------------------------------------------------------------------------


class PolyvecVectorStore(ClosesOwnedPipeline, BasePydanticVectorStore):
    """A LlamaIndex vector store backed by a polyvec :class:`~polyvec.Pipeline`.

    Build it from a live pipeline (``PolyvecVectorStore(pipeline)``; the caller closes the
    pipeline), or let it open and own one with :meth:`from_config` / :meth:`from_yaml`
    (closed by :meth:`close`).

    Attributes:
        plan: the query plan of every query (a plan name, a field name or a plan string
            such as ``"dense:100 -> tokens"``); ``None``: the pipeline's default plan.
        limits: per-field candidate limits overriding the plan's, e.g. ``{"dense": 300}``.

    A query can override both through the retriever:
    ``index.as_retriever(vector_store_kwargs={"plan": "tokens"})``.
    """

    stores_text: bool = True
    is_embedding_query: bool = False
    plan: str | Stage | None = None
    limits: dict[str, int] | None = None

    _pipeline: Pipeline = PrivateAttr()
    _owns_pipeline: bool = PrivateAttr(default=False)

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        plan: str | Stage | None = None,
        limits: Mapping[str, int] | None = None,
        owns_pipeline: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(pipeline, Pipeline):
            raise InvalidInputError(
                f"PolyvecVectorStore needs a polyvec.Pipeline, got {type(pipeline).__name__}; "
                "use PolyvecVectorStore.from_config(...) or .from_yaml(path) to open one"
            )
        # through a dict: mypy sees only BasePydanticVectorStore's fields in its __init__
        fields: dict[str, Any] = {"plan": plan, "limits": dict(limits) if limits else None}
        super().__init__(**fields, **kwargs)
        pipeline.plan(plan, limits)  # a bad plan or limit fails now, not at the first query
        self._pipeline = pipeline
        self._owns_pipeline = owns_pipeline

    @classmethod
    def from_config(
        cls,
        config: PipelineConfig | Mapping[str, Any],
        *,
        encoder: Encoder | None = None,
        store: Store | None = None,
        plan: str | Stage | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> PolyvecVectorStore:
        """Open a pipeline from a config dict or ``PipelineConfig``; :meth:`close` closes it."""
        pipeline = Pipeline.from_config(config, encoder=encoder, store=store)
        return cls._owning(pipeline, plan, limits)

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        *,
        encoder: Encoder | None = None,
        plan: str | Stage | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> PolyvecVectorStore:
        """Open a pipeline from a YAML file; :meth:`close` closes it."""
        pipeline = Pipeline.from_yaml(path, encoder=encoder)
        return cls._owning(pipeline, plan, limits)

    @classmethod
    def _owning(
        cls, pipeline: Pipeline, plan: str | Stage | None, limits: Mapping[str, int] | None
    ) -> PolyvecVectorStore:
        try:
            return cls(pipeline, plan=plan, limits=limits, owns_pipeline=True)
        except BaseException:
            pipeline.close()
            raise

    @classmethod
    def class_name(cls) -> str:
        return "PolyvecVectorStore"

    @property
    def client(self) -> Pipeline:
        """The pipeline every call goes through."""
        return self._pipeline

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    # --- nodes <-> polyvec documents ------------------------------------------------------

    def _document(self, node: BaseNode) -> Document:
        metadata = node_to_metadata_dict(node, remove_text=True)
        if node.ref_doc_id is None:
            # node_to_metadata_dict writes the string "None" here: a later delete("None")
            # would remove every node without a source. Keep the user's own values, if any.
            own = json.loads(metadata[_NODE_CONTENT_KEY]).get("metadata") or {}
            for key in _REF_DOC_KEYS:
                if key in own:
                    metadata[key] = own[key]
                else:
                    metadata.pop(key, None)
        return Document(
            text=node.get_content(metadata_mode=MetadataMode.NONE),
            id=node.node_id,
            metadata=metadata,
        )

    @staticmethod
    def _node(hit: Hit) -> BaseNode:
        if _NODE_CONTENT_KEY in hit.metadata:
            return metadata_dict_to_node(hit.metadata, text=hit.text)
        # written by Pipeline.ingest or the CLI, not through LlamaIndex
        return TextNode(id_=str(hit.id), text=hit.text, metadata=dict(hit.metadata))

    # --- queries --------------------------------------------------------------------------

    def _search_args(self, query: VectorStoreQuery, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(kwargs) - _QUERY_OPTIONS
        if unknown:
            raise InvalidInputError(
                f"PolyvecVectorStore.query: unknown option(s) {sorted(unknown)}; "
                f"it takes {sorted(_QUERY_OPTIONS)}"
            )
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise InvalidInputError(
                f"PolyvecVectorStore supports the default query mode only, got {query.mode.value!r}; "
                "choose the retrieval method with a polyvec plan (vector_store_kwargs={'plan': ...})"
            )
        if not query.query_str:
            raise InvalidInputError(
                "PolyvecVectorStore encodes the query text itself: the query needs query_str "
                "(query_embedding is ignored)"
            )
        # An empty list restricts nothing: VectorStoreIndex.as_retriever() passes
        # node_ids=[] to every store that keeps the text itself.
        flt = _all_of(
            metadata_filters_to_qdrant(query.filters),
            _ref_docs(query.doc_ids) if query.doc_ids else None,
            _has_ids(query.node_ids) if query.node_ids else None,
        )
        return {
            "query": query.query_str,
            "k": query.similarity_top_k,
            "filter": flt,
            "plan": kwargs.get("plan", self.plan),
            "limits": kwargs.get("limits", self.limits),
        }

    def _result(self, hits: list[Hit]) -> VectorStoreQueryResult:
        nodes = [self._node(hit) for hit in hits]
        return VectorStoreQueryResult(
            nodes=nodes,
            similarities=[
                float(h.relevance if h.relevance is not None else h.score or 0.0) for h in hits
            ],
            ids=[n.node_id for n in nodes],
        )

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` best nodes for ``query.query_str``.

        Honours ``filters``, ``doc_ids`` (source documents) and ``node_ids`` (empty lists
        restrict nothing, as in LlamaIndex). Options: ``plan`` and ``limits`` override the
        store's for this query.
        """
        args = self._search_args(query, kwargs)
        return self._result(self._pipeline.search(args.pop("query"), **args))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        args = self._search_args(query, kwargs)
        return self._result(await self._pipeline.asearch(args.pop("query"), **args))

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
        self._pipeline.delete_where(_ref_docs([ref_doc_id]))

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id)

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
        if flt is None:
            assert node_ids is not None
            self._pipeline.delete(node_ids)
        else:
            self._pipeline.delete_where(
                _all_of(flt, _has_ids(node_ids) if node_ids is not None else None)
            )

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        if node_ids and metadata_filters_to_qdrant(filters) is None:
            await self._pipeline.adelete(node_ids)
        else:
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
            flt = _all_of(flt, _has_ids(node_ids) if node_ids is not None else None)
            hits = self._pipeline.get_where(flt)
            if node_ids is not None:
                order = {str(i): n for n, i in enumerate(node_ids)}
                hits.sort(key=lambda h: order.get(str(h.id), len(order)))
        return [self._node(hit) for hit in hits]

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        if node_ids and metadata_filters_to_qdrant(filters) is None:
            return [self._node(hit) for hit in await self._pipeline.aget(node_ids)]
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)
