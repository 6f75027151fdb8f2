"""Persisted queries: Apollo's automatic persisted queries (APQ) and the allow-list.

``TRAMA_PERSISTED_QUERIES`` chooses the mode:

- ``apq`` (default): Apollo's protocol. A client sends
  ``extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex SHA-256 of the
  document>"}`` without the document; a known hash runs the document it names, an unknown
  one answers ``PersistedQueryNotFound`` (``extensions.code PERSISTED_QUERY_NOT_FOUND``,
  HTTP 200, ``Cache-Control: private, no-cache, must-revalidate``, as Apollo Server does)
  and the client sends the hash again with the document, which registers it once it parses
  and validates (its SHA-256 must be the hash: otherwise 400). Documents are kept in Redis
  when ``TRAMA_REDIS_URL`` is set (shared by every API process, ``TRAMA_APQ_TTL`` seconds),
  in memory otherwise, and in a bounded per-process LRU in front of either (a hash always
  names the same text, so that copy is never stale). Registered documents of the allow-list
  are served by hash too. GET works with the hash (``?extensions=…&variables=…``): a
  public query (only the anonymous calculators' root fields) asked anonymously by GET gets
  ``Cache-Control: public, max-age=TRAMA_PUBLIC_CACHE_MAX_AGE`` so a CDN can keep it; every
  other GraphQL answer gets ``Cache-Control: no-store``.
- ``allowlist`` (production): only documents registered with ``trama persisted-queries
  add`` run, whether sent by hash or in full; anything else is refused with
  ``PERSISTED_QUERY_NOT_IN_LIST`` (HTTP 403; over WebSocket an ``error`` message) and
  nothing runs. A hash not registered answers
  ``PersistedQueryNotFound`` (the client then sends the document and gets the refusal). The
  federation router's clients (TRAMA_FEDERATION_ROUTER_CLIENTS) are exempt: the router
  builds its subgraph queries at run time.
- ``off``: a request carrying ``persistedQuery`` gets ``PersistedQueryNotSupported``
  (Apollo clients then stop sending hashes); documents run as sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLSchema, OperationDefinitionNode, parse, validate
from graphql.error import GraphQLError
from graphql.language import FieldNode

from app.settings import Settings

log = logging.getLogger("trama.persisted_queries")

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
#: What Apollo Server sends with PersistedQueryNotFound / NotSupported.
NO_CACHE = "private, no-cache, must-revalidate"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def cacheable_root_fields() -> frozenset[str]:
    """Root fields whose answers do not depend on who asks (the anonymous calculators):
    an anonymous GET of them is public."""
    from schema.operations import PUBLIC_ROOT_FIELDS

    return frozenset(PUBLIC_ROOT_FIELDS) - {"__schema", "__type"}


#: The key under which the request's persisted-query hash is noted in its params.
USED = "__trama_persisted_query"


class PersistedQueryProblem(Exception):
    """The request cannot run; answered as a GraphQL request error with ``code``."""

    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def not_found() -> PersistedQueryProblem:
    return PersistedQueryProblem(
        200, "PersistedQueryNotFound", NOT_FOUND, {"Cache-Control": NO_CACHE}
    )


def not_supported() -> PersistedQueryProblem:
    return PersistedQueryProblem(
        200, "PersistedQueryNotSupported", NOT_SUPPORTED, {"Cache-Control": NO_CACHE}
    )


def not_in_list(sha: str) -> PersistedQueryProblem:
    return PersistedQueryProblem(
        403,
        f"this API runs registered documents only (allow-list); the document {sha} is not "
        "registered (trama persisted-queries add)",
        NOT_IN_LIST,
    )


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


# --- what a document asks ---------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    kind: str  # "query" | "mutation" | "subscription"
    #: Root field names, or None when the root selection uses fragments.
    root_fields: frozenset[str] | None


class DocumentShapes:
    """Operations of documents, parsed once each (bounded LRU, parse bounded by tokens)."""

    def __init__(self, max_tokens: int, max_entries: int = 2048) -> None:
        self.max_tokens = max_tokens
        self.max_entries = max_entries
        self._cache: OrderedDict[str, dict[str | None, Operation] | None] = OrderedDict()

    def operations(self, document: str) -> dict[str | None, Operation] | None:
        """Operations by name (None: an anonymous one), or None if it does not parse."""
        key = sha256_of(document) if len(document) > 256 else document
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        try:
            node = parse(document, no_location=True, max_tokens=self.max_tokens)
        except GraphQLError:
            found = None
        else:
            found = {}
            for definition in node.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                selections = definition.selection_set.selections
                names = [s.name.value for s in selections if isinstance(s, FieldNode)]
                fields = frozenset(names) if len(names) == len(selections) else None
                name = definition.name.value if definition.name else None
                found[name] = Operation(definition.operation.value, fields)
        self._cache[key] = found
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return found

    def operation(self, document: str, name: str | None) -> Operation | None:
        """The operation a request runs (by ``operationName``, or the only one)."""
        found = self.operations(document)
        if not found:
            return None
        if name is not None:
            return found.get(name)
        return next(iter(found.values())) if len(found) == 1 else None


# --- where documents are kept -------------------------------------------------------------
class MemoryStore:
    """Documents by hash, least recently used first out, bounded in count and characters."""

    def __init__(self, max_entries: int, max_chars: int) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._docs: OrderedDict[str, str] = OrderedDict()
        self._chars = 0

    def get_now(self, sha: str) -> str | None:
        document = self._docs.get(sha)
        if document is not None:
            self._docs.move_to_end(sha)
        return document

    def put_now(self, sha: str, document: str) -> None:
        if len(document) > self.max_chars:
            return
        if sha in self._docs:
            self._docs.move_to_end(sha)
            return
        self._docs[sha] = document
        self._chars += len(document)
        while len(self._docs) > self.max_entries or self._chars > self.max_chars:
            _, dropped = self._docs.popitem(last=False)
            self._chars -= len(dropped)

    async def get(self, sha: str) -> str | None:
        return self.get_now(sha)

    async def put(self, sha: str, document: str) -> None:
        self.put_now(sha, document)

    async def close(self) -> None:
        return None


class RedisStore:
    """Documents in Redis under ``<namespace>:apq:<hash>`` for ``ttl`` seconds, shared by
    every API process. When Redis fails, a lookup misses (the client sends the document
    again) and a registration is kept locally only; neither fails the request."""

    def __init__(self, url: str, namespace: str, ttl: int, client: Any = None) -> None:
        if client is None:
            import redis.asyncio as redis_asyncio

            client = redis_asyncio.Redis.from_url(
                url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
        self.redis = client
        self.prefix = f"{namespace}:apq:"
        self.ttl = ttl
        self._warned_at = float("-inf")

    def _warn(self, exc: Exception) -> None:
        moment = time.monotonic()
        if moment - self._warned_at >= 60:
            self._warned_at = moment
            log.warning("persisted queries: Redis unavailable (%s)", exc.__class__.__name__)

    async def get(self, sha: str) -> str | None:
        try:
            raw = await self.redis.get(self.prefix + sha)
        except Exception as exc:
            self._warn(exc)
            return None
        if raw is None:
            return None
        document = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        # Content-addressed: a value that is not the hash's document is never run.
        return document if sha256_of(document) == sha else None

    async def put(self, sha: str, document: str) -> None:
        try:
            await self.redis.set(self.prefix + sha, document.encode("utf-8"), ex=self.ttl)
        except Exception as exc:
            self._warn(exc)

    async def close(self) -> None:
        await self.redis.aclose()


class AllowList:
    """The registered documents (table ``persisted_queries``), kept per process and read
    again every ``refresh`` seconds, or when a hash is not in it (at most every
    ``miss_interval`` seconds) — a document added a moment ago is found on its first use, or
    ``miss_interval`` later if that very hash was just asked for."""

    def __init__(self, refresh: float = 30.0, miss_interval: float = 2.0) -> None:
        self.refresh = refresh
        self.miss_interval = min(miss_interval, refresh)
        self._docs: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _load(self) -> None:
        from app.db import read_session
        from domain.persisted_queries import service

        async with read_session() as session:
            self._docs = await service.documents_by_hash(session)
        self._loaded_at = time.monotonic()

    async def _reload_if(self, older_than: float) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at >= older_than:
                await self._load()

    async def get(self, sha: str) -> str | None:
        if time.monotonic() - self._loaded_at >= self.refresh:
            await self._reload_if(self.refresh)
        found = self._docs.get(sha)
        if found is None and time.monotonic() - self._loaded_at >= self.miss_interval:
            await self._reload_if(self.miss_interval)
            found = self._docs.get(sha)
        return found

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")


class PersistedQueries:
    """The mode of TRAMA_PERSISTED_QUERIES applied to a request (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        schema: GraphQLSchema,
        *,
        store: MemoryStore | RedisStore | None = None,
        allow_list: AllowList | None = None,
    ) -> None:
        self.settings = settings
        self.mode = settings.persisted_queries
        self.schema = schema
        self.shapes = DocumentShapes(settings.max_tokens)
        #: The documents seen in this process (in front of Redis, or the only store).
        self.local = MemoryStore(settings.apq_cache_size, settings.apq_cache_chars)
        if store is None and settings.redis_url:
            store = RedisStore(settings.redis_url, settings.redis_namespace, settings.apq_ttl)
        self.store = store
        self.allow_list = allow_list or AllowList(refresh=settings.persisted_queries_refresh)
        self.exempt_clients = frozenset(settings.federation_router_clients)
        self.cacheable_fields = cacheable_root_fields()

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    # the request ---------------------------------------------------------------------------
    @staticmethod
    def requested(data: dict[str, Any]) -> dict[str, Any] | None:
        extensions = data.get("extensions")
        if not isinstance(extensions, dict):
            return None
        found = extensions.get("persistedQuery")
        if found is None:
            return None
        if not isinstance(found, dict):
            raise PersistedQueryProblem(
                400, "`extensions.persistedQuery` must be an object", "BAD_REQUEST"
            )
        return found

    async def resolve(self, data: dict[str, Any]) -> dict[str, Any]:
        """Fill in ``query`` from ``extensions.persistedQuery``, registering a new document
        in APQ mode; raises :class:`PersistedQueryProblem`."""
        requested = self.requested(data)
        if requested is None:
            return data
        if self.mode == "off":
            raise not_supported()
        if requested.get("version") != 1:
            raise PersistedQueryProblem(400, "Unsupported persisted query version", "BAD_REQUEST")
        sha = requested.get("sha256Hash")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise PersistedQueryProblem(
                400, "`persistedQuery.sha256Hash` must be a hex SHA-256", "BAD_REQUEST"
            )
        sha = sha.lower()
        query = data.get("query")
        if isinstance(query, str) and query:
            if sha256_of(query) != sha:
                raise PersistedQueryProblem(400, "provided sha does not match query", "BAD_REQUEST")
            if self.mode == "apq":
                await self._register(sha, query)
            data[USED] = sha
            return data
        document = await self._find(sha)
        if document is None:
            raise not_found()
        data["query"] = document
        data[USED] = sha
        return data

    async def _find(self, sha: str) -> str | None:
        document = self.local.get_now(sha)
        if document is not None:
            return document
        document = await self.allow_list.get(sha)
        if document is None and self.mode == "apq" and self.store is not None:
            document = await self.store.get(sha)
        if document is not None:
            self.local.put_now(sha, document)
        return document

    async def _register(self, sha: str, query: str) -> None:
        """Keep a document sent with its hash, once it parses and validates (a document
        that cannot run is not worth a slot; its errors come from the execution)."""
        if self.local.get_now(sha) is not None:
            return
        try:
            node = parse(query, no_location=True, max_tokens=self.settings.max_tokens)
        except GraphQLError:
            return
        if validate(self.schema, node):
            return
        self.local.put_now(sha, query)
        if self.store is not None:
            await self.store.put(sha, query)

    async def admit(self, data: dict[str, Any], principal: Any) -> None:
        """Allow-list mode: refuse a document that is not registered (raises)."""
        if self.mode != "allowlist":
            return
        client = getattr(principal, "client_id", None)
        if client is not None and client in self.exempt_clients:
            return
        query = data.get("query")
        if not isinstance(query, str):
            return  # refused later as a request without a document
        sha = data.get(USED) or sha256_of(query)
        registered = await self.allow_list.get(sha)
        if registered is None or registered != query:
            raise not_in_list(sha)

    def cacheable(self, data: dict[str, Any]) -> bool:
        """Whether the answer to ``data`` is the same for every anonymous caller."""
        query = data.get("query")
        if not isinstance(query, str):
            return False
        name = data.get("operationName")
        operation = self.shapes.operation(query, name if isinstance(name, str) else None)
        return (
            operation is not None
            and operation.kind == "query"
            and operation.root_fields is not None
            and bool(operation.root_fields)
            and operation.root_fields <= self.cacheable_fields
        )

    def is_query(self, data: dict[str, Any]) -> bool:
        query = data.get("query")
        if not isinstance(query, str):
            return False
        name = data.get("operationName")
        operation = self.shapes.operation(query, name if isinstance(name, str) else None)
        return operation is not None and operation.kind == "query"


def build_persisted_queries(settings: Settings, schema: GraphQLSchema) -> PersistedQueries:
    return PersistedQueries(settings, schema)


__all__ = [
    "NOT_FOUND",
    "NOT_IN_LIST",
    "NOT_SUPPORTED",
    "USED",
    "AllowList",
    "MemoryStore",
    "PersistedQueries",
    "PersistedQueryProblem",
    "RedisStore",
    "build_persisted_queries",
    "sha256_of",
]
