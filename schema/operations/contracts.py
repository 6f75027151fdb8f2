from __future__ import annotations

import strawberry

from resolvers import contracts as r
from schema.contracts import Contract


@strawberry.type
class ContractQuery:
    contract: Contract | None = strawberry.field(
        resolver=r.contract,
        description="A contract by id: for the customer it is for and the lender's staff; "
        "null if you cannot see it.",
    )
    application_contracts: list[Contract] = strawberry.field(
        resolver=r.application_contracts,
        description="An application's contracts, newest first (a declined one stays, the "
        "next acceptance makes a new one); empty if you cannot see them.",
    )
