from __future__ import annotations

import strawberry

from resolvers import investors as r
from schema.investor_inputs import (
    ChangeInvestorKycPayload,
    CreateInvestorPayload,
    FundCreditPayload,
    MarkSettlementPaidPayload,
    RunSettlementPayload,
    UpdateInvestorPayload,
)
from schema.investor_portfolio import InvestorPortfolio
from schema.investors import Investor, InvestorConnection, SettlementRun, SettlementStatement


@strawberry.type
class InvestorQuery:
    investors: InvestorConnection = strawberry.field(
        resolver=r.investors_list,
        description="Investors by name (`investors:read`); an investor token lists only itself.",
    )
    investor: Investor | None = strawberry.field(
        resolver=r.investor, description="An investor by id; null if it does not exist."
    )
    investor_portfolio: InvestorPortfolio | None = strawberry.field(
        resolver=r.investor_portfolio,
        description="An investor's portfolio; an investor token may ask only for its own. "
        "`asOf` (today by default) bounds what is counted received and expected; positions and "
        "outstanding principal are always today's. Null if the investor does not exist.",
    )
    my_investor_portfolio: InvestorPortfolio = strawberry.field(
        resolver=r.my_investor_portfolio,
        description="The calling investor's own portfolio (investor tokens).",
    )
    settlement_run: SettlementRun | None = strawberry.field(
        resolver=r.settlement_run, description="A settlement run by id (`investors:read`)."
    )
    settlement_statement: SettlementStatement | None = strawberry.field(
        resolver=r.settlement_statement,
        description="A settlement statement by id; an investor token sees only its own.",
    )


@strawberry.type
class InvestorMutation:
    create_investor: CreateInvestorPayload = strawberry.mutation(
        resolver=r.create_investor,
        description="Register an investor; KYC starts PENDING (`investors:write`).",
    )
    update_investor: UpdateInvestorPayload = strawberry.mutation(
        resolver=r.update_investor,
        description="Change an investor; `version` must be the one you read.",
    )
    change_investor_kyc: ChangeInvestorKycPayload = strawberry.mutation(
        resolver=r.change_investor_kyc, description="Move the investor's KYC review."
    )
    fund_credit: FundCreditPayload = strawberry.mutation(
        resolver=r.fund_credit,
        description="Give a VERIFIED investor a share of an APPROVED or ACTIVE credit; the "
        "shares of a credit never pass 100 %.",
    )
    run_settlement: RunSettlementPayload = strawberry.mutation(
        resolver=r.run_settlement,
        description="Settle every investor for a period: one statement per investor and "
        "currency. The same period again returns its run; periods move forward.",
    )
    mark_settlement_paid: MarkSettlementPaidPayload = strawberry.mutation(
        resolver=r.mark_settlement_paid,
        description="Record the bank transfer of a statement (ISSUED -> PAID).",
    )
