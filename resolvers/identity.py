from __future__ import annotations

from typing import Any

from strawberry.types import Info

from domain.identity import service as identity
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import require_node_id
from schema.identity import (
    CreateOAuthClientInput,
    CreateOAuthClientPayload,
    CreateOAuthClientSuccess,
    OAuthClient,
    SetOAuthClientActiveInput,
    SetOAuthClientActivePayload,
    SetOAuthClientActiveSuccess,
    Viewer,
)


async def viewer(info: Info) -> Viewer:
    return Viewer.from_principal(principal_of(info))


async def create_oauth_client(
    info: Info, input: CreateOAuthClientInput
) -> CreateOAuthClientPayload:
    principal = principal_of(info)

    async def work(session: Any) -> CreateOAuthClientSuccess:
        partner_id = (
            require_node_id(input.partner_id, "Partner", "partnerId") if input.partner_id else None
        )
        issued = await identity.create_client(
            session,
            principal=principal,
            name=input.name,
            partner_id=partner_id,
            roles=list(input.roles),
            scopes=list(input.scopes) if input.scopes is not None else None,
        )
        return CreateOAuthClientSuccess(
            client=OAuthClient.from_model(issued.client), client_secret=issued.secret
        )

    return await mutate(CreateOAuthClientPayload, work)


async def set_oauth_client_active(
    info: Info, input: SetOAuthClientActiveInput
) -> SetOAuthClientActivePayload:
    principal = principal_of(info)

    async def work(session: Any) -> SetOAuthClientActiveSuccess:
        client = await identity.set_client_active(
            session, principal=principal, client_id=input.client_id, active=input.active
        )
        return SetOAuthClientActiveSuccess(client=OAuthClient.from_model(client))

    return await mutate(SetOAuthClientActivePayload, work)
