"""Inbound: a partner's platform reports its own status of a case.

``report_partner_status`` homologates the partner's code through its current table and,
when the reporter handles the case, applies the canonical status through the state
machine. A report from another involved partner (the originator, a past handler) is
recorded as that partner's own status and does not move the case: only the handler acts
on a case.

Reports carry the platform's ``externalVersion``, increasing per case:

- a lower version than the last one seen is out of order: ignored (STALE);
- the same version with the same status is a retry: ignored (DUPLICATE);
- the same version with another status, a code with no mapping, or a move the state
  machine forbids is REFUSED: recorded for review (:class:`InboundReportReview`) with a
  timeline entry, an audit record and a ``cases.partner_report_refused`` event.

A refusal is a *result*, not an exception, so the caller's transaction commits the review;
``ReportResult.error`` holds the domain error the API returns (``ValidationFailed`` for an
unmapped code or a reused version, ``InvalidTransition`` or ``Conflict`` for a move the
case cannot make). Bad input (a missing reference, a naive timestamp…) and a case the
partner is not involved in still raise, and nothing is recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases import events as case_events
from domain.cases import homologation, journal, lifecycle, references, rules, scopes
from domain.cases.errors import CaseNotFound
from domain.cases.models import (
    Case,
    CasePartnerStatus,
    InboundReportReview,
    ResolutionCode,
    ReviewReason,
    ReviewStatus,
    TimelineKind,
    Visibility,
)
from domain.cases.states import CaseStatus
from domain.shared import event_schemas as wire
from domain.shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidTransition,
    Problems,
    ValidationFailed,
)
from domain.shared.principal import Principal, Role
from domain.shared.sql import for_update
from domain.shared.time import NaiveDatetimeError, ensure_utc, utcnow

#: How far in the future ``occurredAt`` may be (clock skew between platforms).
_FUTURE_SKEW = timedelta(minutes=5)
_MAX_VERSION = 2**62


class ReportOutcome(StrEnum):
    APPLIED = "APPLIED"  # the case moved to the homologated status
    RECORDED = "RECORDED"  # the partner's status was recorded; the case did not move
    DUPLICATE = "DUPLICATE"  # this version was already reported: nothing to do
    STALE = "STALE"  # an older version than the last one: ignored
    REFUSED = "REFUSED"  # recorded for review; ``error`` says why


@dataclass(frozen=True)
class ReportResult:
    outcome: ReportOutcome
    case: Case
    canonical_status: CaseStatus | None = None
    review: InboundReportReview | None = None
    error: DomainError | None = None

    @property
    def refused(self) -> bool:
        return self.outcome is ReportOutcome.REFUSED


def _key(code: str | None) -> str:
    return (code or "").strip().casefold()


def _clean(
    problems: Problems,
    *,
    partner_status: str,
    external_version: int,
    occurred_at: datetime,
    case_reference: str | None,
    external_ref: str | None,
) -> tuple[str | None, datetime | None, str | None, str | None]:
    status = rules.text(problems, "partnerStatus", partner_status, max_len=60)
    if isinstance(external_version, bool) or not isinstance(external_version, int):
        problems.add("externalVersion", "must be an integer")
    elif not 0 <= external_version < _MAX_VERSION:
        problems.add("externalVersion", "must be between 0 and 2^62")
    when: datetime | None = None
    try:
        when = ensure_utc(occurred_at)
    except (NaiveDatetimeError, AttributeError, TypeError):
        problems.add("occurredAt", "must be a timestamp with a time zone")
    if when is not None and when > utcnow() + _FUTURE_SKEW:
        problems.add("occurredAt", "must not be in the future")
    reference = None
    if case_reference is not None and case_reference.strip():
        reference = references.normalise(case_reference)
        if reference is None:
            problems.add("caseRef", "must be a network reference like CS-2026-000123")
    ext = rules.external_ref(problems, "externalRef", external_ref)
    if reference is None and ext is None and not problems.items:
        problems.add("caseRef", "give the case's network reference or your platform's reference")
    return status, when, reference, ext


async def _find(
    session: AsyncSession, partner_id: uuid.UUID, reference: str | None, ext: str | None
) -> Case | None:
    if reference is not None:
        stmt = sa.select(Case).where(col(Case.reference) == reference)
    else:
        stmt = (
            sa.select(Case)
            .join(CasePartnerStatus, col(CasePartnerStatus.case_id) == col(Case.id))
            .where(
                col(CasePartnerStatus.partner_id) == partner_id,
                col(CasePartnerStatus.external_ref) == ext,
            )
        )
    stmt = for_update(stmt, session).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalars().first()


async def report_partner_status(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_status: str,
    external_version: int,
    occurred_at: datetime,
    case_reference: str | None = None,
    external_ref: str | None = None,
) -> ReportResult:
    """A partner system reports its platform's status of a case (see the module doc)."""
    scopes.ensure_can_write(principal)
    partner_id = principal.partner_id
    if partner_id is None or not principal.has_role(Role.PARTNER_SYSTEM):
        raise Forbidden("only partner systems report their platform's status")
    problems = Problems()
    status, when, reference, ext = _clean(
        problems,
        partner_status=partner_status,
        external_version=external_version,
        occurred_at=occurred_at,
        case_reference=case_reference,
        external_ref=external_ref,
    )
    problems.raise_if_any()
    assert status is not None and when is not None
    case = await _find(session, partner_id, reference, ext)
    if case is None or not await scopes.can_report_on(session, principal, case):
        raise CaseNotFound(reference or ext)
    row = await session.get(CasePartnerStatus, (case.id, partner_id))
    if ext is not None and reference is not None:
        await _check_external_ref(session, case, partner_id, row, ext)
    last = row.last_external_version if row is not None else None
    if last is not None and external_version < last:
        return ReportResult(ReportOutcome.STALE, case)
    if last is not None and external_version == last:
        if row is not None and _key(status) == _key(row.partner_status_code):
            return ReportResult(ReportOutcome.DUPLICATE, case)
        error: DomainError = ValidationFailed.on(
            "externalVersion",
            f"version {external_version} was already reported with another status",
        )
        return await _refuse(
            session,
            principal,
            case,
            status,
            external_version,
            when,
            reference,
            ext,
            reason=ReviewReason.VERSION_REUSED,
            error=error,
            canonical=None,
        )
    try:
        canonical = await homologation.to_canonical(session, partner_id, status)
    except ValidationFailed as exc:
        return await _refuse(
            session,
            principal,
            case,
            status,
            external_version,
            when,
            reference,
            ext,
            reason=ReviewReason.UNMAPPED_STATUS,
            error=exc,
            canonical=None,
        )
    if case.handling_partner_id != partner_id or canonical.value == case.status:
        await _record_partner_status(session, principal, case, status, external_version, when, ext)
        return ReportResult(ReportOutcome.RECORDED, case, canonical)
    return await _apply(
        session, principal, case, canonical, status, external_version, when, reference, ext
    )


