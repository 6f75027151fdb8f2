"""Service levels: due times on each country's banking calendar, at-risk and breached flags.

Business days are banking days of the handling partner's country: Monday to Friday except
public holidays and bank holidays, from the ``holidays`` package (``python-holidays``,
categories ``public`` and ``bank`` where the country has them, e.g. Chile's 31 December
and Argentina's Bankers' Day). A target of N business days is due at the end of the Nth
business day after the day the window starts (that day does not count, as in Chilean
and Argentine administrative practice), in the country's time zone. A target in hours is
clock time (round-the-clock matters such as blocking a card).

The clock stops while the case waits for the customer: the window is moved forward by the
time spent paused. :func:`evaluate_sla` is the periodic sweep: set-based updates that flag
cases at risk (less than ``at_risk_fraction`` of the window left) and breached (past due),
escalate breached ones to the handling partner's supervisors, and write one timeline entry,
one event and (per batch) one audit record. Each flag fires once per window.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.cases import journal
from domain.cases.models import Case, SlaState, TimelineKind
from domain.cases.states import ACTIVE, SLA_PAUSED
from domain.shared import event_schemas as wire
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM
from domain.shared.sql import advisory_xact_lock, dialect_of
from domain.shared.time import ensure_utc, isoformat

#: Time zone in which each country's business days are counted.
COUNTRY_TIMEZONES: dict[str, str] = {
    "CL": "America/Santiago",
    "AR": "America/Argentina/Buenos_Aires",
    "MX": "America/Mexico_City",
    "CO": "America/Bogota",
    "PE": "America/Lima",
}
#: A case is at risk when less than this share of its window is left.
AT_RISK_FRACTION = Decimal("0.25")
#: Serializes concurrent sweeps on PostgreSQL.
SWEEP_LOCK_KEY = 7_461_004
_MAX_BUSINESS_DAYS = 366


# --- calendar -----------------------------------------------------------------------------
def timezone_of(country: str) -> ZoneInfo:
    try:
        return ZoneInfo(COUNTRY_TIMEZONES[country])
    except KeyError:
        raise ValueError(f"no business calendar for country {country!r}") from None


@functools.lru_cache(maxsize=64)
def holidays_of(country: str, year: int) -> frozenset[date]:
    """Public and bank holidays of ``country`` in ``year``."""
    if country not in COUNTRY_TIMEZONES:
        raise ValueError(f"no business calendar for country {country!r}")
    supported = holidays.country_holidays(country).supported_categories
    categories = tuple(c for c in ("public", "bank") if c in supported)
    return frozenset(holidays.country_holidays(country, years=year, categories=categories))


def is_business_day(country: str, day: date) -> bool:
    return day.weekday() < 5 and day not in holidays_of(country, day.year)


def add_business_days(country: str, start: date, days: int) -> date:
    """The ``days``-th business day after ``start`` (``start`` itself does not count)."""
    if not 0 < days <= _MAX_BUSINESS_DAYS:
        raise ValueError("business days must be 1-366")
    day = start
    left = days
    while left:
        day += timedelta(days=1)
        if is_business_day(country, day):
            left -= 1
    return day


def compute_due(
    start: datetime,
    *,
    country: str,
    business_days: int | None = None,
    hours: int | None = None,
) -> datetime:
    """When a window starting at ``start`` is due (UTC)."""
    start = ensure_utc(start)
    if (business_days is None) == (hours is None):
        raise ValueError("give exactly one of business_days or hours")
    if hours is not None:
        if hours <= 0:
            raise ValueError("hours must be positive")
        return start + timedelta(hours=hours)
    assert business_days is not None
    zone = timezone_of(country)
    last = add_business_days(country, start.astimezone(zone).date(), business_days)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return ensure_utc(end)


def due_for(typology: Any, *, country: str, start: datetime) -> datetime:
    return compute_due(
        start,
        country=country,
        business_days=typology.sla_business_days,
        hours=typology.sla_hours,
    )


def state_at(
    now: datetime,
    *,
    started_at: datetime,
    due_at: datetime,
    at_risk_fraction: Decimal = AT_RISK_FRACTION,
) -> SlaState:
    """The flag a window deserves at ``now`` (what the sweep would set)."""
    if now >= due_at:
        return SlaState.BREACHED
    window = (due_at - started_at).total_seconds()
    left = (due_at - now).total_seconds()
    if Decimal(str(left)) <= at_risk_fraction * Decimal(str(window)):
        return SlaState.AT_RISK
    return SlaState.ON_TRACK


# --- changes to one case (services call these on the loaded Case) -------------------------
def start_window(case: Case, *, typology: Any, country: str, now: datetime) -> None:
    """A new window from ``now`` on the handler's calendar: at opening, when a derivation
    is accepted (the new handler gets its own window), when the case is reopened, or when
    its typology changes (then from the current start)."""
    case.sla_started_at = now
    case.sla_due_at = due_for(typology, country=country, start=now)
    case.sla_state = SlaState.ON_TRACK.value
    case.sla_at_risk_at = None
    case.sla_breached_at = None
    case.escalated_at = None
    case.escalated_to = None
    case.sla_paused_at = now if case.status in SLA_PAUSED else None


def pause(case: Case, now: datetime) -> None:
    if case.sla_paused_at is None:
        case.sla_paused_at = now


def resume(case: Case, now: datetime) -> None:
    """Move the window forward by the time it was paused."""
    if case.sla_paused_at is None:
        return
    paused = now - case.sla_paused_at
    if paused > timedelta(0):
        if case.sla_started_at is not None:
            case.sla_started_at += paused
        if case.sla_due_at is not None:
            case.sla_due_at += paused
    case.sla_paused_at = None


def follow_status(case: Case, new_status: str, now: datetime) -> None:
    """Stop or restart the clock when the status enters or leaves a paused state."""
    if new_status in SLA_PAUSED:
        pause(case, now)
    else:
        resume(case, now)


def snapshot(case: Case) -> dict[str, Any]:
    return {
        "sla_started_at": case.sla_started_at,
        "sla_due_at": case.sla_due_at,
        "sla_state": case.sla_state,
        "sla_paused_at": case.sla_paused_at,
        "escalated_at": case.escalated_at,
        "escalated_to": case.escalated_to,
    }


# --- the sweep --------------------------------------------------------------------------
@dataclass
class SlaSweep:
    at_risk: list[uuid.UUID] = field(default_factory=list)
    breached: list[uuid.UUID] = field(default_factory=list)


def _seconds(column: Any, dialect: str) -> sa.ColumnElement[Any]:
    """Seconds since the epoch of a timestamp column, in SQL."""
    if dialect == "postgresql":
        return sa.cast(sa.func.extract("epoch", column), sa.Float)
    return (sa.func.julianday(column) - 2440587.5) * 86400.0


_RUNNING = sorted(s.value for s in ACTIVE - SLA_PAUSED)


async def evaluate_sla(
    session: AsyncSession,
    *,
    now: datetime,
    at_risk_fraction: Decimal = AT_RISK_FRACTION,
    batch_size: int = 500,
) -> SlaSweep:
    """Flag breached and at-risk cases set-wise; escalate the breached ones.

    Runs as the system. Each case is flagged at most once per window: a flagged case is not
    flagged again until its window restarts (derivation accepted, reopening).
    """
    now = ensure_utc(now)
    if not Decimal(0) < at_risk_fraction < Decimal(1):
        raise ValueError("at_risk_fraction must be between 0 and 1")
    await advisory_xact_lock(session, SWEEP_LOCK_KEY)
    sweep = SlaSweep()
    cases = table_of(Case)
    dialect = dialect_of(session)
    now_value = sa.literal(now, type_=cases.c.sla_due_at.type)
    running = [
        cases.c.status.in_(_RUNNING),
        cases.c.sla_due_at.is_not(None),
        cases.c.sla_paused_at.is_(None),
        cases.c.sla_breached_at.is_(None),
    ]
    breached_when = [*running, cases.c.sla_due_at <= now_value]
    left = _seconds(cases.c.sla_due_at, dialect) - _seconds(now_value, dialect)
    window = _seconds(cases.c.sla_due_at, dialect) - _seconds(cases.c.sla_started_at, dialect)
    at_risk_when = [
        *running,
        cases.c.sla_at_risk_at.is_(None),
        cases.c.sla_due_at > now_value,
        left <= sa.literal(float(at_risk_fraction)) * window,
    ]
    common = {
        "version": cases.c.version + 1,
        "timeline_seq": cases.c.timeline_seq + 1,
        "updated_at": now,
    }
    while True:
        rows = await _flag(
            session,
            breached_when,
            {
                **common,
                "sla_state": SlaState.BREACHED.value,
                "sla_breached_at": now,
                "sla_at_risk_at": sa.func.coalesce(cases.c.sla_at_risk_at, now_value),
                "escalated_at": now,
                "escalated_to": cases.c.handling_partner_id,
            },
            batch_size,
        )
        if not rows:
            break
        await _record(session, rows, SlaState.BREACHED, now)
        sweep.breached.extend(r.id for r in rows)
    while True:
        rows = await _flag(
            session,
            at_risk_when,
            {**common, "sla_state": SlaState.AT_RISK.value, "sla_at_risk_at": now},
            batch_size,
        )
        if not rows:
            break
        await _record(session, rows, SlaState.AT_RISK, now)
        sweep.at_risk.extend(r.id for r in rows)
    return sweep


async def _flag(
    session: AsyncSession,
    conditions: list[sa.ColumnElement[bool]],
    values: dict[str, Any],
    batch_size: int,
) -> Sequence[Any]:
    cases = table_of(Case)
    chosen = (
        sa.select(cases.c.id)
        .where(*conditions)
        .order_by(cases.c.sla_due_at, cases.c.id)
        .limit(batch_size)
        .scalar_subquery()
    )
    stmt = (
        cases.update()
        .where(cases.c.id.in_(chosen), *conditions)
        .values(**values)
        .returning(
            cases.c.id,
            cases.c.reference,
            cases.c.version,
            cases.c.timeline_seq,
            cases.c.status,
            cases.c.typology_code,
            cases.c.originating_partner_id,
            cases.c.handling_partner_id,
            cases.c.pending_derivation_to,
            cases.c.sla_due_at,
            cases.c.sla_at_risk_at,
        )
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).all()


async def _record(
    session: AsyncSession, rows: Sequence[Any], flag: SlaState, now: datetime
) -> None:
    breached = flag is SlaState.BREACHED
    entries: list[journal.BulkEntry] = []
    for row in rows:
        was_at_risk = breached and row.sla_at_risk_at is not None and row.sla_at_risk_at < now
        after: dict[str, Any] = {"sla_state": flag.value, "sla_due_at": row.sla_due_at}
        payload: dict[str, Any] = {
            **journal.event_fields(
                case_id=row.id,
                reference=row.reference,
                version=row.version,
                status=row.status,
                typology_code=row.typology_code,
                originating_partner_id=row.originating_partner_id,
                handling_partner_id=row.handling_partner_id,
                pending_derivation_to=row.pending_derivation_to,
            ),
            "slaDueAt": wire.maybe_instant(row.sla_due_at),
        }
        if breached:
            after.update(escalated_at=now, escalated_to=row.handling_partner_id)
            payload["escalatedTo"] = wire.global_id("Partner", row.handling_partner_id)
        partners = {row.originating_partner_id, row.handling_partner_id}
        if row.pending_derivation_to is not None:
            partners.add(row.pending_derivation_to)
        entries.append(
            journal.BulkEntry(
                case_id=row.id,
                seq=row.timeline_seq,
                partners=frozenset(partners),
                payload=payload,
                before={"sla_state": "AT_RISK" if was_at_risk else "ON_TRACK"},
                after=after,
            )
        )
    topic = "cases.sla_breached" if breached else "cases.sla_at_risk"
    await journal.record_many(
        session,
        principal=SYSTEM,
        kind=TimelineKind.SLA_BREACHED if breached else TimelineKind.SLA_AT_RISK,
        topic=topic,
        entries=entries,
        at=now,
        audit_entity_type="CaseSla",
        audit_entity_id=isoformat(now),
        audit_after={"flag": flag.value, "cases": sorted(r.reference for r in rows)},
    )
