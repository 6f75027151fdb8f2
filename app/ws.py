"""GraphQL over WebSocket (``graphql-transport-ws`` and legacy ``graphql-ws``).

The client authenticates in ``connection_init``: ``{"Authorization": "Bearer <token>"}``
(``authorization`` or ``token`` are accepted too). Without a valid token the connection is
closed with 4403 and a reason that says why.

A client may go at any moment: a send that finds it gone ends its operation quietly (it is
not our failure, and is logged at DEBUG), whichever protocol it spoke. Reaching
TRAMA_MAX_SUBSCRIPTIONS_PER_CONNECTION is answered with an error coded ``BAD_REQUEST``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.websockets import WebSocket
from starlette.websockets import WebSocketDisconnected as StarletteClosed
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage
from strawberry.types.unset import UnsetType

from app.auth.tokens import TokenError
from app.persisted_queries import PersistedQueryProblem
from app.runtime import Runtime
from domain.shared.context import request_id_var
from resolvers.context import Context
from resolvers.loaders import Loaders

log = logging.getLogger("trama.ws")


class _Adapter(ASGIWebSocketAdapter):
    async def send_json(self, message: Mapping[str, object]) -> None:
        # Strawberry turns Starlette's WebSocketDisconnect into its own WebSocketDisconnected;
        # a send after the connection was closed (Starlette's RuntimeError) or on a dead
        # socket means the same thing: the client is gone.
        try:
            await super().send_json(message)
        except (StarletteClosed, OSError) as exc:
            raise WebSocketDisconnected from exc

    async def close(self, code: int, reason: str) -> None:
        # Say why a connection was refused instead of a bare "Forbidden".
        detail = getattr(self.ws.state, "close_reason", None)
        if code == 4403 and detail:
            reason = f"Forbidden: {detail}"[:120]
        await super().close(code, reason)


class WSContext(Context):
    connection_params: dict[str, Any] | None = None


def _limit_error(limit: int) -> GraphQLError:
    return GraphQLError(
        f"at most {limit} operations at once on one connection: complete one first, or open "
        "another connection",
        extensions={"code": "BAD_REQUEST"},
    )


async def _not_listed(handler: Any, query: object) -> GraphQLError | None:
    """Allow-list mode (TRAMA_PERSISTED_QUERIES=allowlist): the refusal of a document that
    is not registered, as on HTTP (app/persisted_queries.py)."""
    try:
        await handler.view.runtime.persisted_queries.admit(
            {"query": query}, getattr(handler.context, "principal", None)
        )
    except PersistedQueryProblem as problem:
        return GraphQLError(problem.message, extensions={"code": problem.code})
    return None


class _TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        refusal = await _not_listed(self, (message.get("payload") or {}).get("query"))
        if refusal is not None:
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [refusal.formatted]}
            )
            return
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = _limit_error(limit)
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)

    async def handle_task_exception(self, error: Exception) -> None:
        if isinstance(error, WebSocketDisconnected):
            log.debug("client gone while an operation was sending to it")
            return
        await super().handle_task_exception(error)


class _LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    async def handle_start(self, message: StartMessage) -> None:
        refusal = await _not_listed(self, (message.get("payload") or {}).get("query"))
        if refusal is not None:
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": refusal.formatted}
            )
            return
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and self.connection_acknowledged
            and message["id"] not in self.tasks
            and len(self.tasks) >= limit
        ):
            error = _limit_error(limit)
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": error.formatted}
            )
            return
        await super().handle_start(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        try:
            await super().handle_async_results(operation_id, query, operation_name, variables)
        except WebSocketDisconnected:
            # Left unhandled, the task would end with it and asyncio would log "Task
            # exception was never retrieved" with a stack trace.
            log.debug("client gone while an operation was sending to it")


class GraphQLWebSocket(GraphQL):
    websocket_adapter_class = _Adapter
    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            runtime.schema,
            graphql_ide=None,
            keep_alive=True,
            keep_alive_interval=settings.ws_keepalive_interval,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.allowed_origins,
        )
        self.runtime = runtime

    async def get_context(self, request: Request | WebSocket, response: Any) -> WSContext:  # type: ignore[override]
        # RequestContextMiddleware already took X-Request-ID if it was sane (no card number,
        # a short token) and made one up otherwise; never the raw header here.
        request_id = request_id_var.get() or uuid.uuid4().hex
        request_id_var.set(request_id)
        return WSContext(
            request_id=request_id,
            principal=None,
            loaders=Loaders(),
            request=request,
            settings=self.runtime.settings,
            backbone=self.runtime.backbone,
            rate_limiter=self.runtime.rate_limiter,
            attachments=self.runtime.attachments,
        )

    async def on_ws_connect(self, context: WSContext) -> UnsetType | dict[str, object] | None:  # type: ignore[override]
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization")
        if raw is None and isinstance(params.get("token"), str):
            raw = f"Bearer {params['token']}"
        websocket = context.request
        if not isinstance(raw, str):
            websocket.state.close_reason = "send 'Authorization: Bearer <token>' in connection_init"
            raise ConnectionRejectionError()
        try:
            principal = await self.runtime.authenticator.authenticate(raw)
        except TokenError as exc:
            websocket.state.close_reason = exc.message
            raise ConnectionRejectionError() from None
        context.principal = principal
        if principal is not None:
            _close_when_expired(websocket, principal.claims.get("exp"))
        return {"subject": principal.subject} if principal else None


#: Close code when the token the connection authenticated with expires.
TOKEN_EXPIRED_CLOSE = 4401


def _close_when_expired(websocket: Any, exp: object) -> None:
    """End the connection, with a clear reason, when its token expires."""
    if not isinstance(exp, int | float):
        return
    delay = max(0.0, float(exp) - time.time())
    loop = asyncio.get_running_loop()

    async def close() -> None:
        with contextlib.suppress(Exception):
            await websocket.close(
                code=TOKEN_EXPIRED_CLOSE,
                reason="Unauthorized: token expired; reconnect with a new token",
            )

    handle = loop.call_later(delay, lambda: loop.create_task(close()))
    websocket.state.expiry_timer = handle