async def _check_external_ref(
    session: AsyncSession,
    case: Case,
    partner_id: uuid.UUID,
    row: CasePartnerStatus | None,
    ext: str,
) -> None:
    if row is not None and row.external_ref is not None:
        if row.external_ref != ext:
            raise ValidationFailed.on(
                "externalRef", "your platform already has another reference for this case"
            )
        return
    stmt = sa.select(col(CasePartnerStatus.case_id)).where(
        col(CasePartnerStatus.partner_id) == partner_id,
        col(CasePartnerStatus.external_ref) == ext,
        col(CasePartnerStatus.case_id) != case.id,
    )
    if (await session.execute(stmt)).first() is not None:
        raise ValidationFailed.on("externalRef", "another case already has this reference")


async def _note_report(
    session: AsyncSession,
    case: Case,
    partner_id: uuid.UUID,
    status: str,
    external_version: int,
    when: datetime,
    ext: str | None,
) -> str | None:
    """Update the partner's row with the report; returns its previous status code."""
    row = await journal.ensure_partner_row(session, case, partner_id, external_ref=ext)
    previous = row.partner_status_code
    row.partner_status_code = status
    row.last_external_version = external_version
    row.last_reported_at = utcnow()
    row.reported_occurred_at = when
    row.updated_at = row.last_reported_at
    return previous


async def _record_partner_status(
    session: AsyncSession,
    principal: Principal,
    case: Case,
    status: str,
    external_version: int,
    when: datetime,
    ext: str | None,
) -> None:
    assert principal.partner_id is not None
    previous = await _note_report(
        session, case, principal.partner_id, status, external_version, when, ext
    )
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.PARTNER_STATUS_REPORTED,
        topic="cases.partner_status_reported",
        before={"partner_status": previous},
        after={"partner_status": status, "external_version": external_version},
        payload={
            "partnerId": wire.global_id("Partner", principal.partner_id),
            "partnerStatus": status,
            "externalVersion": external_version,
            "occurredAt": wire.instant(when),
        },
    )


