"""Financial reports of a lender: computed, kept, listed, rerun and restated.

- :func:`financial_report` — the figures of a kind and period as data: the stored report
  when there is one (its latest revision), else computed now from the facts known now
  (nothing stored).
- :func:`generate_report` — compute and keep a report with its CSV and XLSX files (the
  scheduled job and ``generateReport``); a period already reported returns the report
  kept (generating is idempotent) unless ``restate`` asks for a new revision from the
  facts known now.
- :func:`rerun_report` — compute a kept report again from the same facts (its
  ``known_at``, and the ledger policy it was computed with) and check the figures and both
  files come out byte for byte the same.

Only the lender's staff and administrators see a lender's reports; each read of a file
goes through :func:`read_file`, which checks again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import work_access as access
from domain.collections.collectors import lock_lender
from domain.collections.reports import builders, render
from domain.collections.reports.facts import policy_from, policy_params
from domain.collections.reports.periods import Period, parse_period
from domain.collections.reports.tables import Table, canonical, sha256
from domain.collections.work_models import Report, ReportKind
from domain.credits.policy import COUNTRY_TIMEZONES, CreditPolicy, get_policy, today
from domain.partners.models import Partner
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Forbidden, NotFound, ValidationFailed
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import isoformat, utcnow

__all__ = [
    "CONTENT_TYPES",
    "ComputedReport",
    "RerunResult",
    "compute",
    "file_name",
    "financial_report",
    "generate_report",
    "get_report",
    "lender_timezone",
    "list_reports",
    "read_file",
    "rerun_report",
]

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_CURSOR_TAG = "reports.v1"


class FileStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...


def lender_timezone(partner: Partner) -> str:
    """The lender's business calendar (its country's timezone)."""
    return COUNTRY_TIMEZONES.get(partner.country, COUNTRY_TIMEZONES["CL"])


def _kind(value: str | ReportKind, field: str = "kind") -> ReportKind:
    try:
        return ReportKind(value)
    except ValueError:
        names = ", ".join(k.value for k in ReportKind)
        raise ValidationFailed.on(field, f"one of {names}") from None


async def _partner(session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("Partner", partner_id)
    return partner


async def compute(
    session: AsyncSession,
    *,
    partner: Partner,
    kind: ReportKind,
    period: Period,
    known_at: datetime,
    policy: CreditPolicy | None = None,
    revision: int = 1,
) -> dict[str, Any]:
    """The report's figures (no access check: callers check)."""
    policy = policy or get_policy()
    timezone = lender_timezone(partner)
    summary: list[dict[str, Any]]
    tables: list[Table]
    if kind is ReportKind.AGING:
        summary, tables = await builders.aging(
            session, partner_id=partner.id, period=period, known_at=known_at, policy=policy
        )
    elif kind is ReportKind.PORTFOLIO:
        summary, tables = await builders.portfolio(
            session, partner_id=partner.id, period=period, known_at=known_at, policy=policy
        )
    elif kind is ReportKind.COLLECTIONS:
        summary, tables = await builders.collections(
            session,
            partner_id=partner.id,
            period=period,
            known_at=known_at,
            policy=policy,
            timezone=timezone,
        )
    else:
        from domain.collections.reports import reconciliation

        summary, tables = await reconciliation.reconciliation(
            session, partner_id=partner.id, period=period, known_at=known_at
        )
    return {
        "kind": kind.value,
        "lender": {
            "id": wire.global_id("Partner", partner.id),
            "code": partner.code,
            "name": partner.name,
        },
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "label": period.label,
        },
        "knownAt": isoformat(known_at),
        "timezone": timezone,
        "revision": revision,
        "policy": policy_params(policy),
        "summary": summary,
        "tables": [t.to_json() for t in tables],
    }


@dataclass(frozen=True)
class ComputedReport:
    data: dict[str, Any]
    stored: Report | None


async def _latest(
    session: AsyncSession,
    partner_id: uuid.UUID,
    kind: ReportKind,
    period: Period,
    *,
    lock: bool = False,
) -> Report | None:
    stmt = (
        sa.select(Report)
        .where(
            col(Report.partner_id) == partner_id,
            col(Report.kind) == kind.value,
            col(Report.period_start) == period.start,
            col(Report.period_end) == period.end,
        )
        .order_by(col(Report.revision).desc())
        .limit(1)
    )
    if lock:
        stmt = for_update(stmt, session)
    return (await session.execute(stmt)).scalars().first()


