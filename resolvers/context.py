"""The per-request context every resolver and type reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from strawberry.types import Info

from domain.shared.principal import Principal
from resolvers.loaders import Loaders


@dataclass
class Context:
    request_id: str
    principal: Principal | None = None
    loaders: Loaders = field(default_factory=Loaders)
    request: Any = None
    settings: Any = None
    #: Set when the token presented could not be accepted (message for the client).
    auth_error: str | None = None
    #: The process's event backbone (fan-out hub, broker), when it runs one.
    backbone: Any = None
    #: Rate limits per caller (app.ratelimit.CallerLimiter); None: no limits.
    rate_limiter: Any = None
    #: Case attachments (app.storage.Attachments): the file store and the link signer.
    attachments: Any = None
    #: How far the operation got (parse, validate, execute): errors are coded by it.
    graphql_phase: str = "parse"


class Unauthenticated(GraphQLError):
    def __init__(self, message: str = "authentication required: send a valid Bearer token"):
        super().__init__(message, extensions={"code": "UNAUTHENTICATED"})


def principal_of(info: Info) -> Principal:
    principal = info.context.principal
    if principal is None:
        raise Unauthenticated(info.context.auth_error or "authentication required")
    return principal
