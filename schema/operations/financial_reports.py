from __future__ import annotations

import strawberry

from resolvers import financial_reports as r
from schema.financial_reports import (
    FinancialReport,
    GenerateReportPayload,
    Report,
    RerunReportPayload,
)

_LENDER = " The lender's staff see their lender's; administrators pass lenderId."


@strawberry.type
class FinancialReportQuery:
    financial_report: FinancialReport = strawberry.field(
        resolver=r.financial_report,
        description="A report's figures for a period that is over: the kept report when "
        "there is one, else computed now from the facts known now (not kept)." + _LENDER,
    )
    reports: r.ReportConnection = strawberry.field(
        resolver=r.reports_list, description="The lender's kept reports, newest first." + _LENDER
    )
    report: Report | None = strawberry.field(
        resolver=r.report, description="A kept report by id; null if you cannot see it."
    )


@strawberry.type
class FinancialReportMutation:
    generate_report: GenerateReportPayload = strawberry.mutation(
        resolver=r.generate_report,
        description="Compute and keep a report with its CSV and XLSX files (a period already "
        "reported returns the kept one unless restate).",
    )
    rerun_report: RerunReportPayload = strawberry.mutation(
        resolver=r.rerun_report,
        description="Compute a kept report again from the same facts and check it gives the "
        "same figures and the same bytes.",
    )