async def _lender(
    session: AsyncSession, principal: Principal, lender_id: uuid.UUID | None
) -> Partner:
    partner_id = access.lender_for(principal, lender_id)
    return await _partner(session, partner_id)


async def financial_report(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    kind: str | ReportKind,
    period: str,
) -> ComputedReport:
    access.ensure_can_read(principal)
    report_kind = _kind(kind)
    partner = await _lender(session, principal, lender_id)
    parsed = parse_period(period, today=today(lender_timezone(partner)))
    stored = await _latest(session, partner.id, report_kind, parsed)
    if stored is not None:
        return ComputedReport(stored.data, stored)
    data = await compute(
        session, partner=partner, kind=report_kind, period=parsed, known_at=utcnow()
    )
    return ComputedReport(data, None)


def file_name(report: Report, fmt: str) -> str:
    """``reporte-aging-AUTOCREDITO-2026-11-r1.csv``."""
    label = (
        report.data.get("period", {})
        .get("label", report.period_start.isoformat())
        .replace("/", "_")
    )
    code = report.data.get("lender", {}).get("code", "lender")
    return f"reporte-{report.kind.lower()}-{code}-{label}-r{report.revision}.{fmt}"


def _key(report_id: uuid.UUID, fmt: str) -> str:
    return f"reports/{report_id}/{fmt}"


async def generate_report(
    session: AsyncSession,
    *,
    principal: Principal,
    store: FileStore,
    lender_id: uuid.UUID | None,
    kind: str | ReportKind,
    period: str,
    restate: bool = False,
    trigger: str = "MANUAL",
) -> Report:
    """Compute and keep a report with its files (see the module doc)."""
    access.ensure_can_work(principal)
    if restate:
        access.ensure_can_manage(principal)
    report_kind = _kind(kind)
    partner = await _lender(session, principal, lender_id)
    parsed = parse_period(period, today=today(lender_timezone(partner)))
    # One generation per lender and kind at a time (revisions never collide), without
    # locking any row the lender's other work needs.
    await lock_lender(session, partner.id, f"report:{report_kind.value}")
    existing = await _latest(session, partner.id, report_kind, parsed)
    if existing is not None and not restate:
        return existing
    revision = existing.revision + 1 if existing is not None else 1
    known_at = utcnow()
    data = await compute(
        session,
        partner=partner,
        kind=report_kind,
        period=parsed,
        known_at=known_at,
        revision=revision,
    )
    csv_bytes, xlsx_bytes = render.to_csv(data), render.to_xlsx(data)
    report = Report(
        partner_id=partner.id,
        kind=report_kind.value,
        period_start=parsed.start,
        period_end=parsed.end,
        revision=revision,
        known_at=known_at,
        timezone=data["timezone"],
        data=data,
        figures_sha256=sha256(canonical(data)),
        csv_key="",
        csv_sha256=sha256(csv_bytes),
        csv_size=len(csv_bytes),
        xlsx_key="",
        xlsx_sha256=sha256(xlsx_bytes),
        xlsx_size=len(xlsx_bytes),
        trigger=trigger,
        generated_by=principal.subject,
    )
    report.csv_key = _key(report.id, "csv")
    report.xlsx_key = _key(report.id, "xlsx")
    # Files first: a failed commit leaves unreferenced files, never a report without them.
    await store.put(report.csv_key, csv_bytes, content_type=CONTENT_TYPES["csv"])
    await store.put(report.xlsx_key, xlsx_bytes, content_type=CONTENT_TYPES["xlsx"])
    session.add(report)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.report_generated",
        entity_type="FinancialReport",
        entity_id=report.id,
        after={
            "partner_id": partner.id,
            "kind": report.kind,
            "period_start": report.period_start,
            "period_end": report.period_end,
            "revision": report.revision,
            "known_at": report.known_at,
            "figures_sha256": report.figures_sha256,
            "csv_sha256": report.csv_sha256,
            "xlsx_sha256": report.xlsx_sha256,
        },
    )
    outbox.add(
        session,
        "collections.report_generated",
        {
            "partnerId": wire.global_id("Partner", partner.id),
            "reportId": str(report.id),
            "kind": report.kind,
            "periodStart": wire.day(report.period_start),
            "periodEnd": wire.day(report.period_end),
            "revision": report.revision,
            "knownAt": wire.instant(report.known_at),
            "figuresSha256": report.figures_sha256,
        },
        partner_ids=[partner.id],
        key=wire.global_id("Partner", partner.id),
    )
    return report


