"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/).

Clients that accept ``application/graphql-response+json`` get it, with the status codes
the spec gives (400 for a document that does not parse or validate, 401 without
credentials, 500 when nothing could be computed). Legacy ``application/json`` clients get
200 for every well-formed request. Every error carries ``extensions.code``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app import metrics
from app.auth.tokens import TokenError
from app.compiled.engine import CompiledReads
from app.db import request_reads
from app.graphiql import graphiql_html
from app.graphql_uploads import MULTIPART, UploadRefused, read_multipart
from app.persisted_queries import PersistedQueryProblem
from app.runtime import Runtime
from domain.shared.context import request_id_var
from resolvers.context import Context
from resolvers.loaders import Loaders

log = logging.getLogger("trama.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"

_STATUS_BY_CODE = {
    "GRAPHQL_PARSE_FAILED": 400,
    "GRAPHQL_VALIDATION_FAILED": 400,
    "BAD_USER_INPUT": 400,
    "BAD_REQUEST": 400,
    "VALIDATION": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
}


class HTTPProblem(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def _accepts(request: Request) -> str | None:
    """The media type to answer with, or None when the client accepts neither."""
    header = request.headers.get("accept", "")
    if not header.strip():
        return JSON
    candidates: list[tuple[float, bool, int, str]] = []
    for index, part in enumerate(header.split(",")):
        media, *params = [p.strip().lower() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            candidates.append((q, True, -index, GRAPHQL_RESPONSE))
        elif media in (JSON, "application/*", "*/*"):
            candidates.append((q, False, -index, JSON))
    # Highest q wins; on a tie graphql-response+json, then the earlier entry.
    return max(candidates)[3] if candidates else None


def _quotable(text: str, limit: int = 200) -> str:
    """Text safe inside a quoted header parameter (RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E).

    Token errors may quote what the client sent (its ``alg``, say); sent back raw, a quote
    would break the header and a non-Latin-1 character would make Starlette fail with a 500.
    """
    safe = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)
    return safe[:limit]


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _error_body(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extra}}]}


