"""Financial reports in the API: the figures as data, the kept reports and their files.

A report is summary figures and named tables of typed columns. Every value is exact: a
cell gives its text (the exact decimal of an amount, a rate as a fraction with four
decimals) and, by type, the ``Money``, the number or the integer.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from domain.collections.work_models import Report as ReportModel
from domain.collections.work_models import ReportKind as ReportKindEnum
from domain.shared.money import Money as DomainMoney
from schema.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from schema.money import Money
from schema.partners import Partner

strawberry.enum(
    ReportKindEnum,
    name="FinancialReportKind",
    description="RECONCILIATION: statement lines in, matched by rule, suggested, exceptions, "
    "unmatched by age, applied per account. AGING: the portfolio by aging bucket and the "
    "roll rates between buckets. COLLECTIONS: promises kept, contacts, recovery by bucket "
    "and by collector, strategy steps. PORTFOLIO: outstanding, disbursed, collected, "
    "written off, paid off.",
)
FinancialReportKind = ReportKindEnum


@strawberry.enum(description="How a report column's values read.")
class ReportValueType(Enum):
    TEXT = "text"
    INT = "int"
    MONEY = "money"
    RATE = "rate"
    DATE = "date"


@strawberry.type
class ReportPeriod:
    start: date
    end: date
    label: str = strawberry.field(description='"2026-11-30", "2026-11" or "2026-11-01/2026-11-15".')


@strawberry.type
class ReportColumn:
    key: str
    label: str
    type: ReportValueType


@strawberry.type(description="One value of a report, exact.")
class ReportValue:
    key: str
    text: str | None = strawberry.field(
        description="The value as text: an amount's exact decimal, a rate as a fraction "
        '("0.1250"), a date, a count, a label. Null: not applicable (a rate over zero).'
    )
    money: Money | None = None
    number: Decimal | None = strawberry.field(default=None, description="Rates.")
    integer: int | None = strawberry.field(default=None, description="Counts.")


def value_of(key: str, kind: str, raw: Any) -> ReportValue:
    if raw is None:
        return ReportValue(key=key, text=None)
    if kind == "money":
        money = Money.from_domain(DomainMoney.parse(raw["amount"], raw["currency"]))
        return ReportValue(key=key, text=str(raw["amount"]), money=money)
    if kind == "rate":
        return ReportValue(key=key, text=str(raw), number=Decimal(str(raw)))
    if kind == "int":
        return ReportValue(key=key, text=str(raw), integer=int(raw))
    return ReportValue(key=key, text=str(raw))


#: Bounded by the report kinds' own shapes (schema/cost.py counts lists by these).
_CELLS = {"cost_items": 16}


@strawberry.type
class ReportRow:
    cells: list[ReportValue] = strawberry.field(metadata=_CELLS)


@strawberry.type
class ReportTable:
    name: str
    title: str
    note: str | None
    columns: list[ReportColumn] = strawberry.field(metadata=_CELLS)
    rows: list[ReportRow]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportTable:
        columns = [
            ReportColumn(key=c["key"], label=c["label"], type=ReportValueType(c["type"]))
            for c in data["columns"]
        ]
        return cls(
            name=data["name"],
            title=data["title"],
            note=data.get("note"),
            columns=columns,
            rows=[
                ReportRow(
                    cells=[
                        value_of(c.key, c.type.value, v) for c, v in zip(columns, row, strict=True)
                    ]
                )
                for row in data["rows"]
            ],
        )


@strawberry.type(description="A headline figure of a report.")
class ReportFigure:
    key: str
    label: str
    type: ReportValueType
    currency: str | None
    value: ReportValue


@strawberry.type(
    description="A report's figures for a lender and a period, computed from dated facts "
    "as known at knownAt (a rerun with the same knownAt gives the same figures)."
)
class FinancialReport:
    kind: FinancialReportKind
    period: ReportPeriod
    known_at: datetime = strawberry.field(description="The facts recorded by this instant count.")
    timezone: str = strawberry.field(description="The lender's business calendar.")
    revision: int
    summary: list[ReportFigure] = strawberry.field(metadata={"cost_items": 16})
    tables: list[ReportTable] = strawberry.field(metadata={"cost_items": 6})
    stored: bool = strawberry.field(
        description="True: the kept report (see report); false: computed now, not kept."
    )
    lender_id: strawberry.Private[uuid.UUID]
    model: strawberry.Private[ReportModel | None]

    @strawberry.field
    async def lender(self, info: Info) -> Partner:
        model = await info.context.loaders.partner.load(self.lender_id)
        return Partner.from_model(model)

    @strawberry.field(description="One table by name (aging, rolls, rollRates, movements …).")
    def table(self, name: str) -> ReportTable | None:
        return next((t for t in self.tables if t.name == name), None)

    @strawberry.field(description="The kept report these figures are (null when computed now).")
    def report(self, info: Info) -> Report | None:
        return Report.from_model(self.model, info) if self.model is not None else None

    @classmethod
    def from_data(
        cls, data: dict[str, Any], lender_id: uuid.UUID, model: ReportModel | None
    ) -> FinancialReport:
        return cls(
            kind=ReportKindEnum(data["kind"]),
            period=ReportPeriod(
                start=date.fromisoformat(data["period"]["start"]),
                end=date.fromisoformat(data["period"]["end"]),
                label=data["period"]["label"],
            ),
            known_at=datetime.fromisoformat(data["knownAt"].replace("Z", "+00:00")),
            timezone=data["timezone"],
            revision=int(data.get("revision", 1)),
            summary=[
                ReportFigure(
                    key=f["key"],
                    label=f["label"],
                    type=ReportValueType(f["type"]),
                    currency=f.get("currency"),
                    value=value_of(f["key"], f["type"], f["value"]),
                )
                for f in data["summary"]
            ],
            tables=[ReportTable.from_json(t) for t in data["tables"]],
            stored=model is not None,
            lender_id=lender_id,
            model=model,
        )


@strawberry.type(description="A file of a kept report.")
class ReportFile:
    format: str = strawberry.field(description="csv or xlsx.")
    file_name: str
    size: int
    sha256: str
    content_type: str
    url: str = strawberry.field(
        description="A signed download link for you (with your Bearer token), valid "
        "TRAMA_REPORT_LINK_TTL seconds."
    )


@strawberry.type(description="A kept financial report of a lender.")
class Report:
    id: strawberry.ID
    kind: FinancialReportKind
    period: ReportPeriod
    revision: int = strawberry.field(description="1; a restatement from newer facts is the next.")
    known_at: datetime
    generated_at: datetime
    generated_by: str
    trigger: str = strawberry.field(description="SCHEDULED or MANUAL.")
    figures_sha256: str
    rerun_count: int
    last_rerun_at: datetime | None
    csv: ReportFile
    xlsx: ReportFile
    lender_id: strawberry.Private[uuid.UUID]
    model: strawberry.Private[ReportModel]

    @strawberry.field
    async def lender(self, info: Info) -> Partner:
        model = await info.context.loaders.partner.load(self.lender_id)
        return Partner.from_model(model)

    @strawberry.field(description="Its figures.")
    def figures(self) -> FinancialReport:
        return FinancialReport.from_data(self.model.data, self.lender_id, self.model)

    @classmethod
    def from_model(cls, report: ReportModel, info: Info) -> Report:
        from resolvers.financial_reports import file_of

        return cls(
            id=strawberry.ID(str(report.id)),
            kind=ReportKindEnum(report.kind),
            period=ReportPeriod(
                start=report.period_start,
                end=report.period_end,
                label=report.data.get("period", {}).get("label", report.period_start.isoformat()),
            ),
            revision=report.revision,
            known_at=report.known_at,
            generated_at=report.generated_at,
            generated_by=report.generated_by,
            trigger=report.trigger,
            figures_sha256=report.figures_sha256,
            rerun_count=report.rerun_count,
            last_rerun_at=report.last_rerun_at,
            csv=file_of(info, report, "csv"),
            xlsx=file_of(info, report, "xlsx"),
            lender_id=report.partner_id,
            model=report,
        )


@strawberry.input
class GenerateReportInput:
    kind: FinancialReportKind
    period: str = strawberry.field(
        description='"2026-11-30", "2026-11" or "2026-11-01/2026-11-15".'
    )
    lender_id: strawberry.ID | None = strawberry.field(default=None, description="Administrators.")
    restate: bool = strawberry.field(
        default=False,
        description="Make a new revision from the facts known now (supervisors); without it "
        "a period already reported returns the kept report.",
    )


@strawberry.input
class RerunReportInput:
    report_id: strawberry.ID


@strawberry.type
class GenerateReportSuccess:
    report: Report


@strawberry.type(description="A kept report computed again from the same facts.")
class RerunReportSuccess:
    report: Report
    identical: bool = strawberry.field(description="Same figures and same bytes for both files.")
    figures_sha256: str
    csv_sha256: str
    xlsx_sha256: str


_ERRORS = ValidationError | NotFoundError | ForbiddenError | ConflictError
GenerateReportPayload = Annotated[
    GenerateReportSuccess | _ERRORS, strawberry.union("GenerateReportPayload")
]
RerunReportPayload = Annotated[RerunReportSuccess | _ERRORS, strawberry.union("RerunReportPayload")]