async def _apply(
    session: AsyncSession,
    principal: Principal,
    case: Case,
    canonical: CaseStatus,
    status: str,
    external_version: int,
    when: datetime,
    reference: str | None,
    ext: str | None,
) -> ReportResult:
    assert principal.partner_id is not None
    before = journal.snapshot(case)
    now = utcnow()
    try:
        topic = await lifecycle.apply_status(session, case, canonical, now=now)
    except (InvalidTransition, Conflict) as exc:
        return await _refuse(
            session,
            principal,
            case,
            status,
            external_version,
            when,
            reference,
            ext,
            reason=ReviewReason.INVALID_TRANSITION,
            error=exc,
            canonical=canonical,
        )
    note = f"reported by the partner's platform as {status} (version {external_version})"
    if canonical is CaseStatus.RESOLVED:
        case.resolution_code = ResolutionCode.PARTNER_REPORTED.value
        case.resolution_note = note
    elif canonical is CaseStatus.REJECTED:
        case.resolution_code = ResolutionCode.REJECTED.value
        case.resolution_note = note
    await _note_report(session, case, principal.partner_id, status, external_version, when, ext)
    case.version += 1
    case.updated_at = now
    after = journal.snapshot(case)
    old, fresh = journal.changed(before, after)
    kind = {
        "cases.reopened": TimelineKind.REOPENED,
        "cases.resolved": TimelineKind.RESOLVED,
    }.get(topic, TimelineKind.STATUS_CHANGED)
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=kind,
        topic=topic,
        before=old,
        after=fresh,
        audit_before=before,
        audit_after=after,
        visibility=Visibility.CUSTOMER,
        note=note,
        payload={
            "fromStatus": before["status"],
            "toStatus": case.status,
            "source": case_events.PARTNER_REPORT,
            "partnerId": wire.global_id("Partner", principal.partner_id),
            "partnerStatus": status,
            "externalVersion": external_version,
        },
    )
    return ReportResult(ReportOutcome.APPLIED, case, canonical)


async def _refuse(
    session: AsyncSession,
    principal: Principal,
    case: Case,
    status: str,
    external_version: int,
    when: datetime,
    reference: str | None,
    ext: str | None,
    *,
    reason: ReviewReason,
    error: DomainError,
    canonical: CaseStatus | None,
) -> ReportResult:
    assert principal.partner_id is not None
    existing = (
        (
            await session.execute(
                sa.select(InboundReportReview).where(
                    col(InboundReportReview.partner_id) == principal.partner_id,
                    col(InboundReportReview.case_id) == case.id,
                    col(InboundReportReview.external_version) == external_version,
                    col(InboundReportReview.partner_status) == status,
                    col(InboundReportReview.status) == ReviewStatus.PENDING.value,
                )
            )
        )
        .scalars()
        .first()
    )
    if existing is not None:  # the platform retried a refused report: one review is enough
        return ReportResult(ReportOutcome.REFUSED, case, canonical, existing, error)
    review = InboundReportReview(
        partner_id=principal.partner_id,
        case_id=case.id,
        case_reference=reference or case.reference,
        external_ref=ext,
        partner_status=status,
        canonical_status=canonical.value if canonical else None,
        case_status=case.status,
        external_version=external_version,
        occurred_at=when,
        reason=reason.value,
        message=error.message[:500],
        reported_by=principal.subject,
    )
    session.add(review)
    await journal.record(
        session,
        principal=principal,
        case=case,
        kind=TimelineKind.PARTNER_REPORT_REFUSED,
        topic="cases.partner_report_refused",
        after={
            "review_id": review.id,
            "partner_status": status,
            "external_version": external_version,
            "reason": reason.value,
        },
        note=error.message[:2000],
        payload={
            "reviewId": str(review.id),
            "partnerId": wire.global_id("Partner", principal.partner_id),
            "partnerStatus": status,
            "externalVersion": external_version,
            "reason": reason.value,
        },
    )
    return ReportResult(ReportOutcome.REFUSED, case, canonical, review, error)
