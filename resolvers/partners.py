from __future__ import annotations

from strawberry.types import Info

from app.db import read_session
from domain.partners import service as partners
from resolvers.context import principal_of
from schema.partners import Partner


async def partners_list(info: Info, active_only: bool = False) -> list[Partner]:
    principal = principal_of(info)
    async with read_session() as session:
        models = await partners.list_partners(session, principal=principal, active_only=active_only)
    for model in models:
        info.context.loaders.partner.prime(model.id, model)
    return [Partner.from_model(m) for m in models]
