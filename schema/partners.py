from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeAlias

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.partners import service as partners
from domain.partners.models import Partner as PartnerModel
from domain.partners.models import PartnerKind as PartnerKindEnum
from domain.shared.ids import parse_uuid
from resolvers.context import principal_of
from resolvers.ids import decode_node_id

strawberry.enum(PartnerKindEnum, name="PartnerKind")
PartnerKind: TypeAlias = PartnerKindEnum


@strawberry.federation.type(keys=["id"], description="A member of the network.")
class Partner(relay.Node):
    id: relay.NodeID[str]
    code: str
    name: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    kind: PartnerKind
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, partner: PartnerModel) -> Partner:
        return cls(
            id=str(partner.id),
            code=partner.code,
            name=partner.name,
            country=partner.country,
            kind=PartnerKindEnum(partner.kind),
            active=partner.active,
            created_at=partner.created_at,
            updated_at=partner.updated_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Partner | None]:
        partners.ensure_can_read(principal_of(info))
        keys = [parse_uuid(n) for n in node_ids]
        found = await info.context.loaders.partner.load_many([k for k in keys if k])
        by_id = {p.id: p for p in found if p is not None}
        return [cls.from_model(by_id[k]) if k in by_id else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> Partner | None:
        node_id = str(representation.get("id", ""))
        key = decode_node_id(node_id, "Partner")
        if key is None:
            return None
        partners.ensure_can_read(principal_of(info))
        model = await info.context.loaders.partner.load(key)
        return cls.from_model(model) if model else None
