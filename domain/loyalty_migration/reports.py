"""The migration's reports, as CSV (UTF-8 with BOM, so spreadsheets read the accents) and as
one XLSX workbook (XlsxWriter, constant memory: rows are streamed, a sheet holds at most
Excel's 1,048,575 rows — the CSV files hold every row).

- the validation: every issue with its file, line, column and message, and the counts;
- a run: its summary, the discrepancies (balances, expiries, months, shadow), the warnings
  the validation kept, and the journal.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import xlsxwriter
from sqlalchemy.ext.asyncio import AsyncSession

from domain.loyalty_migration.models import (
    MigrationBatch,
    MigrationDiscrepancy,
    MigrationIssue,
    MigrationRun,
)
from domain.shared.errors import NotFound
from domain.shared.models import table_of

EXCEL_ROWS = 1_048_575
ISSUE_COLUMNS = ["severity", "code", "file", "line", "column", "key", "message"]
DISCREPANCY_COLUMNS = [
    "kind", "member_no", "account_id", "period", "movement_kind", "legacy_points",
    "trama_points", "difference", "explanation",
]  # fmt: skip
JOURNAL_COLUMNS = [
    "seq", "first_member", "last_member", "members", "accounts", "movements", "legacy_points",
    "entries", "migrated_points", "content_hash", "prev_hash", "hash", "committed_at",
]  # fmt: skip


class _Book:
    """CSV files and the sheets of one workbook, written side by side row by row."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / f"{name}.xlsx"
        self.workbook = xlsxwriter.Workbook(str(self.path), {"constant_memory": True})
        self.bold = self.workbook.add_format({"bold": True})
        self.files: list[Path] = [self.path]

    def sheet(self, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        worksheet = self.workbook.add_worksheet(name[:31])
        path = self.folder / f"{name.lower().replace(' ', '-')}.csv"
        self.files.append(path)
        count = 0
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            worksheet.write_row(0, 0, list(header), self.bold)
            for row in rows:
                values = [_cell(v) for v in row]
                writer.writerow(values)
                count += 1
                if count <= EXCEL_ROWS:
                    worksheet.write_row(count, 0, values)
        worksheet.freeze_panes(1, 0)
        return count

    def close(self) -> list[Path]:
        self.workbook.close()
        return [self.path, *sorted(p for p in self.files if p != self.path)]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def write_validation(found: Any, folder: Path) -> list[Path]:
    """The validation's report (no database needed)."""
    book = _book(folder, "validation")
    book.sheet(
        "Summary",
        ["item", "value"],
        [
            ("folder", str(found.folder)),
            ("ok", found.ok),
            ("errors", found.log.errors),
            ("warnings", found.log.warnings),
            ("cutoff", found.cutoff),
            ("export hash", found.export_hash),
            ("movement points", found.movement_points),
            ("balance points", found.balance_points),
            *((f"records: {k}", v) for k, v in sorted(found.counts.items())),
            *(
                (f"file: {f.kind.value}", f"{f.name} sha256 {f.sha256}")
                for f in found.files.values()
            ),
            *((f"issues: {code}", n) for code, n in sorted(found.log.counts.items())),
        ],
    )
    book.sheet(
        "Issues",
        ISSUE_COLUMNS,
        (
            (i.severity, i.code, i.file, i.line, i.column, i.key, i.message)
            for i in found.log.sorted_items()
        ),
    )
    return book.close()


def _book(folder: Path, name: str) -> _Book:
    return _Book(folder, name)


async def _stream(session: AsyncSession, query: Any) -> AsyncIterator[Any]:
    result = await session.stream(query.execution_options(yield_per=5000))
    try:
        async for row in result:
            yield row
    finally:
        await result.close()


async def summary(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any]:
    run = await session.get(MigrationRun, run_id)
    if run is None:
        raise NotFound("LoyaltyMigration", run_id)
    return {
        "run": str(run.id),
        "status": run.status,
        "programId": str(run.program_id),
        "source": run.source,
        "cutoff": run.cutoff.isoformat(),
        "exportHash": run.export_hash,
        "batches": f"{run.batches_done}/{run.batches_planned}",
        "counts": run.counts,
        "legacyPoints": run.legacy_points,
        "migratedPoints": run.migrated_points,
        "balancesAgreeing": run.balances_agreeing,
        "balancesDiffering": run.balances_differing,
        "differencePoints": run.difference_points,
        "monthsDiffering": run.months_differing,
        "shadowMembersDiffering": run.shadow_members_differing,
        "shadowDifferencePoints": run.shadow_difference_points,
        "journalHead": run.journal_head,
        "startedAt": run.started_at.isoformat(),
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "error": run.error,
    }


async def write_run(
    session: AsyncSession, run_id: uuid.UUID, folder: Path, *, validation: Any = None
) -> list[Path]:
    """Every report of a run (read from the database: in a dry run, before the rollback)."""
    figures = await summary(session, run_id)
    book = _book(folder, f"migration-{run_id}")
    flat: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict):
            flat.extend((f"{key}.{k}", v) for k, v in value.items())
        else:
            flat.append((key, value))
    book.sheet("Summary", ["item", "value"], flat)
    table = table_of(MigrationDiscrepancy)
    for kind, name in (
        ("BALANCE", "Balances"),
        ("EXPIRY", "Expiries"),
        ("MONTH", "Months"),
        ("SHADOW", "Shadow"),
    ):
        rows = [
            tuple(getattr(r, c) for c in DISCREPANCY_COLUMNS)
            async for r in _stream(
                session,
                sa.select(table).where(table.c.run_id == run_id, table.c.kind == kind)
                .order_by(table.c.member_no, table.c.period, table.c.id),
            )
        ]  # fmt: skip
        book.sheet(name, DISCREPANCY_COLUMNS, rows)
    issues = table_of(MigrationIssue)
    kept = [
        tuple(getattr(r, c) for c in ISSUE_COLUMNS)
        async for r in _stream(
            session, sa.select(issues).where(issues.c.run_id == run_id).order_by(issues.c.id)
        )
    ]
    if validation is not None and validation.log.errors:
        kept = [
            (i.severity, i.code, i.file, i.line, i.column, i.key, i.message)
            for i in validation.log.sorted_items()
        ]
    book.sheet("Issues", ISSUE_COLUMNS, kept)
    batches = table_of(MigrationBatch)
    journal_rows = [
        tuple(getattr(r, c) for c in JOURNAL_COLUMNS)
        async for r in _stream(
            session, sa.select(batches).where(batches.c.run_id == run_id).order_by(batches.c.seq)
        )
    ]
    book.sheet("Journal", JOURNAL_COLUMNS, journal_rows)
    return book.close()


async def runs(session: AsyncSession) -> list[tuple[Any, ...]]:
    table = table_of(MigrationRun)
    rows = await session.execute(
        sa.select(
            table.c.id,
            table.c.status,
            table.c.cutoff,
            table.c.batches_done,
            table.c.batches_planned,
            table.c.balances_agreeing,
            table.c.balances_differing,
            table.c.started_at,
            table.c.source,
        ).order_by(table.c.started_at)
    )
    return [tuple(r) for r in rows.all()]
