from __future__ import annotations

import strawberry

from resolvers import credits as r
from schema.credits import CreditSchemeComparison, CreditSimulation, InvestmentProjection

_PUBLIC = " Needs no login; rate-limited per client address (per subject when logged in)."


@strawberry.type
class CreditQuery:
    simulate_credit: CreditSimulation = strawberry.field(
        resolver=r.simulate_credit,
        description="A credit's full schedule, totals, total cost and CAE." + _PUBLIC,
    )
    compare_credit_schemes: CreditSchemeComparison = strawberry.field(
        resolver=r.compare_credit_schemes,
        description="The same credit under FRENCH, GERMAN and BULLET, side by side." + _PUBLIC,
    )
    simulate_investment: InvestmentProjection = strawberry.field(
        resolver=r.simulate_investment,
        description="An investor's projected flows, interest, total return and XIRR." + _PUBLIC,
    )


#: Root fields of this module an anonymous caller may select.
PUBLIC_CREDIT_FIELDS = frozenset({"simulateCredit", "compareCreditSchemes", "simulateInvestment"})
