"""A loopback test double of a Qdrant server, answering from qdrant-client's own local engine.

``QdrantDouble`` serves Qdrant's REST API on ``127.0.0.1`` (a free port, a daemon thread, the
standard library's ``ThreadingHTTPServer``), so qdrant-client's *remote* code path
(``QdrantClient(url=double.url)``, ``AsyncQdrantClient(url=double.url)``) runs for real, down to
the JSON on the wire, with no Qdrant server installed::

    with QdrantDouble() as double:
        client = QdrantClient(url=double.url)
        ...
        assert double.errors == []
        assert len(double.calls("POST", "/collections/docs/points/query/batch")) == 1

Every request body is validated against qdrant-client's REST models (``qdrant_client.http.models``,
the model each endpoint of ``qdrant_client/http/api/*.py`` sends). A body that does not validate
answers 400 with a Qdrant-style error and is appended to ``double.errors``, and so is a request to
a route the double does not know (404) or one the double fails on (500). Errors the engine raises
for the data (a missing collection: 404, bad input: 400, an existing collection: 409) answer like
a Qdrant server and are *not* errors of the double. ``double.requests`` records every request.

The engine is ``QdrantLocal(":memory:")``: an exact, brute-force search. Server-only settings
(HNSW, quantization, shards, replication, optimizers, WAL, strict mode, search params but
``idf``) are accepted, validated, kept and shown back by ``GET /collections/{name}``, and have no
effect on results. REST only: nothing answers gRPC (``prefer_grpc=True``). The engine's own
notices (``Payload indexes have no effect in the local Qdrant...``) are warnings raised in the
server thread: under ``filterwarnings = error`` they must be filtered (pyproject.toml does), or
the request answers 500 and lands in ``double.errors``.

Sockets under the project's pytest config (``--disable-socket --allow-unix-socket``)
---------------------------------------------------------------------------------------------
A test using the double (or ``SilentServer``) must carry the pytest-socket marker
``@pytest.mark.allow_hosts(["127.0.0.1"])``, or a module must set
``pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])``. For such a test pytest-socket leaves
socket creation on and guards ``socket.connect``: only 127.0.0.1 can be reached, so the double can
listen and the client can connect to it while any other host raises ``SocketConnectBlockedError``.
Do not use ``@pytest.mark.enable_socket`` or the ``socket_enabled`` fixture: they open every host.
Keep ``url=double.url`` (an address, 127.0.0.1) rather than ``localhost``. Start and stop the
double within marked tests (a function-scoped fixture, or a wider scope whose tests all carry the
marker): in an unmarked test pytest-socket blocks socket creation again, the accepted sockets
of a server left running included.

qdrant-client checks the server version from a background thread when a client is built; the
double answers with the installed qdrant-client's version, so no warning is raised. Wait for that
check before the double stops (``double.wait_for("GET", "/")``) or pass
``check_compatibility=False``, or the thread may find the port closed and warn.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, TypeVar, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python
from qdrant_client.http import models
from qdrant_client.local.qdrant_local import QdrantLocal

__all__ = ["QdrantDouble", "RecordedRequest", "SilentServer"]

_M = TypeVar("_M", bound=BaseModel)

_COLLECTION_MISSING = re.compile(r"Collection (.+) not found")
_WRITE_ORDERINGS = {ordering.value for ordering in models.WriteOrdering}
_CONSISTENCY_TYPES = {consistency.value for consistency in models.ReadConsistencyType}
# the collection params of a `CreateCollection` the local engine drops
_CREATE_PARAMS = {
    "shard_number",
    "sharding_method",
    "replication_factor",
    "write_consistency_factor",
    "on_disk_payload",
    "payload",
    "id_tracker",
}
_QUERY_TYPES = get_args(models.Query)
_DEFAULT_WAL = models.WalConfig(wal_capacity_mb=32, wal_segments_ahead=0)


@dataclass
class RecordedRequest:
    """One request as the double received it; ``status`` is set once it has been answered."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    status: int | None = None


