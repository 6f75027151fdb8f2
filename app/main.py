"""The ASGI application: ``create_app()`` wires every edge together."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import asyncapi, metrics
from app.attachments_http import AttachmentDownloads
from app.contract_files import ContractDownloads
from app.db import close_database, database_configured, init_database, read_session
from app.graphiql import asset_routes
from app.graphql_http import GraphQLEndpoint
from app.hosts import TrustedHostMiddleware, effective_allowed_hosts, production_problems
from app.oauth import OAuthEndpoints
from app.policies import configure_policies
from app.report_files import ReportDownloads
from app.runtime import Runtime, build_runtime
from app.settings import Settings, get_settings
from app.vehicle_photos_http import VehiclePhotos
from app.webhooks import WebhookEndpoint
from app.ws import GraphQLWebSocket
from domain.shared import pan
from domain.shared.context import request_id_var
from workers.backbone import Backbone
from workers.relay import refresh_backlog_gauges

log = logging.getLogger("trama.app")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class RequestContextMiddleware:
    """Request id (taken from ``X-Request-ID`` when sane), echoed back; HTTP metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        sane = _REQUEST_ID.match(incoming) and not pan.contains_pan(incoming)
        request_id = incoming if sane else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            request_id_var.reset(token)
            if scope["type"] == "http":
                route = _route_label(scope)
                metrics.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
                metrics.HTTP_LATENCY.labels(scope["method"], route).observe(
                    time.perf_counter() - started
                )


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    checks: dict[str, Any] = {}
    ok = True
    runtime: Runtime = request.app.state.runtime
    try:
        async with read_session() as session:
            await session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        ok = False
        checks["database"] = f"error: {exc.__class__.__name__}"
        log.warning("readiness: database unreachable", exc_info=exc)
    if runtime.settings.redis_url:
        backbone = runtime.backbone
        try:
            if backbone is None:
                raise RuntimeError("the event backbone is not running")
            await asyncio.wait_for(asyncio.to_thread(backbone.ping_broker), timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:
            ok = False
            checks["broker"] = f"error: {exc.__class__.__name__}"
            log.warning("readiness: broker unreachable", exc_info=exc)
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


async def metrics_endpoint(request: Request) -> Response:
    if database_configured():
        try:
            await refresh_backlog_gauges()
        except Exception:
            log.warning("metrics: could not read the outbox backlog", exc_info=True)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    manage_database: bool = True,
    manage_backbone: bool | None = None,
) -> Starlette:
    """``manage_backbone`` (default: like ``manage_database``) starts the event backbone
    with the app: relay, fan-out, and in embedded mode the workers and scheduler."""
    if manage_backbone is None:
        manage_backbone = manage_database
    settings = settings or get_settings()
    runtime = runtime or build_runtime(settings)
    graphql = GraphQLEndpoint(runtime)
    oauth = OAuthEndpoints(runtime)
    downloads = AttachmentDownloads(runtime)
    photos = VehiclePhotos(runtime)
    report_downloads = ReportDownloads(runtime)
    contract_downloads = ContractDownloads(runtime)
    ws = GraphQLWebSocket(runtime)
    webhooks = WebhookEndpoint(settings)

    async def index(request: Request) -> Response:
        return RedirectResponse("/graphql", status_code=307)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        problems = production_problems(settings)
        if problems:
            raise RuntimeError("; ".join(problems))
        configure_policies(settings)
        if manage_database:
            init_database(
                settings.effective_database_url,
                pool_size=settings.db_pool_size,
                echo=settings.db_echo,
            )
        backbone: Backbone | None = None
        if manage_backbone:
            backbone = Backbone(settings, role="api")
            await backbone.start()
            runtime.backbone = backbone
        try:
            yield
        finally:
            if backbone is not None:
                runtime.backbone = None
                await backbone.stop()
            if manage_database:
                await close_database()
            if runtime.rate_limiter is not None:
                await runtime.rate_limiter.close()
            if runtime.attachments is not None:
                await runtime.attachments.checks.close()
            await runtime.persisted_queries.close()

    routes = [
        Route("/", index),
        Route(
            "/graphql",
            graphql.handle,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
        ),
        WebSocketRoute("/graphql", ws),
        Route("/oauth/token", oauth.token, methods=["POST"]),
        Route("/webhooks/{source}", webhooks.handle, methods=["POST"]),
        Route("/attachments/{id}", downloads.download, methods=["GET"]),
        Route("/vehicle-photos/{id}", photos.photo, methods=["GET"]),
        Route("/reports/{id}/{format}", report_downloads.download, methods=["GET"]),
        Route("/contracts/{id}/{document}", contract_downloads.download, methods=["GET"]),
        Route("/.well-known/jwks.json", oauth.jwks),
        Route("/.well-known/openid-configuration", oauth.openid_configuration),
        Route(asyncapi.PATH, asyncapi.asyncapi_document),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *asset_routes(),
    ]
    middleware = [Middleware(RequestContextMiddleware)]
    allowed_hosts = effective_allowed_hosts(settings)
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, patterns=allowed_hosts))
    if settings.allowed_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.allowed_origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "x-request-id",
                    "apollo-require-preflight",
                    "x-apollo-operation-name",
                ],
                expose_headers=["x-request-id", "content-disposition", "x-attachment-sha256"],
                max_age=600,
            )
        )
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = runtime
    return app