class GraphQLEndpoint:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        #: APQ and the allow-list (app/persisted_queries.py).
        self.persisted = runtime.persisted_queries
        #: Query operations answered from their compiled plans (app/compiled).
        self.compiled = CompiledReads(runtime.schema, runtime.settings)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        media = _accepts(request)
        try:
            if request.method not in ("GET", "POST"):
                raise HTTPProblem(
                    405, "GraphQL answers GET and POST only", headers={"Allow": "GET, POST"}
                )
            if request.method == "GET" and self._wants_ide(request):
                return await self._ide(request)
            if media is None:
                raise HTTPProblem(406, f"accept {GRAPHQL_RESPONSE} or {JSON}")
            if _content_type(request) == MULTIPART:
                # Uploads are never anonymous: refuse before reading megabytes.
                principal, auth_error = await self._authenticate(request)
                if principal is None:
                    raise HTTPProblem(
                        401,
                        "uploads need a Bearer token",
                        code="UNAUTHENTICATED",
                        headers={"WWW-Authenticate": 'Bearer realm="trama"'},
                    )
                params = await self._params(request)
            else:
                params = await self._params(request)
                principal, auth_error = await self._authenticate(request)
            await self._admit(params, principal)
            if request.method == "GET" or self.persisted.is_query(params):
                # A query's read sessions share one connection (app/db.py).
                async with request_reads():
                    response = await self._execute(
                        request, media, params, principal, auth_error, started
                    )
            else:
                response = await self._execute(
                    request, media, params, principal, auth_error, started
                )
            return self._cache_control(request, params, principal, response)
        except HTTPProblem as problem:
            metrics.GRAPHQL_ERRORS.labels(problem.code).inc()
            return Response(
                orjson.dumps(_error_body(problem.message, problem.code)),
                status_code=problem.status,
                media_type=media or JSON,
                headers=problem.headers,
            )
        finally:
            form = getattr(request.state, "upload_form", None)
            if form is not None:
                await form.close()  # the uploads' temporary files

    # --- the request ---------------------------------------------------------------------
    def _wants_ide(self, request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return "text/html" in accept and "query" not in request.query_params

    async def _ide(self, request: Request) -> Response:
        if not self.settings.graphiql_enabled:
            raise HTTPProblem(404, "GraphiQL is disabled here", code="NOT_FOUND")
        headers = None
        if self.runtime.demo_token is not None:
            token = await self.runtime.demo_token()
            if token:
                headers = {"Authorization": f"Bearer {token}"}
        return HTMLResponse(graphiql_html(endpoint=request.url.path, headers=headers))

    async def _params(self, request: Request) -> dict[str, Any]:
        """The request's query, variables, operation name and extensions, with a persisted
        query's document filled in (app/persisted_queries.py)."""
        data = await self._decode(request)
        try:
            return await self.persisted.resolve(data)
        except PersistedQueryProblem as problem:
            raise HTTPProblem(
                problem.status, problem.message, code=problem.code, headers=problem.headers
            ) from None

    async def _admit(self, params: dict[str, Any], principal: Any) -> None:
        try:
            await self.persisted.admit(params, principal)
        except PersistedQueryProblem as problem:
            raise HTTPProblem(
                problem.status, problem.message, code=problem.code, headers=problem.headers
            ) from None

    def _cache_control(
        self, request: Request, params: dict[str, Any], principal: Any, response: Response
    ) -> Response:
        """``public, max-age`` for an anonymous GET of a public query that succeeded (a CDN
        may keep it: the same for every anonymous caller); ``no-store`` for the rest."""
        if "cache-control" in response.headers:
            return response
        max_age = self.settings.public_cache_max_age
        if (
            max_age > 0
            and request.method == "GET"
            and principal is None
            and "authorization" not in request.headers
            and response.status_code == 200
            and self.persisted.cacheable(params)
            and b'"errors"' not in bytes(response.body)
        ):
            response.headers["Cache-Control"] = f"public, max-age={max_age}"
            response.headers["Vary"] = "Accept, Authorization"
        else:
            response.headers["Cache-Control"] = "no-store"
        return response

    async def _decode(self, request: Request) -> dict[str, Any]:
        if request.method == "GET":
            raw: dict[str, Any] = dict(request.query_params)
            for key in ("variables", "extensions"):
                if raw.get(key):
                    raw[key] = self._json(raw[key], key)
            return self._check(raw)
        content_type = _content_type(request)
        if content_type == MULTIPART:
            try:
                return self._check(await read_multipart(request, self.settings))
            except UploadRefused as exc:
                raise HTTPProblem(exc.status, exc.message, code=exc.code) from None
        if content_type not in (JSON, "application/graphql+json"):
            raise HTTPProblem(
                415,
                "send the request as application/json (or multipart/form-data with files)",
                headers={"Accept-Post": f"{JSON}, {MULTIPART}"},
            )
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_body_bytes:
            raise HTTPProblem(413, "the request body is too large", code="PAYLOAD_TOO_LARGE")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > self.settings.max_body_bytes:
                raise HTTPProblem(413, "the request body is too large", code="PAYLOAD_TOO_LARGE")
        data = self._json(bytes(body), "body")
        if isinstance(data, list):
            raise HTTPProblem(400, "batched requests are not supported; send one operation")
        if not isinstance(data, dict):
            raise HTTPProblem(400, "the body must be a JSON object")
        return self._check(data)

    @staticmethod
    def _json(raw: str | bytes, what: str) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise HTTPProblem(400, f"the {what} is not valid JSON") from None

    @staticmethod
    def _check(data: dict[str, Any]) -> dict[str, Any]:
        for key in ("variables", "extensions"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise HTTPProblem(400, f"`{key}` must be a JSON object")
        query = data.get("query")
        persisted = (data.get("extensions") or {}).get("persistedQuery") is not None
        if not persisted and (not isinstance(query, str) or not query.strip()):
            raise HTTPProblem(400, "a non-empty `query` string is required")
        if persisted and query is not None and not isinstance(query, str):
            raise HTTPProblem(400, "`query` must be a string")
        name = data.get("operationName")
        if name is not None and not isinstance(name, str):
            raise HTTPProblem(400, "`operationName` must be a string")
        return data

    async def _authenticate(self, request: Request) -> tuple[Any, str | None]:
        try:
            principal = await self.runtime.authenticator.authenticate(
                request.headers.get("authorization")
            )
        except TokenError as exc:
            raise HTTPProblem(
                401,
                exc.message,
                code="UNAUTHENTICATED",
                headers={
                    "WWW-Authenticate": f'Bearer error="invalid_token", '
                    f'error_description="{_quotable(exc.message)}"'
                },
            ) from None
        return principal, None

    # --- execution -----------------------------------------------------------------------
    async def _execute(
        self,
        request: Request,
        media: str,
        params: dict[str, Any],
        principal: Any,
        auth_error: str | None,
        started: float,
    ) -> Response:
        operation = metrics.operation_label(params.get("operationName"))
        compiled = self.compiled
        if compiled.mode == "on" and principal is not None:
            body = await compiled.answer(params, principal)
            if body is not None:
                metrics.GRAPHQL_OPERATIONS.labels(operation, "http").inc()
                metrics.GRAPHQL_LATENCY.labels(operation).observe(time.perf_counter() - started)
                return Response(body, media_type=media)
        result = await self._run(request, params, principal, auth_error)
        response = self._respond(result, media, operation, started)
        if compiled.mode == "on" and result.data is not None:
            compiled.learn(params)
        elif compiled.mode == "shadow":

            async def normal(other: Any) -> tuple[bytes, bool]:
                again = await self._run(request, params, other, None)
                return bytes(self._body(again)[0]), again.data is not None

            await compiled.shadow(
                params, principal, bytes(response.body), result.data is not None, normal
            )
        return response

    async def _run(
        self, request: Request, params: dict[str, Any], principal: Any, auth_error: str | None
    ) -> ExecutionResult:
        """The normal path: strawberry and graphql-core, field by field."""
        context = Context(
            request_id=request_id_var.get() or "-",
            principal=principal,
            loaders=Loaders(),
            request=request,
            settings=self.settings,
            auth_error=auth_error,
            backbone=self.runtime.backbone,
            rate_limiter=self.runtime.rate_limiter,
            attachments=self.runtime.attachments,
        )
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        try:
            return await self.runtime.schema.execute(
                params["query"],
                variable_values=params.get("variables"),
                context_value=context,
                operation_name=params.get("operationName"),
                allowed_operation_types=allowed,
                operation_extensions=params.get("extensions"),
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise HTTPProblem(
                    400, "subscriptions are served over WebSocket at this URL"
                ) from None
            raise HTTPProblem(
                405, "mutations must be sent with POST", headers={"Allow": "POST"}
            ) from None
        except CannotGetOperationTypeError as exc:
            raise HTTPProblem(400, exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise HTTPProblem(400, "a non-empty `query` string is required") from None

    @staticmethod
    def _body(result: ExecutionResult) -> tuple[bytes, bool]:
        """The response body of ``result``, and whether it is a request error (nothing ran)."""
        body: dict[str, Any] = {}
        errors = result.errors or []
        if errors:
            body["errors"] = [e.formatted for e in errors]
        # A request error (nothing executed) has no `data`; once execution starts it is kept.
        request_error = bool(result.data is None and errors and all(e.path is None for e in errors))
        if not request_error:
            body["data"] = result.data
        if result.extensions:
            body["extensions"] = result.extensions
        return orjson.dumps(body), request_error

    def _respond(
        self, result: ExecutionResult, media: str, operation: str, started: float
    ) -> Response:
        status = 200
        errors = result.errors or []
        for error in errors:
            metrics.GRAPHQL_ERRORS.labels((error.extensions or {}).get("code", "UNKNOWN")).inc()
        body, request_error = self._body(result)
        if request_error and media == GRAPHQL_RESPONSE:
            status = _STATUS_BY_CODE.get((errors[0].extensions or {}).get("code", ""), 400)
        metrics.GRAPHQL_OPERATIONS.labels(operation, "http").inc()
        metrics.GRAPHQL_LATENCY.labels(operation).observe(time.perf_counter() - started)
        headers = {"WWW-Authenticate": 'Bearer realm="trama"'} if status == 401 else {}
        retry = [
            extensions["retryAfter"]
            for extensions in (e.extensions or {} for e in errors)
            if extensions.get("code") == "RATE_LIMITED" and "retryAfter" in extensions
        ]
        if retry:
            headers["Retry-After"] = str(max(retry))
        return Response(body, status_code=status, media_type=media, headers=headers)
