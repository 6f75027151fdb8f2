"""Demo investors for ``trama seed``: investors with verified KYC, fundings and a settlement.

Run after the demo credits (``app.seed_credits``). Everything goes through the services the
API calls, as the system principal; what exists already is recognised and left alone, so
running the seed again adds only what is missing:

- four investors with valid Chilean RUTs (three VERIFIED, one still PENDING review),
  recognised by their RUT;
- the ACTIVE credit ``DHPS62`` fully funded by one investor, and the ACTIVE UF credit
  ``KPWX76`` funded by two (75 %). Funding an active credit shares the payments from the
  next business day on, so these show positions and exposure but no income yet;
- so that portfolios have income and a settlement has lines, one more credit, ``LRTC28``
  (6 months, CLP), funded before disbursement by three investors (100 %), disbursed 340
  days ago and paid on each due date (it ends PAID_OFF about 160 days ago);
- one settlement run for that credit's period (its disbursement to its last due date), which
  settles every line the seed produced. The period ends long before the last 130 days, so a
  run of any recent period is still open to the API (runs move forward).

Credits missing (a seed with fewer people, or credits not seeded yet) are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cl import rut

from app.db import transaction
from domain.credits import payments
from domain.credits import service as credits
from domain.credits.models import Credit
from domain.credits.policy import COUNTRY_TIMEZONES
from domain.customers import service as customers
from domain.customers.service import CustomerDraft
from domain.investors import service as investors
from domain.investors import settlements
from domain.investors.models import Investor, KycStatus
from domain.investors.rules import BankAccount
from domain.partners import service as partners
from domain.shared import national_ids
from domain.shared.errors import Conflict, DomainError
from domain.shared.money import Money
from domain.shared.principal import SYSTEM
from domain.shared.time import local_today, utcnow

log = logging.getLogger("trama.seed")


@dataclass(frozen=True)
class DemoInvestor:
    code: str  # how the stories below name it
    rut_body: int
    kind: str
    name: str
    email: str
    bank_code: str
    account_type: str
    account_number: str
    verified: bool = True

    @property
    def rut(self) -> str:
        return f"{self.rut_body}-{rut.calc_check_digit(str(self.rut_body))}"


INVESTORS = (
    DemoInvestor(
        "cordillera", 76_543_210, "COMPANY", "Inversiones Cordillera SpA",
        "tesoreria@cordillera.example.cl", "001", "CHECKING", "00-123-45678-09",
    ),
    DemoInvestor(
        "austral", 77_321_654, "COMPANY", "Fondo Austral de Deuda Privada",
        "operaciones@fondoaustral.example.cl", "037", "CHECKING", "0-000-7788990-1",
    ),
    DemoInvestor(
        "fuentes", 12_987_654, "PERSON", "María José Fuentes Rojas",
        "mjfuentes@example.cl", "012", "VISTA", "12987654",
    ),
    DemoInvestor(
        "lagos", 15_432_198, "PERSON", "Roberto Andrés Lagos Pino",
        "rlagos@example.cl", "016", "SAVINGS", "4455667788", verified=False,
    ),
)  # fmt: skip

#: Seeded ACTIVE credits (by vehicle plate) and who funds what share of them.
ACTIVE_FUNDINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "DHPS62": (("cordillera", "1"),),
    "KPWX76": (("austral", "0.4"), ("fuentes", "0.35")),
}


@dataclass(frozen=True)
class FundedStory:
    plate: str
    person: int  # index of the demo person (app.seed._person); same home as AUTOCREDITO's
    lender: str
    amount: str
    rate: str
    term: int
    disbursed_days_ago: int
    shares: tuple[tuple[str, str], ...]


FUNDED_STORY = FundedStory(
    plate="LRTC28",
    person=42,
    lender="AUTOCREDITO",
    amount="6000000",
    rate="0.149",
    term=6,
    disbursed_days_ago=340,
    shares=(("cordillera", "0.5"), ("austral", "0.3"), ("fuentes", "0.2")),
)


def _noon(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


async def _find_investor(session: AsyncSession, demo: DemoInvestor) -> Investor | None:
    number = national_ids.parse("CL_RUT", demo.rut).number
    page = await investors.search_investors(session, principal=SYSTEM, text=number, limit=5)
    return next((i for i in page.items if i.national_id == number), None)


async def _investors() -> tuple[dict[str, Investor], int]:
    found: dict[str, Investor] = {}
    added = 0
    async with transaction() as session:
        for demo in INVESTORS:
            investor = await _find_investor(session, demo)
            if investor is None:
                investor = await investors.create_investor(
                    session,
                    principal=SYSTEM,
                    kind=demo.kind,
                    legal_name=demo.name,
                    national_id_type="CL_RUT",
                    national_id=demo.rut,
                    bank_account=BankAccount(
                        demo.bank_code, demo.account_type, demo.account_number
                    ),
                    email=demo.email,
                )
                if demo.verified:
                    investor = await investors.change_kyc_status(
                        session,
                        principal=SYSTEM,
                        investor_id=investor.id,
                        status=KycStatus.VERIFIED.value,
                        note="Documentos de identidad y cuenta bancaria revisados",
                    )
                added += 1
            found[demo.code] = investor
    return found, added


async def _fund(
    session: AsyncSession,
    credit: Credit,
    shares: Sequence[tuple[str, str]],
    people: dict[str, Investor],
) -> None:
    funded = {f.investor_id for f in await investors.credit_fundings(
        session, principal=SYSTEM, credit_id=credit.id
    )}  # fmt: skip
    for code, share in shares:
        investor = people[code]
        if investor.id in funded or investor.kyc_status != KycStatus.VERIFIED.value:
            continue
        await investors.fund_credit(
            session,
            principal=SYSTEM,
            credit_id=credit.id,
            investor_id=investor.id,
            share=Decimal(share),
        )


async def _fund_active_credits(people: dict[str, Investor]) -> None:
    async with transaction() as session:
        page = await credits.search_credits(
            session, principal=SYSTEM, limit=100, statuses=["ACTIVE"]
        )
        by_plate = {c.vehicle_ref: c for c in page.items if c.vehicle_ref}
    for plate, shares in ACTIVE_FUNDINGS.items():
        credit = by_plate.get(plate)
        if credit is None:
            continue
        try:
            async with transaction() as session:
                await _fund(session, credit, shares, people)
        except DomainError as exc:  # e.g. funded meanwhile by someone else: leave it
            log.warning("seed: credit %s not funded: %s", plate, exc)


async def _funded_story(
    people: dict[str, Investor], person: Callable[[int], CustomerDraft]
) -> Credit | None:
    """The credit of :data:`FUNDED_STORY`, created (funded, disbursed, paid) if missing."""
    story = FUNDED_STORY
    draft = person(story.person)
    async with transaction() as session:
        lender = await partners.find_by_code(session, story.lender)
        customer = await customers.find_by_national_id(
            session, principal=SYSTEM, id_type=draft.national_id_type, number=draft.national_id
        )
        if lender is None or customer is None:
            return None
        theirs = await credits.search_credits(
            session, principal=SYSTEM, limit=100, customer_id=customer.id
        )
        existing = next((c for c in theirs.items if c.vehicle_ref == story.plate), None)
        if existing is not None:
            return existing
        if any(people[code].kyc_status != KycStatus.VERIFIED.value for code, _ in story.shares):
            return None
        timezone = COUNTRY_TIMEZONES[lender.country]
        today = local_today(timezone)
        disbursed_on = today - timedelta(days=story.disbursed_days_ago)
        credit = await credits.create_credit(
            session,
            principal=SYSTEM,
            customer_id=customer.id,
            product_code="AUTO-USADO",
            currency="CLP",
            amount=story.amount,
            annual_rate=story.rate,
            term_months=story.term,
            disbursement_date=disbursed_on,
            vehicle_ref=story.plate,
            partner_id=lender.id,
        )
        await _fund(session, credit, story.shares, people)  # before disbursement: from start
        credit = await credits.disburse_credit(
            session,
            principal=SYSTEM,
            credit_id=credit.id,
            expected_version=credit.version,
            disbursement_date=disbursed_on,
        )
        rows = await credits.list_installments(session, principal=SYSTEM, credit_id=credit.id)
        for row in rows:
            if row.due_date >= today:
                break
            position = await payments.credit_position(
                session, principal=SYSTEM, credit_id=credit.id, as_of=row.due_date
            )
            owed = next(r for r in position.installments if r.number == row.number).outstanding
            if owed <= 0:
                continue
            await payments.register_payment(
                session,
                principal=SYSTEM,
                credit_id=credit.id,
                amount=Money(owed, credit.currency),
                paid_at=_noon(row.due_date, credit.timezone),
                reference=f"TRF-{story.plate}-{row.number:03d}",
                idempotency_key=f"seed-{story.plate}-{row.number}",
            )
        return credit


async def _settle(credit: Credit) -> None:
    """One run for the funded credit's period: from its disbursement to its last due date."""
    try:
        async with transaction() as session:
            rows = await credits.list_installments(session, principal=SYSTEM, credit_id=credit.id)
            if not rows or credit.disbursement_date is None:
                return
            end = rows[-1].due_date
            if end >= utcnow().date():
                return
            await settlements.run_settlement(
                session, principal=SYSTEM, period_start=credit.disbursement_date, period_end=end
            )
    except Conflict:  # later periods were settled already: nothing to add
        return


async def seed_investors(person: Callable[[int], CustomerDraft]) -> int:
    """Add the demo investors, fundings and settlement that are missing; how many investors
    were added."""
    people, added = await _investors()
    await _fund_active_credits(people)
    credit = await _funded_story(people, person)
    if credit is not None:
        await _settle(credit)
    return added


__all__ = ["ACTIVE_FUNDINGS", "FUNDED_STORY", "INVESTORS", "seed_investors"]
