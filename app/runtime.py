"""The process-wide services the HTTP and WebSocket edges share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.auth.keys import KeyStore
from app.auth.principals import Authenticator
from app.auth.tokens import TokenService
from app.persisted_queries import PersistedQueries, build_persisted_queries
from app.ratelimit import CallerLimiter, build_limiter
from app.settings import Settings
from app.storage import Attachments, build_attachments
from schema import TramaSchema, create_schema
from schema.cost import CostPolicy


@dataclass
class Runtime:
    settings: Settings
    schema: TramaSchema
    keys: KeyStore
    tokens: TokenService
    authenticator: Authenticator
    #: Development only: a token of a demo agent to pre-fill GraphiQL's headers.
    demo_token: Callable[[], Awaitable[str | None]] | None = None
    #: The event backbone the app's lifespan starts (None when the app runs without one).
    backbone: Any = None
    #: Rate limits per caller (public calculators); closed by the app's lifespan.
    rate_limiter: CallerLimiter | None = None
    #: Case attachments: the file store and the download-link signer.
    attachments: Attachments | None = None
    #: APQ and the allow-list (app/persisted_queries.py); closed by the app's lifespan.
    persisted_queries: PersistedQueries = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.persisted_queries is None:
            self.persisted_queries = build_persisted_queries(self.settings, self.schema._schema)


def build_runtime(settings: Settings) -> Runtime:
    keys = KeyStore.load_or_create(settings.var_dir / "keys", settings.signing_key_file)
    tokens = TokenService(settings, keys)
    schema = create_schema(
        max_depth=settings.max_depth,
        max_tokens=settings.max_tokens,
        max_aliases=settings.max_aliases,
        introspection=settings.introspection_enabled,
        cost=CostPolicy(
            limit=settings.query_cost_limit,
            role_limits=settings.query_cost_limits,
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
        ),
        router_clients=frozenset(settings.federation_router_clients),
    )
    runtime = Runtime(
        settings=settings,
        schema=schema,
        keys=keys,
        tokens=tokens,
        authenticator=Authenticator(settings, tokens),
        rate_limiter=build_limiter(settings),
        attachments=build_attachments(settings),
    )
    if settings.env == "development":
        from app.devtokens import demo_agent_token

        async def demo() -> str | None:
            return await demo_agent_token(tokens)

        runtime.demo_token = demo
    return runtime
