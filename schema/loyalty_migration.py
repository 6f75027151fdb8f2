"""The legacy CRM migration in the graph: a run's figures, its proofs' discrepancies, the
validation's warnings and the journal (issue 13)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeAlias, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.loyalty_migration import reads
from domain.loyalty_migration.models import DiscrepancyKind, RunStatus
from domain.loyalty_migration.models import MigrationBatch as BatchModel
from domain.loyalty_migration.models import MigrationDiscrepancy as DiscrepancyModel
from domain.loyalty_migration.models import MigrationIssue as IssueModel
from domain.loyalty_migration.models import MigrationRun as RunModel
from domain.shared.pagination import clamp_page_size
from resolvers import loyalty_migration_pages as pages
from resolvers.context import principal_of
from resolvers.ids import decode_node_id, encode_node_id
from resolvers.pagination import selects, to_connection
from schema.common import Connection
from schema.scalars import Long

strawberry.enum(
    RunStatus,
    name="LoyaltyMigrationStatus",
    description="Where a migration run stands: IMPORTING (batches being written; a killed "
    "import stays here until resumed), RECONCILING (the after-proofs are running), COMPLETED, "
    "FAILED (stopped; `error` says why; resumable).",
)
LoyaltyMigrationStatus: TypeAlias = RunStatus
strawberry.enum(
    DiscrepancyKind,
    name="LoyaltyMigrationDiscrepancyKind",
    description="BALANCE: a member's balance at the cut-off differs from the legacy one. "
    "EXPIRY: Trama expired other points than the legacy system on a day. MONTH: a month's total "
    "of a kind of movement differs. SHADOW: the migrated rules give a member other accruals "
    "than the legacy system did.",
)
LoyaltyMigrationDiscrepancyKind: TypeAlias = DiscrepancyKind


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


@strawberry.type(description="One file of the legacy export.")
class LoyaltyMigrationFile:
    kind: str
    file: str
    sha256: str
    bytes: Long
    records: Long


@strawberry.type(description="What a run read and wrote.")
class LoyaltyMigrationCounts:
    members: int
    accounts: int
    movements: int
    balances: int
    customers_matched: int = strawberry.field(
        description="Members who were Trama customers already (by DNI, CUIL or CUIT)."
    )
    customers_created: int
    entries: int = strawberry.field(description="Ledger entries written.")
    lots: int
    purchases: int
    expiries: int = strawberry.field(description="Expiry entries Trama computed and wrote.")
    zero_point_purchases: int = strawberry.field(
        description="Legacy purchases that earned nothing (kept in the archive, no entry)."
    )
    overdrawn: int = strawberry.field(description="Debits beyond the points there were.")
    warnings: int

    @classmethod
    def from_counts(cls, counts: dict[str, Any]) -> LoyaltyMigrationCounts:
        def n(key: str) -> int:
            return int(counts.get(key, 0) or 0)

        return cls(
            members=n("members"),
            accounts=n("accounts"),
            movements=n("movements"),
            balances=n("balances"),
            customers_matched=n("customersMatched"),
            customers_created=n("customersCreated"),
            entries=n("entries"),
            lots=n("lots"),
            purchases=n("purchases"),
            expiries=n("expiries"),
            zero_point_purchases=n("zeroPointPurchases"),
            overdrawn=n("overdrawn"),
            warnings=n("warnings"),
        )


@strawberry.type(description="What an after-proof found, and what explains it.")
class LoyaltyMigrationDiscrepancy:
    id: strawberry.ID
    kind: LoyaltyMigrationDiscrepancyKind
    member_number: str | None = strawberry.field(description="The legacy member number.")
    account_id: strawberry.ID | None = strawberry.field(description="The LoyaltyAccount.")
    period: str | None = strawberry.field(description="yyyy-mm (MONTH) or the day (EXPIRY).")
    movement_kind: str | None
    legacy_points: Long
    trama_points: Long
    difference: Long = strawberry.field(description="Trama's points minus the legacy's.")
    explanation: JSON = strawberry.field(
        description="The figures and the legacy movements that explain the difference."
    )

    @classmethod
    def from_model(cls, row: DiscrepancyModel) -> LoyaltyMigrationDiscrepancy:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=LoyaltyMigrationDiscrepancyKind(row.kind),
            member_number=row.member_no,
            account_id=(
                strawberry.ID(encode_node_id("LoyaltyAccount", row.account_id))
                if row.account_id
                else None
            ),
            period=row.period,
            movement_kind=row.movement_kind,
            legacy_points=Long(row.legacy_points),
            trama_points=Long(row.trama_points),
            difference=Long(row.difference),
            explanation=cast(JSON, row.explanation),
        )


@strawberry.type(description="A warning the validation kept (a run never starts with errors).")
class LoyaltyMigrationIssue:
    severity: str
    code: str
    file: str
    line: int | None
    column: str | None
    key: str | None
    message: str

    @classmethod
    def from_model(cls, row: IssueModel) -> LoyaltyMigrationIssue:
        return cls(
            severity=row.severity,
            code=row.code,
            file=row.file,
            line=row.line,
            column=row.column,
            key=row.key,
            message=row.message,
        )


@strawberry.type(description="One batch of the hash-chained journal.")
class LoyaltyMigrationBatch:
    seq: int
    first_member: str
    last_member: str
    members: int
    accounts: int
    movements: int
    legacy_points: Long
    entries: int
    migrated_points: Long
    content_hash: str = strawberry.field(description="SHA-256 of the batch's legacy records.")
    prev_hash: str
    hash: str
    committed_at: datetime

    @classmethod
    def from_model(cls, row: BatchModel) -> LoyaltyMigrationBatch:
        return cls(
            seq=row.seq,
            first_member=row.first_member,
            last_member=row.last_member,
            members=row.members,
            accounts=row.accounts,
            movements=row.movements,
            legacy_points=Long(row.legacy_points),
            entries=row.entries,
            migrated_points=Long(row.migrated_points),
            content_hash=row.content_hash,
            prev_hash=row.prev_hash,
            hash=row.hash,
            committed_at=row.committed_at,
        )


LoyaltyMigrationDiscrepancyConnection = Connection[LoyaltyMigrationDiscrepancy]
LoyaltyMigrationIssueConnection = Connection[LoyaltyMigrationIssue]
LoyaltyMigrationBatchConnection = Connection[LoyaltyMigrationBatch]


@strawberry.type(
    description="A migration of a legacy CRM export into a loyalty program: its figures, "
    "its proofs and its journal. The program's partner staff who manage loyalty "
    "(`loyalty:manage`) and administrators see it."
)
class LoyaltyMigration(relay.Node):
    id: relay.NodeID[str]
    program_id: strawberry.ID = strawberry.field(description="The LoyaltyProgram.")
    status: LoyaltyMigrationStatus
    source: str
    cutoff: date
    export_hash: str = strawberry.field(description="SHA-256 of the files' and mapping's.")
    mapping_hash: str
    files: list[LoyaltyMigrationFile]
    batch_size: int
    batches_planned: int
    batches_done: int
    counts: LoyaltyMigrationCounts
    legacy_points: Long = strawberry.field(description="Sum of the legacy movements' points.")
    migrated_points: Long = strawberry.field(description="Sum of the balances in Trama.")
    balances_agreeing: int
    balances_differing: int
    difference_points: Long = strawberry.field(
        description="Sum of |Trama - legacy| over the members whose balance differs."
    )
    months_differing: int
    shadow_members_differing: int
    shadow_difference_points: Long
    journal_head: str = strawberry.field(description="The hash of the journal's last batch.")
    error: str | None
    started_at: datetime
    started_by: str
    finished_at: datetime | None
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="What the after-proofs found, by kind, keyset-paginated.")
    async def discrepancies(
        self,
        info: Info,
        kind: LoyaltyMigrationDiscrepancyKind | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LoyaltyMigrationDiscrepancyConnection:
        page = await pages.discrepancy_page(
            self.key,
            kind=kind,
            limit=_limit(info, first),
            after=after,
            with_total=selects(info, "totalCount"),
        )
        return to_connection(page, LoyaltyMigrationDiscrepancy.from_model)

    @strawberry.field(description="The warnings the validation kept.")
    async def issues(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> LoyaltyMigrationIssueConnection:
        page = await pages.issue_page(self.key, limit=_limit(info, first), after=after)
        return to_connection(page, LoyaltyMigrationIssue.from_model)

    @strawberry.field(description="The journal, batch by batch.")
    async def batches(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> LoyaltyMigrationBatchConnection:
        page = await pages.batch_page(self.key, limit=_limit(info, first), after=after)
        return to_connection(page, LoyaltyMigrationBatch.from_model)

    @classmethod
    def from_model(cls, run: RunModel) -> LoyaltyMigration:
        return cls(
            id=str(run.id),
            program_id=strawberry.ID(encode_node_id("LoyaltyProgram", run.program_id)),
            status=LoyaltyMigrationStatus(run.status),
            source=run.source,
            cutoff=run.cutoff,
            export_hash=run.export_hash,
            mapping_hash=run.mapping_hash,
            files=[
                LoyaltyMigrationFile(
                    kind=kind,
                    file=str(item.get("file", "")),
                    sha256=str(item.get("sha256", "")),
                    bytes=Long(int(item.get("bytes", 0))),
                    records=Long(int(item.get("records", 0))),
                )
                for kind, item in sorted(run.files.items())
            ],
            batch_size=run.batch_size,
            batches_planned=run.batches_planned,
            batches_done=run.batches_done,
            counts=LoyaltyMigrationCounts.from_counts(run.counts),
            legacy_points=Long(run.legacy_points),
            migrated_points=Long(run.migrated_points),
            balances_agreeing=run.balances_agreeing,
            balances_differing=run.balances_differing,
            difference_points=Long(run.difference_points),
            months_differing=run.months_differing,
            shadow_members_differing=run.shadow_members_differing,
            shadow_difference_points=Long(run.shadow_difference_points),
            journal_head=run.journal_head,
            error=run.error,
            started_at=run.started_at,
            started_by=run.started_by,
            finished_at=run.finished_at,
            key=run.id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[LoyaltyMigration | None]:
        principal = principal_of(info)
        reads.ensure_can_read(principal)
        keys = [decode_node_id(n, "LoyaltyMigration") for n in node_ids]
        found = await pages.runs(principal, [k for k in keys if k])
        return [cls.from_model(found[k]) if k in found else None for k in keys]


LoyaltyMigrationConnection = Connection[LoyaltyMigration]