class _ApiError(Exception):
    """An answer other than 200: ``status`` and the message of Qdrant's error body."""

    def __init__(self, status: int, message: str, *, double_error: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.double_error = double_error  # a schema violation, an unknown route, a bug


@dataclass
class _Call:
    """What a route handler gets: path arguments, query parameters, the validated body."""

    args: dict[str, str]
    params: dict[str, str]
    body: Any

    @property
    def collection(self) -> str:
        return self.args["collection_name"]


_Handler = Callable[["QdrantDouble", _Call], Any]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    body: TypeAdapter[Any] | None
    handler: _Handler
    needs_collection: bool
    envelope: bool


_ROUTES: list[_Route] = []


def _route(
    method: str,
    template: str,
    body: Any = None,
    *,
    needs_collection: bool = False,
    envelope: bool = True,
) -> Callable[[_Handler], _Handler]:
    """Register a handler for ``method template`` whose body must validate as ``body``."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)

    def register(handler: _Handler) -> _Handler:
        adapter = TypeAdapter(body) if body is not None else None
        _ROUTES.append(
            _Route(method, re.compile(regex), adapter, handler, needs_collection, envelope)
        )
        return handler

    return register


@dataclass
class _Extras:
    """Server-only collection settings the local engine drops, kept to be shown back."""

    params: dict[str, Any] = field(default_factory=dict)
    hnsw: dict[str, Any] = field(default_factory=dict)
    optimizers: dict[str, Any] = field(default_factory=dict)
    wal: dict[str, Any] = field(default_factory=dict)
    quantization: Any = None
    strict_mode: dict[str, Any] | None = None
    vectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    indexes: dict[str, Any] = field(default_factory=dict)


def _diff(model: BaseModel | None) -> dict[str, Any]:
    """The fields a diff model sets, as JSON."""
    return {} if model is None else model.model_dump(mode="json", exclude_none=True)


def _merged(model: _M, diff: dict[str, Any]) -> _M:
    """``model`` with the fields of ``diff`` applied, validated again."""
    return type(model).model_validate({**model.model_dump(mode="json"), **diff})


def _quantization(config: Any) -> Any:
    """A quantization config as kept: ``Disabled`` removes it."""
    return None if isinstance(config, models.Disabled) else config


def _search_params(params: models.SearchParams | None) -> models.SearchParams | None:
    """What the local engine acts on (``idf``); the rest steers an index it does not have."""
    if params is None or params.idf is None:
        return None
    return models.SearchParams(idf=params.idf)


def _as_query(query: Any) -> models.Query | None:
    """A query as the engine's signature names it: a bare vector or id is a nearest query."""
    if query is None or isinstance(query, _QUERY_TYPES):
        return query
    return models.NearestQuery(nearest=query)


def _ids_or_filter(
    points: list[models.ExtendedPointId] | None, filter_: models.Filter | None
) -> models.PointsSelector:
    """The selector of a payload or vectors operation, which names points or a filter."""
    if points is not None:
        return models.PointIdsList(points=points)
    if filter_ is not None:
        return models.FilterSelector(filter=filter_)
    raise _ApiError(400, "Wrong input: Either `points` or `filter` is required")


def _check_params(params: dict[str, str]) -> list[str]:
    """Problems with the query parameters the REST API knows (their values)."""
    problems = []
    if "wait" in params and params["wait"] not in ("true", "false"):
        problems.append(f"query parameter wait={params['wait']!r} is not a bool")
    if "timeout" in params and not params["timeout"].isdigit():
        problems.append(f"query parameter timeout={params['timeout']!r} is not an integer")
    if "ordering" in params and params["ordering"] not in _WRITE_ORDERINGS:
        problems.append(f"query parameter ordering={params['ordering']!r} is unknown")
    consistency = params.get("consistency")
    if consistency is not None and not (consistency.isdigit() or consistency in _CONSISTENCY_TYPES):
        problems.append(f"query parameter consistency={consistency!r} is unknown")
    return problems


class _Server(ThreadingHTTPServer):
    """The HTTP server, knowing its double; binds without a reverse DNS lookup."""

    daemon_threads = True
    allow_reuse_address = True
    # the standard library listens with a backlog of 5: a burst of concurrent clients (an
    # AsyncQdrantClient opens up to 100 connections) would be reset, as no server would do
    request_queue_size = 256

    def __init__(self, double: QdrantDouble) -> None:
        self.double = double
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def server_bind(self) -> None:
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _RequestHandler(BaseHTTPRequestHandler):
    """Hands every request to the double; HTTP/1.1 with a Content-Length on every answer."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server

    def _serve(self) -> None:
        self.server.double._serve(self)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class QdrantDouble:
    """A Qdrant REST server on 127.0.0.1 answering from ``QdrantLocal(":memory:")``.

    Args:
        version: the version ``GET /`` reports; the installed qdrant-client's by default, so
            the client's compatibility check passes.

    Attributes:
        url: ``http://127.0.0.1:<port>``, once started.
        port: the port, once started.
        requests: every request received, in order of arrival.
        errors: schema violations, unknown routes and the double's own failures, as strings.
        engine: the local engine (hold ``lock`` to use it while the server runs).
        lock: serialises engine calls; requests may arrive concurrently.
        version: what ``GET /`` reports.
    """

    def __init__(self, *, version: str | None = None, latency: float = 0.0) -> None:
        """
        Args:
            version: the server version ``GET /`` reports (default: qdrant-client's).
            latency: seconds each request waits before it is served (outside the engine's
                lock), as a network would; concurrent requests then overlap visibly in
                :attr:`max_in_flight`.
        """
        self.version = version or importlib.metadata.version("qdrant-client")
        self.latency = latency
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being served at once
        self.engine = QdrantLocal(location=":memory:")
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []
        self._recorded = threading.Condition()
        self._extras: dict[str, _Extras] = {}
        self._operation_id = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the double is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> QdrantDouble:
        """Listen on a free loopback port and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the double is already started")
        self._server = _Server(self)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"qdrant-double-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the engine; recorded requests and errors stay readable."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        with self.lock:
            self.engine.close()

    def __enter__(self) -> QdrantDouble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- inspection ------------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """The recorded requests with this method and/or this exact path."""
        with self._recorded:
            return [
                request
                for request in self.requests
                if (method is None or request.method == method)
                and (path is None or request.path == path)
            ]

    def wait_for(
        self, method: str, path: str, *, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Wait until ``count`` such requests have been answered (a client's version check)."""

        def answered() -> list[RecordedRequest]:
            return [r for r in self.calls(method, path) if r.status is not None]

        with self._recorded:
            if not self._recorded.wait_for(lambda: len(answered()) >= count, timeout=timeout):
                raise TimeoutError(f"{method} {path} answered {len(answered())}/{count} times")
        return answered()

    def clear(self) -> None:
        """Forget the recorded requests and errors."""
        with self._recorded:
            self.requests.clear()
            self.errors.clear()

    # --- serving ---------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Read, record, dispatch and answer one request."""
        target = urlsplit(handler.path)
        params = dict(parse_qsl(target.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            parsed: Any = json.loads(raw) if raw else None
            bad_json = None
        except ValueError as error:
            parsed, bad_json = raw.decode(errors="replace"), error
        record = RecordedRequest(handler.command, target.path, params, parsed)
        with self._recorded:
            self.requests.append(record)

        with self._recorded:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            if bad_json is not None:
                raise _ApiError(400, f"Json deserialize error: {bad_json}", double_error=True)
            envelope, result = self._dispatch(handler.command, target.path, params, raw)
            status = 200
            if not envelope:
                payload: Any = result
            else:
                payload = {"result": result, "status": "ok", "time": 0.0}
        except _ApiError as error:
            status = error.status
            payload = {"status": {"error": error.message}, "time": 0.0}
            if error.double_error:
                with self._recorded:
                    self.errors.append(f"{handler.command} {target.path}: {error.message}")

        content = (
            payload.encode()
            if isinstance(payload, str)
            else json.dumps(payload, allow_nan=False).encode()
        )
        handler.send_response(status)
        kind = "text/plain" if isinstance(payload, str) else "application/json"
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)
        handler.wfile.flush()
        with self._recorded:
            self.in_flight -= 1
            record.status = status
            self._recorded.notify_all()

    def _dispatch(
        self, method: str, path: str, params: dict[str, str], raw: bytes
    ) -> tuple[bool, Any]:
        """Route, validate, call the engine; returns the JSON-ready result."""
        for route in _ROUTES:
            match = route.pattern.fullmatch(path) if route.method == method else None
            if match is not None:
                break
        else:
            raise _ApiError(404, f"Not found: no route for {method} {path}", double_error=True)

        problems = _check_params(params)
        if problems:
            raise _ApiError(400, "Validation error: " + "; ".join(problems), double_error=True)
        body = None
        if route.body is not None:
            try:
                body = route.body.validate_json(raw or b"null")
            except ValidationError as error:
                raise _ApiError(
                    400, f"Validation error in JSON body: {error}", double_error=True
                ) from error

        call = _Call({k: unquote(v) for k, v in match.groupdict().items()}, params, body)
        with self.lock:
            if route.needs_collection and not self.engine.collection_exists(call.collection):
                raise _ApiError(404, f"Not found: Collection `{call.collection}` doesn't exist!")
            try:
                result = route.handler(self, call)
            except _ApiError:
                raise
            except (ValueError, TypeError, KeyError) as error:
                missing = _COLLECTION_MISSING.fullmatch(str(error))
                if missing:
                    message = f"Not found: Collection `{missing.group(1)}` doesn't exist!"
                    raise _ApiError(404, message) from error
                message = str(error)
                if not message.startswith("Wrong input"):
                    message = f"Wrong input: {message}"
                raise _ApiError(400, message) from error
            except Exception as error:
                message = f"Service internal error: {type(error).__name__}: {error}"
                raise _ApiError(500, message, double_error=True) from error
            return route.envelope, to_jsonable_python(result, by_alias=True)

    # --- helpers for handlers --------------------------------------------------------------

    def _update_result(self, call: _Call) -> models.UpdateResult:
        """Like the server: a fresh operation id, ``acknowledged`` unless ``wait=true``."""
        self._operation_id += 1
        status = (
            models.UpdateStatus.COMPLETED
            if call.params.get("wait") == "true"
            else models.UpdateStatus.ACKNOWLEDGED
        )
        return models.UpdateResult(operation_id=self._operation_id, status=status)

    def _extras_of(self, name: str) -> _Extras:
        """The kept settings of a collection, found through an alias as well."""
        real = self.engine.aliases.get(name, name)
        return self._extras.setdefault(real, _Extras())

    def _collection_info(self, name: str) -> models.CollectionInfo:
        """The engine's collection info with the kept server-only settings applied."""
        info = self.engine.get_collection(name)
        extras = self._extras_of(name)
        config = info.config
        params = _merged(config.params, extras.params)
        vectors = params.vectors
        for vector_name, diff in extras.vectors.items():
            if isinstance(vectors, dict) and vector_name in vectors:
                vectors[vector_name] = self._vector_merged(vectors[vector_name], diff)
            elif isinstance(vectors, models.VectorParams) and vector_name == "":
                params.vectors = self._vector_merged(vectors, diff)
        optimizers = dict(extras.optimizers)
        if not isinstance(optimizers.get("max_optimization_threads", 0), int):
            optimizers["max_optimization_threads"] = None  # "auto" reads back as null
        info.config = models.CollectionConfig(
            params=params,
            hnsw_config=_merged(config.hnsw_config, extras.hnsw),
            optimizer_config=_merged(config.optimizer_config, optimizers),
            wal_config=_merged(config.wal_config or _DEFAULT_WAL, extras.wal),
            quantization_config=extras.quantization,
            strict_mode_config=(
                None
                if extras.strict_mode is None
                else models.StrictModeConfigOutput.model_validate(extras.strict_mode)
            ),
            metadata=config.metadata,
        )
        info.payload_schema = {
            field_name: self._index_info(name, field_name, schema)
            for field_name, schema in extras.indexes.items()
        }
        return info

    @staticmethod
    def _vector_merged(params: models.VectorParams, diff: dict[str, Any]) -> models.VectorParams:
        """Vector params with a ``VectorParamsDiff`` applied (``hnsw_config`` field by field)."""
        update = dict(diff)
        if "hnsw_config" in update:
            update["hnsw_config"] = {**_diff(params.hnsw_config), **update["hnsw_config"]}
        if update.get("quantization_config") == models.Disabled.DISABLED.value:
            update["quantization_config"] = None
        return _merged(params, update)

    def _index_info(self, name: str, field_name: str, schema: Any) -> models.PayloadIndexInfo:
        """A payload index as ``GET /collections/{name}`` shows it, with its point count."""
        has_field = models.Filter(
            must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=field_name))]
        )
        points = self.engine.count(name, count_filter=has_field).count
        if isinstance(schema, models.PayloadSchemaType):
            return models.PayloadIndexInfo(data_type=schema, params=None, points=points)
        data_type = models.PayloadSchemaType(schema.type.value)
        return models.PayloadIndexInfo(data_type=data_type, params=schema, points=points)

    # --- service ---------------------------------------------------------------------------

    @_route("GET", "/", envelope=False)
    def _root(self, call: _Call) -> models.VersionInfo:
        return models.VersionInfo(title="qdrant - vector search engine", version=self.version)

    @_route("GET", "/healthz", envelope=False)
    @_route("GET", "/livez", envelope=False)
    @_route("GET", "/readyz", envelope=False)
    def _health(self, call: _Call) -> str:
        return "healthz check passed"

    # --- collections -----------------------------------------------------------------------

    @_route("GET", "/collections")
    def _get_collections(self, call: _Call) -> models.CollectionsResponse:
        return self.engine.get_collections()

    @_route("GET", "/aliases")
    def _get_aliases(self, call: _Call) -> models.CollectionsAliasesResponse:
        return self.engine.get_aliases()

    @_route("POST", "/collections/aliases", models.ChangeAliasesOperation)
    def _update_aliases(self, call: _Call) -> bool:
        body: models.ChangeAliasesOperation = call.body
        return self.engine.update_collection_aliases(change_aliases_operations=body.actions)

    @_route("GET", "/collections/{collection_name}/aliases", needs_collection=True)
    def _get_collection_aliases(self, call: _Call) -> models.CollectionsAliasesResponse:
        return self.engine.get_collection_aliases(call.collection)

    @_route("GET", "/collections/{collection_name}/exists")
    def _collection_exists(self, call: _Call) -> models.CollectionExistence:
        return models.CollectionExistence(exists=self.engine.collection_exists(call.collection))

    @_route("GET", "/collections/{collection_name}", needs_collection=True)
    def _get_collection(self, call: _Call) -> models.CollectionInfo:
        return self._collection_info(call.collection)

    @_route("PUT", "/collections/{collection_name}", models.CreateCollection)
    def _create_collection(self, call: _Call) -> bool:
        body: models.CreateCollection = call.body
        if self.engine.collection_exists(call.collection):
            raise _ApiError(409, f"Wrong input: Collection `{call.collection}` already exists!")
        self.engine.create_collection(
            call.collection,
            vectors_config=body.vectors,
            sparse_vectors_config=body.sparse_vectors,
            metadata=body.metadata,
        )
        self._extras[call.collection] = _Extras(
            params=body.model_dump(mode="json", include=_CREATE_PARAMS, exclude_none=True),
            hnsw=_diff(body.hnsw_config),
            optimizers=_diff(body.optimizers_config),
            wal=_diff(body.wal_config),
            quantization=body.quantization_config,
            strict_mode=_diff(body.strict_mode_config) if body.strict_mode_config else None,
        )
        return True

    @_route(
        "PATCH", "/collections/{collection_name}", models.UpdateCollection, needs_collection=True
    )
    def _update_collection(self, call: _Call) -> bool:
        body: models.UpdateCollection = call.body
        self.engine.update_collection(
            call.collection,
            sparse_vectors_config=body.sparse_vectors,
            metadata=body.metadata,
            vectors_config=body.vectors,
        )
        extras = self._extras_of(call.collection)
        extras.params.update(_diff(body.params))
        extras.hnsw.update(_diff(body.hnsw_config))
        extras.optimizers.update(_diff(body.optimizers_config))
        if body.quantization_config is not None:
            extras.quantization = _quantization(body.quantization_config)
        if body.strict_mode_config is not None:
            extras.strict_mode = {**(extras.strict_mode or {}), **_diff(body.strict_mode_config)}
        for vector_name, vector_diff in (body.vectors or {}).items():
            kept = extras.vectors.setdefault(vector_name, {})
            update = _diff(vector_diff)
            if "hnsw_config" in update:
                update["hnsw_config"] = {**kept.get("hnsw_config", {}), **update["hnsw_config"]}
            kept.update(update)
        return True

    @_route("DELETE", "/collections/{collection_name}")
    def _delete_collection(self, call: _Call) -> bool:
        self._extras.pop(call.collection, None)
        return self.engine.delete_collection(call.collection)

    @_route(
        "PUT",
        "/collections/{collection_name}/vectors/{vector_name}",
        models.VectorNameConfig,
        needs_collection=True,
    )
    def _create_vector_name(self, call: _Call) -> models.UpdateResult:
        self.engine.create_vector_name(call.collection, call.args["vector_name"], call.body)
        return self._update_result(call)

    @_route("DELETE", "/collections/{collection_name}/vectors/{vector_name}", needs_collection=True)
    def _delete_vector_name(self, call: _Call) -> models.UpdateResult:
        self.engine.delete_vector_name(call.collection, call.args["vector_name"])
        self._extras_of(call.collection).vectors.pop(call.args["vector_name"], None)
        return self._update_result(call)

    # --- payload indexes -------------------------------------------------------------------

    @_route(
        "PUT",
        "/collections/{collection_name}/index",
        models.CreateFieldIndex,
        needs_collection=True,
    )
    def _create_field_index(self, call: _Call) -> models.UpdateResult:
        body: models.CreateFieldIndex = call.body
        if body.field_schema is None:
            raise _ApiError(400, "Wrong input: `field_schema` is required")
        self.engine.create_payload_index(call.collection, body.field_name, body.field_schema)
        self._extras_of(call.collection).indexes[body.field_name] = body.field_schema
        return self._update_result(call)

    @_route("DELETE", "/collections/{collection_name}/index/{field_name}", needs_collection=True)
    def _delete_field_index(self, call: _Call) -> models.UpdateResult:
        self.engine.delete_payload_index(call.collection, call.args["field_name"])
        self._extras_of(call.collection).indexes.pop(call.args["field_name"], None)
        return self._update_result(call)

    # --- points ----------------------------------------------------------------------------

    @_route(
        "PUT",
        "/collections/{collection_name}/points",
        models.PointInsertOperations,
        needs_collection=True,
    )
    def _upsert(self, call: _Call) -> models.UpdateResult:
        body: models.PointsList | models.PointsBatch = call.body
        points = body.points if isinstance(body, models.PointsList) else body.batch
        self.engine.upsert(
            call.collection,
            points=points,
            update_filter=body.update_filter,
            update_mode=body.update_mode,
        )
        return self._update_result(call)

    @_route(
        "POST", "/collections/{collection_name}/points", models.PointRequest, needs_collection=True
    )
    def _retrieve(self, call: _Call) -> list[models.Record]:
        body: models.PointRequest = call.body
        return self.engine.retrieve(
            call.collection,
            ids=body.ids,
            with_payload=True if body.with_payload is None else body.with_payload,
            with_vectors=body.with_vector or False,
        )

    @_route("GET", "/collections/{collection_name}/points/{id}", needs_collection=True)
    def _get_point(self, call: _Call) -> models.Record:
        raw_id = call.args["id"]
        point_id: models.ExtendedPointId = int(raw_id) if raw_id.isdigit() else raw_id
        records = self.engine.retrieve(call.collection, ids=[point_id], with_vectors=True)
        if not records:
            raise _ApiError(404, f"Not found: No point with id {raw_id} found")
        return records[0]

    @_route(
        "POST",
        "/collections/{collection_name}/points/delete",
        models.PointsSelector,
        needs_collection=True,
    )
    def _delete_points(self, call: _Call) -> models.UpdateResult:
        self.engine.delete(call.collection, points_selector=call.body)
        return self._update_result(call)

    @_route(
        "POST",
        "/collections/{collection_name}/points/count",
        models.CountRequest,
        needs_collection=True,
    )
    def _count(self, call: _Call) -> models.CountResult:
        body: models.CountRequest = call.body
        return self.engine.count(call.collection, count_filter=body.filter)

    @_route(
        "POST",
        "/collections/{collection_name}/points/scroll",
        models.ScrollRequest,
        needs_collection=True,
    )
    def _scroll(self, call: _Call) -> models.ScrollResult:
        body: models.ScrollRequest = call.body
        points, next_offset = self.engine.scroll(
            call.collection,
            scroll_filter=body.filter,
            limit=10 if body.limit is None else body.limit,
            order_by=body.order_by,
            offset=body.offset,
            with_payload=True if body.with_payload is None else body.with_payload,
            with_vectors=body.with_vector or False,
        )
        return models.ScrollResult(points=points, next_page_offset=next_offset)

    def _query(self, collection: str, request: models.QueryRequest) -> models.QueryResponse:
        return self.engine.query_points(
            collection,
            query=_as_query(request.query),
            using=request.using,
            prefetch=request.prefetch,
            query_filter=request.filter,
            search_params=_search_params(request.params),
            limit=10 if request.limit is None else request.limit,
            offset=request.offset,
            with_payload=request.with_payload or False,
            with_vectors=request.with_vector or False,
            score_threshold=request.score_threshold,
            lookup_from=request.lookup_from,
        )

    @_route(
        "POST",
        "/collections/{collection_name}/points/query",
        models.QueryRequest,
        needs_collection=True,
    )
    def _query_points(self, call: _Call) -> models.QueryResponse:
        return self._query(call.collection, call.body)

    @_route(
        "POST",
        "/collections/{collection_name}/points/query/batch",
        models.QueryRequestBatch,
        needs_collection=True,
    )
    def _query_batch(self, call: _Call) -> list[models.QueryResponse]:
        body: models.QueryRequestBatch = call.body
        return [self._query(call.collection, request) for request in body.searches]

    @_route(
        "POST",
        "/collections/{collection_name}/points/query/groups",
        models.QueryGroupsRequest,
        needs_collection=True,
    )
    def _query_groups(self, call: _Call) -> models.GroupsResult:
        body: models.QueryGroupsRequest = call.body
        return self.engine.query_points_groups(
            call.collection,
            group_by=body.group_by,
            query=_as_query(body.query),
            using=body.using,
            prefetch=body.prefetch,
            query_filter=body.filter,
            search_params=_search_params(body.params),
            limit=10 if body.limit is None else body.limit,
            group_size=3 if body.group_size is None else body.group_size,
            with_payload=body.with_payload or False,
            with_vectors=body.with_vector or False,
            score_threshold=body.score_threshold,
            with_lookup=body.with_lookup,
            lookup_from=body.lookup_from,
        )

    @_route(
        "POST", "/collections/{collection_name}/facet", models.FacetRequest, needs_collection=True
    )
    def _facet(self, call: _Call) -> models.FacetResponse:
        body: models.FacetRequest = call.body
        return self.engine.facet(
            call.collection,
            key=body.key,
            facet_filter=body.filter,
            limit=10 if body.limit is None else body.limit,
            exact=bool(body.exact),
        )

    # --- payload and vectors ---------------------------------------------------------------

    @_route(
        "POST",
        "/collections/{collection_name}/points/payload",
        models.SetPayload,
        needs_collection=True,
    )
    def _set_payload(self, call: _Call) -> models.UpdateResult:
        body: models.SetPayload = call.body
        points = _ids_or_filter(body.points, body.filter)
        self.engine.set_payload(call.collection, payload=body.payload, points=points, key=body.key)
        return self._update_result(call)

    @_route(
        "PUT",
        "/collections/{collection_name}/points/payload",
        models.SetPayload,
        needs_collection=True,
    )
    def _overwrite_payload(self, call: _Call) -> models.UpdateResult:
        body: models.SetPayload = call.body
        points = _ids_or_filter(body.points, body.filter)
        self.engine.overwrite_payload(call.collection, payload=body.payload, points=points)
        return self._update_result(call)

    @_route(
        "POST",
        "/collections/{collection_name}/points/payload/delete",
        models.DeletePayload,
        needs_collection=True,
    )
    def _delete_payload(self, call: _Call) -> models.UpdateResult:
        body: models.DeletePayload = call.body
        points = _ids_or_filter(body.points, body.filter)
        self.engine.delete_payload(call.collection, keys=body.keys, points=points)
        return self._update_result(call)

    @_route(
        "POST",
        "/collections/{collection_name}/points/payload/clear",
        models.PointsSelector,
        needs_collection=True,
    )
    def _clear_payload(self, call: _Call) -> models.UpdateResult:
        self.engine.clear_payload(call.collection, points_selector=call.body)
        return self._update_result(call)

    @_route(
        "PUT",
        "/collections/{collection_name}/points/vectors",
        models.UpdateVectors,
        needs_collection=True,
    )
    def _update_vectors(self, call: _Call) -> models.UpdateResult:
        body: models.UpdateVectors = call.body
        self.engine.update_vectors(
            call.collection, points=body.points, update_filter=body.update_filter
        )
        return self._update_result(call)

    @_route(
        "POST",
        "/collections/{collection_name}/points/vectors/delete",
        models.DeleteVectors,
        needs_collection=True,
    )
    def _delete_vectors(self, call: _Call) -> models.UpdateResult:
        body: models.DeleteVectors = call.body
        points = _ids_or_filter(body.points, body.filter)
        self.engine.delete_vectors(call.collection, vectors=body.vector, points=points)
        return self._update_result(call)

    @_route(
        "POST",
        "/collections/{collection_name}/points/batch",
        models.UpdateOperations,
        needs_collection=True,
    )
    def _batch_update(self, call: _Call) -> list[models.UpdateResult]:
        body: models.UpdateOperations = call.body
        self.engine.batch_update_points(call.collection, update_operations=body.operations)
        return [self._update_result(call) for _ in body.operations]


class SilentServer:
    """A loopback TCP server that accepts connections and never answers (client timeouts).

    Attributes:
        url: ``http://127.0.0.1:<port>``, once started.
        port: the port, once started.
        connections: how many connections it has accepted.
    """

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._accepted: list[socket.socket] = []
        self._stopping = threading.Event()
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def start(self) -> SilentServer:
        """Listen on a free loopback port; accept from a daemon thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)  # held open, never read from nor written to

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        for connection in self._accepted:
            connection.close()
        self._listener = self._thread = None

    def __enter__(self) -> SilentServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