@dataclass(frozen=True)
class RerunResult:
    report: Report
    identical: bool
    figures_sha256: str
    csv_sha256: str
    xlsx_sha256: str


async def rerun_report(
    session: AsyncSession, *, principal: Principal, report_id: uuid.UUID
) -> RerunResult:
    """Compute a kept report again from the facts known at its ``known_at``: the same
    figures and files, byte for byte, whatever was recorded since."""
    access.ensure_can_work(principal)
    report = await get_report(session, principal=principal, report_id=report_id, lock=True)
    partner = await _partner(session, report.partner_id)
    data = await compute(
        session,
        partner=partner,
        kind=ReportKind(report.kind),
        period=Period(report.period_start, report.period_end),
        known_at=report.known_at,
        policy=policy_from(report.data.get("policy")),
        revision=report.revision,
    )
    figures = sha256(canonical(data))
    csv_hash = sha256(render.to_csv(data))
    xlsx_hash = sha256(render.to_xlsx(data))
    identical = (figures, csv_hash, xlsx_hash) == (
        report.figures_sha256,
        report.csv_sha256,
        report.xlsx_sha256,
    )
    before = {"rerun_count": report.rerun_count}
    report.rerun_count += 1
    report.last_rerun_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.report_rerun",
        entity_type="FinancialReport",
        entity_id=report.id,
        before=before,
        after={
            "rerun_count": report.rerun_count,
            "identical": identical,
            "figures_sha256": figures,
            "csv_sha256": csv_hash,
            "xlsx_sha256": xlsx_hash,
        },
    )
    return RerunResult(report, identical, figures, csv_hash, xlsx_hash)


async def get_report(
    session: AsyncSession, *, principal: Principal, report_id: uuid.UUID, lock: bool = False
) -> Report:
    access.ensure_can_read(principal)
    stmt = sa.select(Report).where(col(Report.id) == report_id)
    if lock:
        stmt = for_update(stmt, session)
    report = (await session.execute(stmt)).scalars().first()
    if report is None:
        raise NotFound("FinancialReport", report_id)
    access.ensure_same_lender(principal, report.partner_id, "FinancialReport", report_id)
    return report


async def read_file(
    session: AsyncSession, *, principal: Principal, store: FileStore, report_id: uuid.UUID, fmt: str
) -> tuple[Report, bytes]:
    """A report's file, checked against its recorded hash (a file changed in the store is
    refused rather than served)."""
    if fmt not in CONTENT_TYPES:
        raise ValidationFailed.on("format", "csv or xlsx")
    report = await get_report(session, principal=principal, report_id=report_id)
    key, expected = (
        (report.csv_key, report.csv_sha256)
        if fmt == "csv"
        else (report.xlsx_key, report.xlsx_sha256)
    )
    data = await store.get(key)
    if sha256(data) != expected:
        raise Forbidden("the stored file does not match the report's recorded hash")
    return report, data


async def list_reports(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    limit: int,
    after: str | None = None,
    kinds: Sequence[str] | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
) -> Page[Report]:
    """A lender's kept reports, the newest first."""
    access.ensure_can_read(principal)
    partner_id = access.lender_for(principal, lender_id)
    conditions: list[sa.ColumnElement[bool]] = [col(Report.partner_id) == partner_id]
    if kinds:
        conditions.append(col(Report.kind).in_([_kind(k).value for k in kinds]))
    if period_from is not None:
        conditions.append(col(Report.period_end) >= period_from)
    if period_to is not None:
        conditions.append(col(Report.period_start) <= period_to)
    stmt = sa.select(Report).where(*conditions)
    if after:
        (raw,) = decode_cursor(after, _CURSOR_TAG, 1)
        try:
            last = uuid.UUID(str(raw))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        stmt = stmt.where(col(Report.id) < last)
    rows = list(
        (await session.execute(stmt.order_by(col(Report.id).desc()).limit(limit + 1))).scalars()
    )
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_TAG, str(r.id)) for r in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
    )


async def lenders_to_report(session: AsyncSession) -> list[Partner]:
    """Partners that hold credits or collection accounts: the lenders reports are made for."""
    from domain.collections.models import BankAccount
    from domain.credits.models import Credit

    holders = sa.union(sa.select(col(Credit.partner_id)), sa.select(col(BankAccount.partner_id)))
    rows = await session.execute(
        sa.select(Partner)
        .where(col(Partner.id).in_(holders), col(Partner.active).is_(True))
        .order_by(col(Partner.code))
    )
    return list(rows.scalars())
