"""Unidentified payments become cases, and a case resolved with a credit books them.

:func:`open_unidentified_cases` (the ``collections.open_unidentified_cases`` job, daily):
a payment received (a credit line, not a reversal) still UNMATCHED once
``business_days`` business days have passed since its booking date — counted in the
lender's country calendar, holidays included (``domain.cases.sla``) — opens a case of the
typology ``PAGO_NO_IDENTIFICADO`` at the lender (it originates and handles it) through
``domain.cases.service.open_case``, linked to the line (``collections_line_cases``), once.

A case needs a customer. When the payer's national ID (from the file, or read in the
text) is a customer Trama knows, the case is theirs. When the payer is unknown to Trama,
no case can be opened: the link row says so (``NO_CUSTOMER``) and the line stays in the
queue as UNMATCHED for a person, who can match it or set it aside.

:func:`apply_resolved_case` (consumer of ``cases.resolved``): when such a case is resolved
and its resolution note names a credit of the lender (``CR-2026-000123``, or a payment
order), the line is booked to that credit — a decision of kind CASE, with the same keys
and checks as a manual match. A note without a credit reference, or a line that was
matched meanwhile, closes the link without booking.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.collections.matching import (
    ACTOR,
    booking_reference,
    idempotency_key,
    paid_at_of,
    worker_principal,
    write_decision,
)
from domain.collections.matching_index import LINE_COLUMNS, line_views
from domain.collections.matching_models import (
    ApplicationKind,
    ApplicationStatus,
    DecisionKind,
    LineApplication,
    LineCase,
    LineCaseStatus,
)
from domain.collections.matching_text import id_keys, money_text, national_ids_in, references_in
from domain.collections.models import LineState, StatementLine
from domain.credits import payment_batches
from domain.credits.models import Credit
from domain.credits.payment_batches import PaymentRequest
from domain.credits.policy import COUNTRY_TIMEZONES, CreditPolicy, get_policy
from domain.customers.models import Customer
from domain.partners.models import Partner
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.time import utcnow

__all__ = [
    "TYPOLOGY",
    "CaseRun",
    "apply_resolved_case",
    "open_unidentified_cases",
]

#: The typology (migration 0009 adds it to the catalog).
TYPOLOGY = "PAGO_NO_IDENTIFICADO"
TYPOLOGY_ROW = {
    "code": TYPOLOGY,
    "name": "Pago no identificado",
    "description": (
        "Un pago recibido en una cuenta de recaudación que no se pudo asignar a ningún "
        "crédito: hay que identificar al deudor y el crédito que paga."
    ),
    "default_priority": "HIGH",
    "sla_business_days": 5,
    "sla_hours": None,
    "requires_amount": True,
    "requires_card": False,
}


@dataclass
class CaseRun:
    examined: int = 0
    opened: int = 0
    without_customer: int = 0


def _due(country: str, booked: date, days: int) -> date:
    from domain.cases.sla import add_business_days

    return add_business_days(country, booked, days)


async def _customer_of(session: AsyncSession, line: Any, country: str) -> uuid.UUID | None:
    ids: list[tuple[str, str]] = []
    if line.counterparty_national_id_type and line.counterparty_national_id:
        ids.append((line.counterparty_national_id_type, line.counterparty_national_id))
    for text in (line.remittance_info, line.counterparty_name):
        ids.extend((t.value, n) for t, n in national_ids_in(text, country))
    customers = table_of(Customer)
    for id_type, number in ids:
        for key_type, key_number in id_keys(id_type, number):
            found = (
                await session.execute(
                    sa.select(customers.c.id).where(
                        customers.c.national_id_type == key_type,
                        customers.c.national_id == key_number,
                    )
                )
            ).scalar()
            if found is not None:
                return found
    return None


async def open_unidentified_cases(
    session: AsyncSession,
    *,
    business_days: int,
    partner_id: uuid.UUID | None = None,
    limit: int = 500,
) -> CaseRun:
    """Open the cases of the payments unmatched for ``business_days`` business days."""
    from zoneinfo import ZoneInfo

    from domain.cases import service as cases
    from domain.shared.time import local_today

    run = CaseRun()
    lines = table_of(StatementLine)
    links = table_of(LineCase)
    partners = table_of(Partner)
    lenders = (
        await session.execute(
            sa.select(partners.c.id, partners.c.country)
            .where(
                sa.exists(
                    sa.select(lines.c.id).where(
                        lines.c.partner_id == partners.c.id,
                        lines.c.state == LineState.UNMATCHED.value,
                    )
                ),
                *([partners.c.id == partner_id] if partner_id else []),
            )
            .order_by(partners.c.id)
        )
    ).all()
    for lender, country in lenders:
        timezone = COUNTRY_TIMEZONES.get(country, COUNTRY_TIMEZONES["CL"])
        today = local_today(ZoneInfo(timezone))
        # business days are at least calendar days: a cheap bound first, the calendar then
        latest = today - timedelta(days=business_days)
        rows = line_views(
            (
                await session.execute(
                    sa.select(*(lines.c[name] for name in LINE_COLUMNS))
                    .where(
                        lines.c.partner_id == lender,
                        lines.c.state == LineState.UNMATCHED.value,
                        lines.c.direction == "CREDIT",
                        lines.c.is_reversal.is_(False),
                        lines.c.booking_date <= latest,
                        ~sa.exists(sa.select(links.c.id).where(links.c.line_id == lines.c.id)),
                    )
                    .order_by(lines.c.booking_date, lines.c.id)
                    .limit(limit)
                )
            ).all()
        )
        principal = worker_principal(lender)
        for line in rows:
            run.examined += 1
            if _due(country, line.booking_date, business_days) > today:
                continue
            customer = await _customer_of(session, line, country)
            now = utcnow()
            if customer is None:
                run.without_customer += 1
                await session.execute(
                    sa.insert(links).values(
                        id=uuid7(),
                        line_id=line.id,
                        partner_id=lender,
                        case_id=None,
                        status=LineCaseStatus.NO_CUSTOMER.value,
                        note="el pagador no es un cliente conocido: no se puede abrir un caso",
                        created_at=now,
                        updated_at=now,
                    )
                )
                continue
            description = (
                f"Pago no identificado de {money_text(line.amount, line.currency)} recibido el "
                f"{line.booking_date.strftime('%d-%m-%Y')} "
                f"({booking_reference(line)}). Glosa: "
                f"{' '.join((line.remittance_info or '-').split())[:300]}. Para aplicarlo, "
                "resuelva el caso indicando la referencia del crédito (CR-AAAA-NNNNNN)."
            )
            case = await cases.open_case(
                session,
                principal=principal,
                customer_id=customer,
                typology_code=TYPOLOGY,
                channel="PARTNER_API",
                description=description[:2000],
                amount_in_dispute=Money(line.amount, line.currency),
            )
            await session.execute(
                sa.insert(links).values(
                    id=uuid7(),
                    line_id=line.id,
                    partner_id=lender,
                    case_id=case.id,
                    status=LineCaseStatus.OPEN.value,
                    note=None,
                    created_at=now,
                    updated_at=now,
                )
            )
            outbox.add(
                session,
                "collections.unidentified_payment_case_opened",
                {
                    "lineId": wire.global_id("StatementLine", line.id),
                    "partnerId": wire.global_id("Partner", lender),
                    "caseId": wire.global_id("Case", case.id),
                    "amount": wire.money(line.amount, line.currency),
                    "bookingDate": wire.day(line.booking_date),
                },
                partner_ids=[lender],
                key=wire.global_id("StatementLine", line.id),
            )
            run.opened += 1
    return run


async def apply_resolved_case(
    session: AsyncSession, *, case_id: uuid.UUID, policy: CreditPolicy | None = None
) -> str | None:
    """Book the line of a resolved "unidentified payment" case to the credit its resolution
    note names. Returns what became of the link (None: not such a case)."""
    from domain.cases.models import Case

    links = table_of(LineCase)
    link = (
        await session.execute(
            sa.select(links).where(links.c.case_id == case_id).with_for_update()
            if session.get_bind().dialect.name == "postgresql"
            else sa.select(links).where(links.c.case_id == case_id)
        )
    ).first()
    if link is None or link.status != LineCaseStatus.OPEN.value:
        return None
    case = await session.get(Case, case_id)
    now = utcnow()

    async def close(status: LineCaseStatus, note: str) -> str:
        await session.execute(
            sa.update(links)
            .where(links.c.id == link.id)
            .values(status=status.value, note=note[:500], updated_at=now)
        )
        return status.value

    if case is None or case.status != "RESOLVED":
        return None
    table = table_of(StatementLine)
    (line,) = line_views(
        (
            await session.execute(
                sa.select(*(table.c[name] for name in LINE_COLUMNS)).where(
                    table.c.id == link.line_id
                )
            )
        ).all()
    )
    if line.state != LineState.UNMATCHED.value:
        return await close(LineCaseStatus.CLOSED, "la línea ya no estaba pendiente")
    found = references_in([("resolution_note", case.resolution_note)])
    credits_t = table_of(Credit)
    credit = None
    for ref in found:
        credit = (
            await session.execute(
                sa.select(credits_t.c.id, credits_t.c.reference).where(
                    credits_t.c.reference == ref.reference,
                    credits_t.c.partner_id == line.partner_id,
                )
            )
        ).first()
        if credit is not None:
            break
    if credit is None:
        return await close(LineCaseStatus.CLOSED, "la resolución no indica un crédito del acreedor")
    principal = worker_principal(line.partner_id)
    partner = await session.get(Partner, line.partner_id)
    timezone = COUNTRY_TIMEZONES.get(partner.country if partner else "CL", COUNTRY_TIMEZONES["CL"])
    key = idempotency_key(line.id, line.version, 0)
    (outcome,) = await payment_batches.register_payments(
        session,
        principal=principal,
        requests=[
            PaymentRequest(
                credit_id=credit.id,
                amount=Money(line.amount, line.currency),
                paid_at=paid_at_of(line.day, timezone),
                reference=booking_reference(line),
                idempotency_key=key,
            )
        ],
        policy=policy or get_policy(),
    )
    if outcome.error is not None or outcome.payment is None:
        message = outcome.error.message if outcome.error else "refused"
        return await close(LineCaseStatus.CLOSED, f"no se pudo abonar: {message}")
    money = {"currency": line.currency}
    decision_id = await write_decision(
        session,
        line_id=line.id,
        partner_id=line.partner_id,
        version=line.version,
        state=LineState.AUTO_MATCHED,
        reason=None,
        rule_code="CASO",
        confidence=100,
        evidence=[
            {
                "criterion": "CASE",
                "result": "PASS",
                "score": 100,
                "message": "CASE_APPLIED",
                "params": {"case": case.reference, "reference": credit.reference},
            }
        ],
        candidates=[
            {
                "option": 0,
                "creditId": str(credit.id),
                "reference": credit.reference,
                "amount": {"amount": line.amount, **money},
                "target": None,
                "installments": [],
                "score": 100,
                "writeOff": {"amount": 0, **money},
            }
        ],
        kind=DecisionKind.CASE,
        decided_by=ACTOR,
    )
    await session.execute(
        sa.insert(table_of(LineApplication)).values(
            id=uuid7(),
            line_id=line.id,
            decision_id=decision_id,
            partner_id=line.partner_id,
            credit_id=credit.id,
            payment_id=outcome.payment.id,
            kind=ApplicationKind.PAYMENT.value,
            amount=line.amount,
            currency=line.currency,
            idempotency_key=key,
            status=ApplicationStatus.BOOKED.value,
            created_at=now,
        )
    )
    audit.record(
        session,
        principal=principal,
        action="collections.line_matched",
        entity_type="StatementLine",
        entity_id=line.id,
        before={"state": line.state, "version": line.version},
        after={
            "state": LineState.AUTO_MATCHED.value,
            "version": line.version + 1,
            "case": case.reference,
            "credit": credit.reference,
            "payment": str(outcome.payment.id),
        },
    )
    return await close(LineCaseStatus.APPLIED, f"abonado al crédito {credit.reference}")
