"""Demo credits for ``trama seed``: one story per status, with payment histories.

Every credit is told by the same services the API calls (create, disburse, pay, reverse,
refund, restructure, write off, cancel), as the system principal, with dates counted back
from today in the lender's timezone — so an ACTIVE credit is current and a DELINQUENT one
is behind whatever day the seed runs. The same customers, amounts, plates and idempotency
keys every time; a credit is recognised by its customer and vehicle plate, so running the
seed again adds only what is missing. Each story is one transaction.

UF values (CLP per UF) for the demo period are a smooth synthetic series (about 4 % a year,
a pure function of the date), loaded for the days that have none: demo data, not the
Banco Central's figures.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from domain.credits import payments, service, uf
from domain.credits.models import Credit
from domain.credits.policy import COUNTRY_TIMEZONES
from domain.customers import service as customers
from domain.customers.service import CustomerDraft
from domain.partners.models import Partner
from domain.shared import time as clock
from domain.shared.money import CURRENCY_EXPONENTS, Money
from domain.shared.principal import SYSTEM

#: First day of the UF series the seed loads (counted back from today).
UF_DAYS_BACK = 420
_UF_ANCHOR = (date(2024, 1, 1), Decimal("36789.36"))
_UF_GROWTH = Decimal("1.04")


def uf_value(day: date) -> Decimal:
    """The demo UF value of ``day``: deterministic, about 4 % a year from 1 Jan 2024."""
    anchor, value = _UF_ANCHOR
    years = Decimal((day - anchor).days) / Decimal(365)
    return (value * _UF_GROWTH**years).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Story:
    """One demo credit and what happens to it."""

    plate: str  # vehicle reference: with the customer, how the seed recognises it
    person: int  # index of the demo person (see app.seed._person)
    lender: str
    status: str  # the status the story ends in (documentation; the tests check it)
    currency: str
    amount: str
    rate: str
    term: int
    scheme: str = "FRENCH"
    product: str = "AUTO-USADO"
    disbursed_days_ago: int | None = None  # None: never disbursed
    extra: dict[str, Any] = field(default_factory=dict)


# fmt: off
STORIES = (
    Story("BKDR21", 2, "AUTOCREDITO", "APPROVED", "CLP", "12500000", "0.149", 48, "FRENCH",
          "AUTO-NUEVO"),
    Story("CXLT45", 7, "AUTOCREDITO", "CANCELLED", "CLP", "8900000", "0.159", 36),
    Story("DHPS62", 12, "AUTOCREDITO", "ACTIVE", "CLP", "9800000", "0.139", 36,
          disbursed_days_ago=100,
          extra={"opening_fee": "150000", "monthly_insurance": "8500"}),
    Story("FJRW83", 17, "AUTOCREDITO", "DELINQUENT", "CLP", "7200000", "0.169", 24,
          disbursed_days_ago=130),
    Story("GLTV14", 22, "AUTOCREDITO", "PAID_OFF", "CLP", "4800000", "0.12", 12, "GERMAN",
          disbursed_days_ago=330),
    Story("HMZB57", 27, "AUTOCREDITO", "RESTRUCTURED", "CLP", "15000000", "0.155", 48,
          disbursed_days_ago=250),
    Story("JNQF39", 32, "AUTOCREDITO", "WRITTEN_OFF", "CLP", "6000000", "0.18", 36,
          disbursed_days_ago=330),
    Story("KPWX76", 37, "AUTOCREDITO", "ACTIVE", "CLF", "450", "0.045", 60,
          "FRENCH", "AUTO-UF", disbursed_days_ago=160),
    Story("AB123CD", 3, "BANCO_PAMPA", "ACTIVE", "ARS", "3500000.00", "0.65", 18, "GERMAN",
          "PRENDARIO", disbursed_days_ago=70),
)
# fmt: on


def _noon(day: date, timezone: str) -> datetime:
    """An instant on ``day`` in ``timezone``: its business date is ``day``."""
    return datetime.combine(day, time(12, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def local_today(timezone: str) -> date:
    return clock.local_today(timezone)


class Teller:
    """Pays a credit's installments as a punctual (or not) customer would."""

    def __init__(self, session: AsyncSession, credit: Credit) -> None:
        self.session = session
        self.credit = credit
        self.count = 0

    async def rows(self) -> list[Any]:
        return await service.list_installments(
            self.session, principal=SYSTEM, credit_id=self.credit.id
        )

    async def pay(
        self,
        day: date,
        amount: int,
        *,
        currency: str | None = None,
        prepayment: str | None = None,
        reference: str | None = None,
    ) -> Any:
        self.count += 1
        currency = currency or self.credit.currency
        money = Money(amount, currency)
        return await payments.register_payment(
            self.session,
            principal=SYSTEM,
            credit_id=self.credit.id,
            amount=money,
            paid_at=_noon(day, self.credit.timezone),
            reference=reference or f"TRF-{self.credit.vehicle_ref}-{self.count:03d}",
            idempotency_key=f"seed-{self.credit.vehicle_ref}-{self.count}",
            prepayment=prepayment,
        )

    async def pay_due(self, *, until: date, numbers: range | None = None) -> None:
        """Pay each installment of the schedule in force due before ``until`` (or those of
        ``numbers``) on its due date, exactly its amount (the customer is punctual, so
        there is no late interest and nothing left from the installment before)."""
        for row in await self.rows():
            if row.due_date >= until or (numbers is not None and row.number not in numbers):
                continue
            await self.pay(row.due_date, row.amount)

    async def owed(self, number: int, day: date) -> int:
        """What installment ``number`` of the schedule in force still owes on ``day``."""
        position = await payments.credit_position(
            self.session, principal=SYSTEM, credit_id=self.credit.id, as_of=day
        )
        row = next(r for r in position.installments if r.number == number)
        return row.outstanding

    async def refresh(self) -> None:
        self.credit = await service.get_credit(
            self.session, principal=SYSTEM, credit_id=self.credit.id
        )


