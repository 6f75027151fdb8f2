"""Inbound status reports from partner platforms: homologated, applied through the state
machine, duplicates and out-of-order reports recognised, refusals recorded for review."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session
from domain.cases import service
from domain.cases.errors import CaseNotFound
from domain.cases.models import CasePartnerStatus, InboundReportReview
from domain.cases.reports import ReportOutcome, ReportResult
from domain.shared.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from domain.shared.principal import Principal
from domain.shared.time import utcnow
from tests.domain.cases.conftest import (
    ADMIN,
    Network,
    derived_to,
    events,
    fingerprint,
    load,
    open_case,
    refused,
    run,
    timeline,
)

WHEN = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


async def report(by: Principal, case: Any, status: str, version: int, **kw: Any) -> ReportResult:
    if "case_reference" not in kw and "external_ref" not in kw:
        kw["case_reference"] = case.reference
    result: ReportResult = await run(
        service.report_partner_status,
        by,
        partner_status=status,
        external_version=version,
        occurred_at=kw.pop("occurred_at", WHEN),
        **kw,
    )
    return result


async def reviews() -> list[InboundReportReview]:
    async with read_session() as session:
        rows = await session.execute(sa.select(InboundReportReview))
        return list(rows.scalars().all())


async def partner_row(case_id: Any, partner_id: Any) -> CasePartnerStatus:
    async with read_session() as session:
        row = await session.get(CasePartnerStatus, (case_id, partner_id))
        assert row is not None
        return row


async def test_the_handler_platform_moves_the_case(net: Network, mappings: None) -> None:
    case = await open_case(net)
    system = net.system("BANCO_ANDINO")
    result = await report(system, case, " en_proceso ", 10)
    assert result.outcome is ReportOutcome.APPLIED and not result.refused
    assert result.canonical_status == "IN_PROGRESS"
    case = await load(case.id)
    assert (case.status, case.version) == ("IN_PROGRESS", 2)
    row = await partner_row(case.id, net.ids["BANCO_ANDINO"])
    assert (row.partner_status_code, row.last_external_version) == ("en_proceso", 10)
    assert row.reported_occurred_at == WHEN
    [event] = await events("cases.status_changed")
    assert event.payload["source"] == "PARTNER_REPORT"
    assert event.payload["partnerStatus"] == "en_proceso"
    entry = (await timeline(case.id))[-1]
    assert entry.kind == "STATUS_CHANGED" and entry.actor_subject == system.subject

    # The same report again, and an older one, change nothing.
    before = await fingerprint()
    assert (await report(system, case, "EN_PROCESO", 10)).outcome is ReportOutcome.DUPLICATE
    assert (await report(system, case, "RESUELTO", 9)).outcome is ReportOutcome.STALE
    assert await fingerprint() == before

    # The platform resolves it.
    result = await report(system, case, "RESUELTO", 11)
    assert result.outcome is ReportOutcome.APPLIED
    case = await load(case.id)
    assert (case.status, case.resolution_code) == ("RESOLVED", "PARTNER_REPORTED")
    assert case.resolution_note is not None and "RESUELTO" in case.resolution_note
    assert (await events("cases.resolved"))[0].payload["source"] == "PARTNER_REPORT"

    # ... and reopens it within the window.
    result = await report(system, case, "EN_PROCESO", 12)
    assert result.outcome is ReportOutcome.APPLIED
    assert (await load(case.id)).status == "IN_PROGRESS"
    assert len(await events("cases.reopened")) == 1


async def test_a_status_matching_the_case_is_recorded(net: Network, mappings: None) -> None:
    case = await open_case(net)
    result = await report(net.system("BANCO_ANDINO"), case, "INGRESADO", 1)
    assert result.outcome is ReportOutcome.RECORDED
    assert (await load(case.id)).version == 1
    row = await partner_row(case.id, net.ids["BANCO_ANDINO"])
    assert (row.partner_status_code, row.last_external_version) == ("INGRESADO", 1)
    [event] = await events("cases.partner_status_reported")
    assert event.payload["partnerStatus"] == "INGRESADO"


async def test_another_involved_partner_records_its_own_status(
    net: Network, mappings: None
) -> None:
    case = await derived_to(net, await open_case(net), "RETAIL_SUR")
    result = await report(net.system("BANCO_ANDINO"), case, "CERRADO", 5)
    assert result.outcome is ReportOutcome.RECORDED
    after = await load(case.id)
    assert (after.status, after.version) == ("OPEN", case.version)  # only the handler moves it
    row = await partner_row(case.id, net.ids["BANCO_ANDINO"])
    assert row.partner_status_code == "CERRADO"


async def test_an_impossible_move_is_refused_and_kept_for_review(
    net: Network, mappings: None
) -> None:
    case = await open_case(net)
    system = net.system("BANCO_ANDINO")
    result = await report(system, case, "CERRADO", 3)  # OPEN cannot go to CLOSED
    assert result.outcome is ReportOutcome.REFUSED and result.refused
    assert isinstance(result.error, InvalidTransition)
    assert result.canonical_status == "CLOSED"
    # The refusal was committed although the report failed.
    [review] = await reviews()
    assert (review.reason, review.status, review.case_status) == (
        "INVALID_TRANSITION",
        "PENDING",
        "OPEN",
    )
    assert (review.partner_status, review.external_version) == ("CERRADO", 3)
    assert review.case_id == case.id and review.partner_id == net.ids["BANCO_ANDINO"]
    assert result.review is not None and result.review.id == review.id
    after = await load(case.id)
    assert (after.status, after.version) == ("OPEN", 1)
    entry = (await timeline(case.id))[-1]
    assert (entry.kind, entry.visibility) == ("PARTNER_REPORT_REFUSED", "INTERNAL")
    [event] = await events("cases.partner_report_refused")
    assert event.payload["reviewId"] == str(review.id)
    # The partner's version did not advance: a corrected report with the same number works.
    assert (await partner_row(case.id, net.ids["BANCO_ANDINO"])).last_external_version is None
    # A retry of the refused report does not pile up reviews.
    before = await fingerprint()
    again = await report(system, case, "CERRADO", 3)
    assert again.outcome is ReportOutcome.REFUSED and again.review is not None
    assert again.review.id == review.id
    assert await fingerprint() == before
    assert (await report(system, case, "EN_PROCESO", 3)).outcome is ReportOutcome.APPLIED


async def test_an_unmapped_status_is_refused_clearly(net: Network, mappings: None) -> None:
    case = await open_case(net)
    result = await report(net.system("BANCO_ANDINO"), case, "PENDIENTE_FIRMA", 1)
    assert result.outcome is ReportOutcome.REFUSED
    assert isinstance(result.error, ValidationFailed)
    assert result.error.problems[0].field == "partnerStatus"
    assert "no mapping" in result.error.message
    [review] = await reviews()
    assert review.reason == "UNMAPPED_STATUS" and review.canonical_status is None


async def test_a_partner_without_a_table_is_refused(net: Network) -> None:
    case = await open_case(net)
    result = await report(net.system("BANCO_ANDINO"), case, "EN_PROCESO", 1)
    assert result.outcome is ReportOutcome.REFUSED
    assert isinstance(result.error, ValidationFailed)
    assert "empty" in result.error.message


async def test_a_reused_version_with_another_status_is_refused(
    net: Network, mappings: None
) -> None:
    case = await open_case(net)
    system = net.system("BANCO_ANDINO")
    await report(system, case, "EN_PROCESO", 4)
    result = await report(system, case, "ESPERA_CLIENTE", 4)
    assert result.outcome is ReportOutcome.REFUSED
    assert isinstance(result.error, ValidationFailed)
    assert result.error.problems[0].field == "externalVersion"
    [review] = await reviews()
    assert review.reason == "VERSION_REUSED"
    assert (await load(case.id)).status == "IN_PROGRESS"


async def test_reports_by_the_platform_reference(net: Network, mappings: None) -> None:
    system = net.system("RETAIL_SUR")
    case = await open_case(net, system, channel="PARTNER_API", external_ref="RS-2026-77")
    result = await report(system, case, "EN_PROCESO", 1, external_ref="RS-2026-77")
    assert result.outcome is ReportOutcome.APPLIED and result.case.id == case.id
    # Naming both is fine when they agree, refused when they do not.
    assert (
        await report(
            system, case, "EN_PROCESO", 1, case_reference=case.reference, external_ref="RS-2026-77"
        )
    ).outcome is ReportOutcome.DUPLICATE
    await refused(
        ValidationFailed,
        service.report_partner_status,
        system,
        case_reference=case.reference,
        external_ref="RS-OTHER",
        partner_status="EN_PROCESO",
        external_version=2,
        occurred_at=WHEN,
    )
    # Another partner's reference does not find it.
    await refused(
        CaseNotFound,
        service.report_partner_status,
        net.system("BANCO_ANDINO"),
        external_ref="RS-2026-77",
        partner_status="EN_PROCESO",
        external_version=2,
        occurred_at=WHEN,
    )


async def test_a_first_report_links_the_platform_reference(net: Network, mappings: None) -> None:
    case = await open_case(net)
    system = net.system("BANCO_ANDINO")
    await report(system, case, "EN_PROCESO", 1, case_reference=case.reference, external_ref="BA-9")
    assert (await partner_row(case.id, net.ids["BANCO_ANDINO"])).external_ref == "BA-9"
    result = await report(system, case, "ESPERA_CLIENTE", 2, external_ref="BA-9")
    assert result.outcome is ReportOutcome.APPLIED


BAD: list[tuple[dict[str, Any], str]] = [
    ({"partner_status": ""}, "partnerStatus"),
    ({"partner_status": "4111111111111111"}, "partnerStatus"),
    ({"external_version": -1}, "externalVersion"),
    ({"external_version": "7"}, "externalVersion"),
    ({"occurred_at": datetime(2026, 11, 20, 14, 0)}, "occurredAt"),  # naive
    ({"occurred_at": utcnow() + timedelta(hours=1)}, "occurredAt"),
    ({"case_reference": "CASE-1"}, "caseRef"),
    ({"case_reference": None}, "caseRef"),  # neither reference
    ({"external_ref": "4111111111111111"}, "externalRef"),
]


@pytest.mark.parametrize(("changes", "field"), BAD)
async def test_bad_reports_raise_and_record_nothing(
    net: Network, mappings: None, changes: dict[str, Any], field: str
) -> None:
    case = await open_case(net)
    kwargs: dict[str, Any] = {
        "case_reference": case.reference,
        "partner_status": "EN_PROCESO",
        "external_version": 1,
        "occurred_at": WHEN,
        **changes,
    }
    error = await refused(
        ValidationFailed, service.report_partner_status, net.system("BANCO_ANDINO"), **kwargs
    )
    assert isinstance(error, ValidationFailed) and error.problems[0].field == field


async def test_who_may_report(net: Network, mappings: None) -> None:
    case = await open_case(net)
    kwargs: dict[str, Any] = {
        "case_reference": case.reference,
        "partner_status": "EN_PROCESO",
        "external_version": 1,
        "occurred_at": WHEN,
    }
    # People do not report platform statuses; partner systems do.
    await refused(Forbidden, service.report_partner_status, net.agent("BANCO_ANDINO"), **kwargs)
    await refused(Forbidden, service.report_partner_status, net.viewer(), **kwargs)
    # A partner system not involved in the case cannot find it.
    await refused(CaseNotFound, service.report_partner_status, net.system("BANCO_PAMPA"), **kwargs)
    await refused(
        CaseNotFound,
        service.report_partner_status,
        net.system("BANCO_ANDINO"),
        **{**kwargs, "case_reference": "CS-1999-000001"},
    )


async def test_the_review_queue(net: Network, mappings: None) -> None:
    case = await open_case(net)
    await report(net.system("BANCO_ANDINO"), case, "CERRADO", 1)
    await report(net.system("BANCO_ANDINO"), case, "DESCONOCIDO", 2)
    async with read_session() as session:
        page = await service.list_reviews(session, principal=ADMIN, limit=1)
        assert page.has_next and page.items[0].partner_status == "CERRADO"
        rest = await service.list_reviews(session, principal=ADMIN, limit=5, after=page.cursors[-1])
        assert [r.partner_status for r in rest.items] == ["DESCONOCIDO"]
        own = await service.list_reviews(session, principal=net.supervisor("BANCO_ANDINO"), limit=5)
        assert len(own.items) == 2
        theirs = await service.list_reviews(
            session, principal=net.supervisor("BANCO_PAMPA"), limit=5
        )
        assert theirs.items == []
        with pytest.raises(ValidationFailed):
            await service.list_reviews(session, principal=ADMIN, limit=5, status="LOST")
        with pytest.raises(Forbidden):
            await service.list_reviews(session, principal=Principal(subject="x"), limit=5)
    review = page.items[0]
    closed = await run(
        service.close_review,
        ADMIN,
        review_id=review.id,
        status="DISMISSED",
        note="La plataforma envió un cierre sin resolución",
    )
    assert (closed.status, closed.reviewed_by) == ("DISMISSED", ADMIN.subject)
    [event] = await events("cases.inbound_review_closed")
    assert event.audience == f",{net.ids['BANCO_ANDINO']},"
    await refused(
        Conflict, service.close_review, ADMIN, review_id=review.id, status="RESOLVED", note="x"
    )
    await refused(
        Forbidden,
        service.close_review,
        net.supervisor("BANCO_ANDINO"),
        review_id=rest.items[0].id,
        status="RESOLVED",
        note="x",
    )
    await refused(
        ValidationFailed,
        service.close_review,
        ADMIN,
        review_id=rest.items[0].id,
        status="PENDING",
        note="x",
    )
    await refused(
        NotFound, service.close_review, ADMIN, review_id=uuid.uuid4(), status="RESOLVED", note="x"
    )
