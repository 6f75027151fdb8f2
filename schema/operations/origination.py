from __future__ import annotations

import strawberry

from resolvers import origination as r
from schema.origination import (
    BookInspectionPayload,
    CreditApplication,
    CreditApplicationConnection,
    CreditApplicationPayload,
    Prequalification,
)

#: Root fields anonymous callers may use (rate-limited): the pre-qualification estimate.
PUBLIC_ORIGINATION_FIELDS = frozenset({"prequalification"})


@strawberry.type
class OriginationQuery:
    credit_application: CreditApplication | None = strawberry.field(
        resolver=r.credit_application,
        description="An application by id: its applicant, the lender's staff, the dealer of "
        "its vehicle (without financial data); null if you cannot see it.",
    )
    credit_applications: CreditApplicationConnection = strawberry.field(
        resolver=r.credit_applications,
        description="Applications you may see, newest first (keyset pagination).",
    )
    my_credit_applications: CreditApplicationConnection = strawberry.field(
        resolver=r.my_credit_applications,
        description="The calling customer's applications (customer tokens).",
    )
    prequalification: Prequalification = strawberry.field(
        resolver=r.prequalification_query,
        description="How much can be borrowed at a lender: an anonymous estimate (the "
        "lender's default grade band, rate-limited) or, for a known customer, an exact one "
        "(their grade, their open Trama credits), stored with validUntil.",
    )


@strawberry.type
class OriginationMutation:
    start_credit_application: CreditApplicationPayload = strawberry.mutation(
        resolver=r.start_credit_application,
        description="A draft application: a customer for themself, or the lender's staff "
        "for a customer of theirs.",
    )
    update_credit_application: CreditApplicationPayload = strawberry.mutation(
        resolver=r.update_credit_application, description="Change a draft."
    )
    submit_credit_application: CreditApplicationPayload = strawberry.mutation(
        resolver=r.submit_credit_application,
        description="Submit a draft: consents needed; the 24-hour clock starts.",
    )
    withdraw_credit_application: CreditApplicationPayload = strawberry.mutation(
        resolver=r.withdraw_credit_application, description="The applicant withdraws."
    )
    decide_credit_application: CreditApplicationPayload = strawberry.mutation(
        resolver=r.decide_credit_application,
        description="Approve or reject a referred application by hand, with a reason "
        "(the lender's agents and supervisors).",
    )
    accept_credit_offer: CreditApplicationPayload = strawberry.mutation(
        resolver=r.accept_credit_offer,
        description="The applicant accepts the offer: the contract goes out for signature.",
    )
    book_inspection: BookInspectionPayload = strawberry.mutation(
        resolver=r.book_inspection, description="Book the vehicle's inspection (slot, place)."
    )
    record_inspection: BookInspectionPayload = strawberry.mutation(
        resolver=r.record_inspection,
        description="The inspector's result (inspections:write): a pass makes the offer; a "
        "failure or a valuation below the price refers the application.",
    )
    record_disbursement: CreditApplicationPayload = strawberry.mutation(
        resolver=r.record_disbursement,
        description="The lender paid out: the credit is disbursed (agents, supervisors).",
    )