async def _create(
    session: AsyncSession, story: Story, customer_id: Any, lender: Partner, today: date
) -> Credit:
    planned = today - timedelta(days=story.disbursed_days_ago or 0)
    if story.disbursed_days_ago is None:
        planned = today + timedelta(days=7)
    return await service.create_credit(
        session,
        principal=SYSTEM,
        customer_id=customer_id,
        product_code=story.product,
        currency=story.currency,
        amount=story.amount,
        annual_rate=story.rate,
        term_months=story.term,
        disbursement_date=planned,
        scheme=story.scheme,
        vehicle_ref=story.plate,
        partner_id=lender.id,
        **story.extra,
    )


async def _disburse(session: AsyncSession, credit: Credit, days_ago: int, today: date) -> Credit:
    return await service.disburse_credit(
        session,
        principal=SYSTEM,
        credit_id=credit.id,
        expected_version=credit.version,
        disbursement_date=today - timedelta(days=days_ago),
    )


# --- the stories ----------------------------------------------------------------------------
async def _approved(session: AsyncSession, credit: Credit, today: date) -> None:
    return None


async def _cancelled(session: AsyncSession, credit: Credit, today: date) -> None:
    await service.cancel_credit(
        session,
        principal=SYSTEM,
        credit_id=credit.id,
        expected_version=credit.version,
        reason="El cliente desistió de la compra del vehículo",
    )


async def _active(session: AsyncSession, credit: Credit, today: date) -> None:
    teller = Teller(session, credit)
    await teller.pay_due(until=today)
    # A transfer booked twice by mistake, then reversed.
    wrong = await teller.pay(today - timedelta(days=3), 250_000, reference="TRF-DUPLICADA")
    await payments.reverse_payment(
        session, principal=SYSTEM, payment_id=wrong.id, reason="Transferencia duplicada"
    )


