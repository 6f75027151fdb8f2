from __future__ import annotations

import strawberry

from resolvers import partners as r
from schema.partners import Partner


@strawberry.type
class PartnerQuery:
    partners: list[Partner] = strawberry.field(
        resolver=r.partners_list, description="The members of the network, by code."
    )
