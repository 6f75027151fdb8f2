"""Root fields of the financial reports: figures as data, kept reports, generation and
reruns. Files are written to the report store in the same request that keeps the report;
download links are signed for the caller (``app/report_files.py``)."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import read_session
from app.hosts import public_base
from app.report_links import report_signer, report_store
from domain.collections import work_access as access
from domain.collections.reports import service as reports
from domain.collections.work_models import Report as ReportModel
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import require_node_id
from resolvers.pagination import to_connection
from schema.common import Connection
from schema.financial_reports import (
    FinancialReport,
    FinancialReportKind,
    GenerateReportInput,
    GenerateReportPayload,
    GenerateReportSuccess,
    Report,
    ReportFile,
    RerunReportInput,
    RerunReportPayload,
    RerunReportSuccess,
)

ReportConnection = Connection[Report]


def file_of(info: Info, report: ReportModel, fmt: str) -> ReportFile:
    settings = info.context.settings
    principal = principal_of(info)
    path = report_signer(settings).path(report.id, fmt, principal)
    return ReportFile(
        format=fmt,
        file_name=reports.file_name(report, fmt),
        size=report.csv_size if fmt == "csv" else report.xlsx_size,
        sha256=report.csv_sha256 if fmt == "csv" else report.xlsx_sha256,
        content_type=reports.CONTENT_TYPES[fmt],
        url=public_base(settings, info.context.request) + path,
    )


def _lender(value: strawberry.ID | None) -> uuid.UUID | None:
    return require_node_id(value, "Partner", "lenderId") if value else None


def _report_id(value: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on("reportId", "is not a report id") from None


async def financial_report(
    info: Info,
    kind: FinancialReportKind,
    period: str,
    lender_id: strawberry.ID | None = None,
) -> FinancialReport:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    async with read_session() as session:
        found = await reports.financial_report(
            session,
            principal=principal,
            lender_id=_lender(lender_id),
            kind=kind,
            period=period,
        )
    lender = require_node_id(found.data["lender"]["id"], "Partner", "lenderId")
    return FinancialReport.from_data(found.data, lender, found.stored)


async def report(info: Info, id: strawberry.ID) -> Report | None:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    async with read_session() as session:
        try:
            model = await reports.get_report(session, principal=principal, report_id=_report_id(id))
        except NotFound:
            return None
    return Report.from_model(model, info)


async def reports_list(
    info: Info,
    lender_id: strawberry.ID | None = None,
    kind: list[FinancialReportKind] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ReportConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    settings = info.context.settings
    limit = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    async with read_session() as session:
        page = await reports.list_reports(
            session,
            principal=principal,
            lender_id=_lender(lender_id),
            limit=limit,
            after=after,
            kinds=[k.value for k in kind] if kind else None,
        )
    return to_connection(page, lambda m: Report.from_model(m, info))


async def generate_report(info: Info, input: GenerateReportInput) -> GenerateReportPayload:
    principal = principal_of(info)
    store = report_store(info.context.settings)

    async def work(session: AsyncSession) -> GenerateReportSuccess:
        access.ensure_can_work(principal)
        model = await reports.generate_report(
            session,
            principal=principal,
            store=store,
            lender_id=_lender(input.lender_id),
            kind=input.kind,
            period=input.period,
            restate=input.restate,
        )
        return GenerateReportSuccess(report=Report.from_model(model, info))

    return await mutate(GenerateReportPayload, work)


async def rerun_report(info: Info, input: RerunReportInput) -> RerunReportPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RerunReportSuccess:
        access.ensure_can_work(principal)
        result = await reports.rerun_report(
            session, principal=principal, report_id=_report_id(input.report_id)
        )
        return RerunReportSuccess(
            report=Report.from_model(result.report, info),
            identical=result.identical,
            figures_sha256=result.figures_sha256,
            csv_sha256=result.csv_sha256,
            xlsx_sha256=result.xlsx_sha256,
        )

    return await mutate(RerunReportPayload, work)
