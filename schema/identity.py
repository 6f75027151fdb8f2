from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.identity.models import OAuthClient as OAuthClientModel
from domain.shared.principal import Principal
from schema.errors import ForbiddenError, NotFoundError, ValidationError
from schema.partners import Partner


@strawberry.type(description="Who is calling: the identity behind the token.")
class Viewer:
    subject: str
    kind: str = strawberry.field(description="user, client or system.")
    display_name: str | None
    roles: list[str]
    scopes: list[str]
    issuer: str | None
    partner_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        if self.partner_id is None:
            return None
        model = await info.context.loaders.partner.load(self.partner_id)
        return Partner.from_model(model) if model else None

    @classmethod
    def from_principal(cls, principal: Principal) -> Viewer:
        return cls(
            subject=principal.subject,
            kind=principal.kind,
            display_name=principal.display_name,
            roles=sorted(r.value for r in principal.roles),
            scopes=sorted(s.value for s in principal.scopes),
            issuer=principal.issuer,
            partner_id=principal.partner_id,
        )


@strawberry.type(description="A partner system that obtains tokens with client credentials.")
class OAuthClient:
    client_id: str
    name: str
    roles: list[str]
    scopes: list[str]
    active: bool
    created_at: datetime
    last_used_at: datetime | None
    partner_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        if self.partner_id is None:
            return None
        model = await info.context.loaders.partner.load(self.partner_id)
        return Partner.from_model(model) if model else None

    @classmethod
    def from_model(cls, client: OAuthClientModel) -> OAuthClient:
        return cls(
            client_id=client.client_id,
            name=client.name,
            roles=list(client.roles),
            scopes=list(client.scopes),
            active=client.active,
            created_at=client.created_at,
            last_used_at=client.last_used_at,
            partner_id=client.partner_id,
        )


@strawberry.input
class CreateOAuthClientInput:
    name: str
    roles: list[str]
    partner_id: strawberry.ID | None = None
    scopes: list[str] | None = strawberry.field(
        default=None, description="Defaults to every scope the roles allow."
    )


@strawberry.type
class CreateOAuthClientSuccess:
    client: OAuthClient
    client_secret: str = strawberry.field(
        description="Shown only now; Trama keeps only a hash of it."
    )


@strawberry.input
class SetOAuthClientActiveInput:
    client_id: str
    active: bool


@strawberry.type
class SetOAuthClientActiveSuccess:
    client: OAuthClient


CreateOAuthClientPayload = Annotated[
    CreateOAuthClientSuccess | ValidationError | ForbiddenError,
    strawberry.union("CreateOAuthClientPayload"),
]

SetOAuthClientActivePayload = Annotated[
    SetOAuthClientActiveSuccess | NotFoundError | ForbiddenError,
    strawberry.union("SetOAuthClientActivePayload"),
]
