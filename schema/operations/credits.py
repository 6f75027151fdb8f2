from __future__ import annotations

import strawberry

from resolvers import credit_mutations as m
from resolvers import credit_registry as registry
from resolvers import credits as r
from schema.credit_inputs import (
    CancelCreditPayload,
    CreateCreditPayload,
    DisburseCreditPayload,
    LoadUfValuesPayload,
    RefundCreditBalancePayload,
    RegisterPaymentPayload,
    RestructureCreditPayload,
    ReversePaymentPayload,
    WriteOffCreditPayload,
)
from schema.credit_registry import Credit, CreditConnection
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


@strawberry.type
class CreditRegistryQuery:
    credits: CreditConnection = strawberry.field(
        resolver=registry.credits_list,
        description="Credits you may see (your partner's; administrators all), newest first. "
        "Staff only: a customer uses myCredits.",
    )
    credit: Credit | None = strawberry.field(
        resolver=registry.credit, description="A credit by id; null if you cannot see it."
    )
    credit_by_reference: Credit | None = strawberry.field(
        resolver=registry.credit_by_reference, description='A credit by its "CR-…" reference.'
    )
    my_credits: CreditConnection = strawberry.field(
        resolver=registry.my_credits,
        description="The calling customer's own credits, newest first (customer tokens).",
    )


@strawberry.type
class CreditMutation:
    create_credit: CreateCreditPayload = strawberry.mutation(
        resolver=m.create_credit,
        description="Register an APPROVED credit with its planned schedule (audited).",
    )
    disburse_credit: DisburseCreditPayload = strawberry.mutation(
        resolver=m.disburse_credit,
        description="APPROVED -> ACTIVE; the schedule is rebuilt on the disbursement date.",
    )
    cancel_credit: CancelCreditPayload = strawberry.mutation(
        resolver=m.cancel_credit, description="APPROVED -> CANCELLED."
    )
    write_off_credit: WriteOffCreditPayload = strawberry.mutation(
        resolver=m.write_off_credit,
        description="Write off a disbursed credit (supervisors and administrators).",
    )
    restructure_credit: RestructureCreditPayload = strawberry.mutation(
        resolver=m.restructure_credit,
        description="A new schedule from the outstanding balance; the old one is kept "
        "(supervisors and administrators).",
    )
    register_payment: RegisterPaymentPayload = strawberry.mutation(
        resolver=m.register_payment,
        description="Book a payment and allocate it; the same idempotencyKey books once.",
    )
    reverse_payment: ReversePaymentPayload = strawberry.mutation(
        resolver=m.reverse_payment,
        description="Reverse a payment; the credit is replayed as if it never came.",
    )
    refund_credit_balance: RefundCreditBalancePayload = strawberry.mutation(
        resolver=m.refund_credit_balance, description="Pay back a credit balance."
    )
    load_uf_values: LoadUfValuesPayload = strawberry.mutation(
        name="loadUfValues",
        resolver=m.load_uf_values,
        description="Load daily UF values from CSV text (date,value per line); one bad line "
        "refuses the whole file (administrators).",
    )
