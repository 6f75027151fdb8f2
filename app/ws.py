"""GraphQL over WebSocket (``graphql-transport-ws`` and legacy ``graphql-ws``).

The client authenticates in ``connection_init``: ``{"Authorization": "Bearer <token>"}``
(``authorization`` or ``token`` are accepted too). Without a valid token the connection is
closed with 4403 and a reason that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from app.auth.tokens import TokenError
from app.runtime import Runtime
from domain.shared.context import request_id_var
from resolvers.context import Context
from resolvers.loaders import Loaders


class _Adapter(ASGIWebSocketAdapter):
    async def close(self, code: int, reason: str) -> None:
        # Say why a connection was refused instead of a bare "Forbidden".
        detail = getattr(self.ws.state, "close_reason", None)
        if code == 4403 and detail:
            reason = f"Forbidden: {detail}"[:120]
        await super().close(code, reason)


class WSContext(Context):
    connection_params: dict[str, Any] | None = None


class GraphQLWebSocket(GraphQL):
    websocket_adapter_class = _Adapter

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
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
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