async def _delinquent(session: AsyncSession, credit: Credit, today: date) -> None:
    teller = Teller(session, credit)
    await teller.pay_due(until=today, numbers=range(1, 3))
    third = (await teller.rows())[2]
    late = third.due_date + timedelta(days=5)
    await teller.pay(late, await teller.owed(3, late) // 2)  # a partial payment, late


async def _paid_off(session: AsyncSession, credit: Credit, today: date) -> None:
    teller = Teller(session, credit)
    await teller.pay_due(until=today, numbers=range(1, 9))
    rows = await teller.rows()
    day = rows[8].due_date - timedelta(days=10)
    position = await payments.credit_position(
        session, principal=SYSTEM, credit_id=credit.id, as_of=day
    )
    # Everything left, with room to spare: SHORTER_TERM prepays it all, the rest is held…
    payoff = position.outstanding_principal * 102 // 100
    await teller.pay(day, payoff, prepayment="SHORTER_TERM", reference="PREPAGO-TOTAL")
    await teller.refresh()
    # … and paid back.
    await payments.refund_credit_balance(
        session,
        principal=SYSTEM,
        credit_id=credit.id,
        expected_version=teller.credit.version,
        reference="DEVOLUCION-SALDO",
    )


async def _restructured(session: AsyncSession, credit: Credit, today: date) -> None:
    teller = Teller(session, credit)
    await teller.pay_due(until=today, numbers=range(1, 5))
    await teller.refresh()
    await service.restructure_credit(
        session,
        principal=SYSTEM,
        credit_id=credit.id,
        expected_version=teller.credit.version,
        term_months=60,
        reason="Cesantía temporal: reprogramación a 60 meses",
        restructure_date=today - timedelta(days=45),
    )
    await teller.refresh()
    await teller.pay_due(until=today)


async def _written_off(session: AsyncSession, credit: Credit, today: date) -> None:
    teller = Teller(session, credit)
    await teller.pay_due(until=today, numbers=range(1, 3))
    await teller.refresh()
    await service.write_off_credit(
        session,
        principal=SYSTEM,
        credit_id=credit.id,
        expected_version=teller.credit.version,
        reason="Incobrable: más de 180 días de mora y sin bienes embargables",
    )


async def _uf_active(session: AsyncSession, credit: Credit, today: date) -> None:
    """A UF credit paid in pesos at each day's UF value (rounded up to whole pesos)."""
    teller = Teller(session, credit)
    scale = 10 ** CURRENCY_EXPONENTS["CLF"]
    for row in await teller.rows():
        if row.due_date >= today:
            break
        # The pesos round up: a few ten-thousandths of a UF are held and applied next time.
        pesos = math.ceil(Decimal(row.amount) * uf_value(row.due_date) / scale)
        await teller.pay(row.due_date, pesos, currency="CLP")


async def _pay_on_time(session: AsyncSession, credit: Credit, today: date) -> None:
    await Teller(session, credit).pay_due(until=today)


TELLERS: dict[str, Callable[[AsyncSession, Credit, date], Awaitable[None]]] = {
    "BKDR21": _approved,
    "CXLT45": _cancelled,
    "DHPS62": _active,
    "FJRW83": _delinquent,
    "GLTV14": _paid_off,
    "HMZB57": _restructured,
    "JNQF39": _written_off,
    "KPWX76": _uf_active,
    "AB123CD": _pay_on_time,
}


async def load_demo_uf_values(today: date) -> int:
    """Load the demo UF values of the days that have none; how many were added."""
    days = [today - timedelta(days=n) for n in range(UF_DAYS_BACK, -1, -1)]
    async with transaction() as session:
        present = await uf.get_uf_values(session, days)
        missing = [d for d in days if d not in present]
        if not missing:
            return 0
        text = "\n".join(f"{d.isoformat()},{uf_value(d)}" for d in missing)
        result = await uf.load_uf_csv(session, principal=SYSTEM, csv_text=text)
    return result.inserted


async def seed_credits(
    partners_by_code: dict[str, Partner], people: Callable[[int], CustomerDraft]
) -> int:
    """Add the demo credits that are missing; how many were added."""
    added = 0
    santiago = local_today(COUNTRY_TIMEZONES["CL"])
    await load_demo_uf_values(santiago)
    for story in STORIES:
        lender = partners_by_code.get(story.lender)
        if lender is None:
            continue
        today = local_today(COUNTRY_TIMEZONES[lender.country])
        draft = people(story.person)
        async with transaction() as session:
            customer = await customers.find_by_national_id(
                session,
                principal=SYSTEM,
                id_type=draft.national_id_type,
                number=draft.national_id,
            )
            if customer is None:
                continue  # a seed with fewer people: this story has no customer yet
            theirs = await service.search_credits(
                session, principal=SYSTEM, limit=100, customer_id=customer.id
            )
            if any(c.vehicle_ref == story.plate for c in theirs.items):
                continue
            credit = await _create(session, story, customer.id, lender, today)
            if story.disbursed_days_ago is not None:
                credit = await _disburse(session, credit, story.disbursed_days_ago, today)
            await TELLERS[story.plate](session, credit, today)
        added += 1
    return added
