"""During the migration: batches of whole members, each in its own transaction, journaled,
checkpointed, resumable after a kill, idempotent when run again.

The import first validates the export (:mod:`domain.loyalty_migration.validation`) and
refuses to start with any error: nothing is written. Its identity is the export's hash (the
files' digests and the mapping's): the same export again is the same run — finished, it is
not imported twice; unfinished (a killed process, a failure), it is resumed from its last
committed batch.

The members are split in batches of about ``batch_size`` movements (whole members; the plan
is deterministic, so a resumed run splits the same way, which it checks against the
journal). Each batch, in one transaction:

1. finds each member's Trama customer by every number of the same person, and registers the
   ones that are not customers yet (``customers.import_customers``, the program's partner as
   their home);
2. enrols them in the program (``loyalty.bulk.create_accounts``) with the legacy member
   number as the account's external reference;
3. writes their whole legacy history through the ledger's bulk path
   (``loyalty.bulk.write_history``): purchases, bonuses, redemptions, adjustments and
   refunds keep their legacy points, dates and expiry dates; the legacy expiry rows are not
   copied: Trama expires the lots itself, by their dates, and what it expired is compared
   with what the legacy system did, day by day;
4. keeps the legacy records as exported (``loyalty_legacy_*``);
5. compares each member's Trama balance at the cut-off with the legacy balance and writes
   a discrepancy, with what explains it, where they differ;
6. appends the batch to the journal (content hash chained to the previous batch), moves
   the run's checkpoint, and records one audit record and one event.

Afterwards :mod:`domain.loyalty_migration.reconcile` proves the result from the database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.customers import service as customers_service
from domain.customers.models import Customer
from domain.loyalty import access, bulk, rulesets
from domain.loyalty import accounts as loyalty_accounts
from domain.loyalty.models import AccountStatus, EntryKind, LoyaltyProgram
from domain.loyalty_migration import (
    events,
    explain,
    journal,
    legacy_rules,
    staging,
    validation,
)
from domain.loyalty_migration.identity import identities
from domain.loyalty_migration.mapping import Kind, Mapping, MovementKind
from domain.loyalty_migration.models import (
    DiscrepancyKind,
    LegacyAccount,
    LegacyBalance,
    LegacyMember,
    LegacyMovement,
    MigrationBatch,
    MigrationDiscrepancy,
    MigrationIssue,
    MigrationRun,
    RunStatus,
)
from domain.shared import audit
from domain.shared.errors import Conflict, DomainError, NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.sql import dialect_of
from domain.shared.time import utcnow
from domain.shared.types import UUIDType

#: A unit of work: a session in a transaction of its own, committed when the block ends
#: (the edge provides it: one connection for the whole import, so the temporary tables of
#: the validation stay visible to every batch).
UnitOfWork = Callable[[], AbstractAsyncContextManager[AsyncSession]]

_KIND_TO_ENTRY = {
    MovementKind.ACCRUAL: EntryKind.ACCRUAL,
    MovementKind.BONUS: EntryKind.ACCRUAL,
    MovementKind.REDEMPTION: EntryKind.REDEMPTION,
    MovementKind.ADJUSTMENT: EntryKind.ADJUSTMENT,
    MovementKind.REVERSAL: EntryKind.REFUND,
    MovementKind.EXPIRY: EntryKind.EXPIRY,
}
_MEMBER_STATUS = {"ACTIVE": AccountStatus.ACTIVE, "SUSPENDED": AccountStatus.SUSPENDED}


class Outcome(StrEnum):
    REJECTED = "REJECTED"  # the validation found errors: nothing written
    IMPORTED = "IMPORTED"  # written (or resumed and finished) now
    ALREADY_IMPORTED = "ALREADY_IMPORTED"  # the same export was imported before: nothing to do


@dataclass(frozen=True)
class ImportOptions:
    program_code: str | None = None
    #: About this many movements per batch (whole members).
    batch_size: int = 20_000
    #: Seconds to wait between batches (leave room for live traffic on a busy database).
    pause: float = 0.0
    #: Only resume this run (refused if the export is not that run's).
    resume_run_id: uuid.UUID | None = None
    #: Stop after this many batches (then resume later); None: all.
    max_batches: int | None = None


@dataclass
class BatchPlan:
    seq: int
    first_member: str
    last_member: str
    members: int
    movements: int


@dataclass
class ImportResult:
    outcome: Outcome
    validation: validation.Validation
    run_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None
    batches_written: int = 0
    resumed: bool = False
    counts: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str, dict[str, Any]], Awaitable[None] | None]


async def _say(progress: Progress | None, what: str, **figures: Any) -> None:
    if progress is None:
        return
    out = progress(what, figures)
    if out is not None:
        await out


# --- the program ----------------------------------------------------------------------------
async def target_program(
    session: AsyncSession, *, principal: Principal, mapping: Mapping, code: str | None
) -> LoyaltyProgram:
    """The program the export goes into (``--program`` or the mapping's ``program``), which
    the principal must manage."""
    access.ensure_can_manage(principal)
    partner_code: str | None = None
    if code is None and mapping.program:
        partner_code, code = mapping.program.split("/", 1)
    if not code:
        raise ValidationFailed.on("program", "say which program the export goes into")
    program = await loyalty_accounts.find_program(session, code)
    if program is None:
        raise ValidationFailed.on("program", f"there is no loyalty program {code!r}")
    access.ensure_staff_of(principal, program)
    problems: list[str] = []
    if partner_code is not None:
        from domain.partners.models import Partner

        partner = await session.get(Partner, program.partner_id)
        if partner is None or partner.code != partner_code:
            problems.append(
                f"the mapping's program is {mapping.program}; {code} is not that partner's"
            )
    if program.currency != mapping.currency:
        problems.append(f"the program counts {program.currency}; the export {mapping.currency}")
    if problems:
        raise ValidationFailed.on("program", "; ".join(problems))
    return program


async def find_run(
    session: AsyncSession, *, program_id: uuid.UUID, export_hash: str
) -> MigrationRun | None:
    table = table_of(MigrationRun)
    query = sa.select(MigrationRun).where(
        table.c.program_id == program_id, table.c.export_hash == export_hash
    )
    return (await session.execute(query)).scalars().first()


# --- the import -----------------------------------------------------------------------------
async def import_export(
    uow: UnitOfWork,
    *,
    principal: Principal,
    folder: Path,
    mapping: Mapping,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate, then write the export in journaled batches (or resume them). The
    validation's temporary tables are left on the connection (the edge drops them)."""
    async with uow() as session:
        program = await target_program(
            session, principal=principal, mapping=mapping, code=options.program_code
        )
        files, export_hash = validation.identify(folder, mapping)
        run = await find_run(session, program_id=program.id, export_hash=export_hash)
        if options.resume_run_id is not None and (run is None or run.id != options.resume_run_id):
            raise Conflict(
                f"the export in {folder} is not the one run {options.resume_run_id} was importing"
                " (its files or mapping differ)"
            )
        if run is not None and run.status == RunStatus.COMPLETED:
            checked = validation.Validation(folder=folder, mapping=mapping, files=files)
            return ImportResult(
                Outcome.ALREADY_IMPORTED, checked, run.id, program.id, counts=dict(run.counts)
            )
        await _say(progress, "validating", folder=str(folder))
        checked = await validation.validate(
            session,
            folder=folder,
            mapping=mapping,
            program_id=program.id,
            resuming_run_id=run.id if run else None,
            files=files,
        )
    if not checked.ok or checked.cutoff is None:
        return ImportResult(Outcome.REJECTED, checked, None, program.id)
    await _say(
        progress,
        "validated",
        members=checked.counts.get("members", 0),
        movements=checked.counts.get("movements", 0),
        warnings=checked.log.warnings,
    )
    resumed = run is not None
    async with uow() as session:
        program = await loyalty_accounts.get_program(session, program.id)
        if run is None:
            run = await _start_run(
                session, principal=principal, program=program, checked=checked, options=options
            )
        plans = await plan_batches(session, batch_size=run.batch_size)
        await _check_plan(session, run, plans)
        run = await session.get(MigrationRun, run.id)
        assert run is not None
        run.batches_planned = len(plans)
        run.updated_at = utcnow()
        if not resumed:
            events.emit(
                session,
                "loyalty.migration_started",
                run,
                program,
                {
                    "cutoff": run.cutoff.isoformat(),
                    "exportHash": run.export_hash,
                    "members": checked.counts.get("members", 0),
                    "movements": checked.counts.get("movements", 0),
                    "batches": len(plans),
                },
            )
        run_id, done = run.id, run.batches_done
    await _say(progress, "planned", run=str(run_id), batches=len(plans), done=done, resumed=resumed)
    written = 0
    for plan in plans[done:]:
        if options.max_batches is not None and written >= options.max_batches:
            break
        async with uow() as session:
            figures = await write_batch(
                session, principal=principal, run_id=run_id, plan=plan, mapping=mapping
            )
        written += 1
        await _say(progress, "batch", seq=plan.seq, of=len(plans), **figures)
        if options.pause:
            await asyncio.sleep(options.pause)
    async with uow() as session:
        run = await session.get(MigrationRun, run_id)
        assert run is not None
        counts = dict(run.counts)
    return ImportResult(
        Outcome.IMPORTED, checked, run_id, program.id, written, resumed=resumed, counts=counts
    )


async def _start_run(
    session: AsyncSession,
    *,
    principal: Principal,
    program: LoyaltyProgram,
    checked: validation.Validation,
    options: ImportOptions,
) -> MigrationRun:
    if options.batch_size < 1:
        raise ValidationFailed.on("batchSize", "at least one movement per batch")
    assert checked.cutoff is not None
    mapping = checked.mapping
    run = MigrationRun(
        program_id=program.id,
        partner_id=program.partner_id,
        export_hash=checked.export_hash,
        source=mapping.source[:200],
        folder=str(checked.folder)[:500],
        files=checked.manifest(),
        mapping=mapping.raw,
        mapping_hash=mapping.digest,
        cutoff=checked.cutoff,
        parameters=checked.parameters,
        batch_size=options.batch_size,
        counts={
            "members": checked.counts.get("members", 0),
            "accounts": checked.counts.get("accounts", 0),
            "movements": checked.counts.get("movements", 0),
            "balances": checked.counts.get("balances", 0),
            "customersMatched": 0,
            "customersCreated": 0,
            "entries": 0,
            "lots": 0,
            "purchases": 0,
            "expiries": 0,
            "zeroPointPurchases": 0,
            "overdrawn": 0,
            "warnings": checked.log.warnings,
        },
        started_by=principal.subject[:200],
    )
    session.add(run)
    await session.flush()
    warnings = [i for i in checked.log.items if i.severity != "ERROR"]
    if warnings:
        await session.execute(
            sa.insert(table_of(MigrationIssue)),
            [
                {
                    "id": uuid7(),
                    "run_id": run.id,
                    "severity": i.severity,
                    "code": i.code,
                    "file": i.file[:200],
                    "line": i.line,
                    "column": i.column,
                    "key": (i.key or "")[:100] or None,
                    "message": i.message[:500],
                }
                for i in warnings
            ],
        )
    run.rule_set_ids = await _migrate_rules(session, principal, program, checked)
    audit.record(
        session,
        principal=principal,
        action="loyalty.migration.start",
        entity_type="LoyaltyMigration",
        entity_id=run.id,
        after={
            "programId": program.id,
            "exportHash": run.export_hash,
            "files": run.files,
            "cutoff": run.cutoff,
            "batchSize": run.batch_size,
            "ruleSets": run.rule_set_ids,
        },
    )
    return run


async def _migrate_rules(
    session: AsyncSession,
    principal: Principal,
    program: LoyaltyProgram,
    checked: validation.Validation,
) -> list[str]:
    """Publish the legacy parameters as rule-set versions for the legacy period, unless the
    program already has rules in force then (they are kept: the shadow run uses whatever
    the program has)."""
    found = legacy_rules.versions(checked.parameters, checked.mapping)
    if not found:
        return []
    calendar = await rulesets.calendar(session, program.id)
    if calendar.versions:
        return []
    ids: list[str] = []
    for version in found:
        rule_set = await rulesets.create_rule_set(
            session,
            principal,
            program_id=program.id,
            name=f"Migrated from {checked.mapping.source} ({version.effective_from.isoformat()})"[
                :200
            ],
            effective_from=version.effective_from,
            effective_until=version.effective_until,
            document=version.document,
        )
        ids.append(str(rule_set.id))
    return ids


# --- the plan -------------------------------------------------------------------------------
async def plan_batches(session: AsyncSession, *, batch_size: int) -> list[BatchPlan]:
    """Members in order of their number (byte order, the same on every database), cut into
    batches of whole members of about ``batch_size`` movements; the assignment goes into
    ``lm_batches``."""
    await staging.create_plan(session)
    collate = ' COLLATE "C"' if dialect_of(session) == "postgresql" else ""
    result = await session.stream(
        sa.text(  # our own names only; no value is spliced in
            "SELECT m.member_no, coalesce(c.n, 0) AS n FROM lm_members m LEFT JOIN"  # noqa: S608
            " (SELECT member_no, count(*) AS n FROM lm_movements GROUP BY member_no) c"
            f" ON c.member_no = m.member_no ORDER BY m.member_no{collate}"
        ).execution_options(yield_per=20_000)
    )
    plans: list[BatchPlan] = []
    rows: list[tuple[str, int]] = []
    current: BatchPlan | None = None
    try:
        async for member_no, count in result:
            if current is None or (current.movements and current.movements + count > batch_size):
                current = BatchPlan(len(plans) + 1, member_no, member_no, 0, 0)
                plans.append(current)
            current.last_member = member_no
            current.members += 1
            current.movements += int(count)
            rows.append((member_no, current.seq))
            if len(rows) >= 20_000:
                await staging.write_rows(session, staging.BATCHES, ["member_no", "seq"], rows)
                rows = []
    finally:
        await result.close()  # the cursor, or a dry run's transaction keeps it open
    await staging.write_rows(session, staging.BATCHES, ["member_no", "seq"], rows)
    await staging.index_plan(session)
    return plans


async def _check_plan(session: AsyncSession, run: MigrationRun, plans: list[BatchPlan]) -> None:
    table = table_of(MigrationBatch)
    done = (
        await session.execute(
            sa.select(MigrationBatch).where(table.c.run_id == run.id).order_by(table.c.seq)
        )
    ).scalars()
    for batch in done:
        plan = plans[batch.seq - 1] if batch.seq <= len(plans) else None
        if plan is None or (plan.first_member, plan.last_member, plan.members, plan.movements) != (
            batch.first_member,
            batch.last_member,
            batch.members,
            batch.movements,
        ):
            raise Conflict(
                f"run {run.id}: batch {batch.seq} of the journal does not match the export"
                " any more; it cannot be resumed with these files"
            )


# --- one batch ------------------------------------------------------------------------------
def _rows(result: Any) -> list[Any]:
    return list(result.all())


async def _batch_rows(session: AsyncSession, kind: Kind, seq: int) -> list[Any]:
    table = staging.TABLES[kind]
    plan = staging.BATCHES
    query = (
        sa.select(table).join(plan, plan.c.member_no == table.c.member_no).where(plan.c.seq == seq)
    )
    return _rows(await session.execute(query))


def _local_instant(day: date, at: str | None, zone: ZoneInfo) -> datetime:
    clock = time.fromisoformat(at) if at else time(0, 0)
    return datetime.combine(day, clock, tzinfo=zone)


def _order(row: Any) -> tuple[Any, ...]:
    return (
        row.member_no,
        row.occurred_on,
        row.occurred_time or "",
        len(row.movement_id),
        row.movement_id,
    )


async def _customers_of(session: AsyncSession, members: Sequence[Any]) -> dict[str, uuid.UUID]:
    """Each member's Trama customer, by any number of the same person."""
    wanted: dict[tuple[str, str], str] = {}
    for m in members:
        for pair in identities(m.document_type, m.document_number):
            wanted[pair] = m.member_no
    table = table_of(Customer)
    numbers = sorted({n for _, n in wanted})
    out: dict[str, uuid.UUID] = {}
    for start in range(0, len(numbers), 2000):
        rows = await session.execute(
            sa.select(table.c.id, table.c.national_id_type, table.c.national_id).where(
                table.c.national_id.in_(numbers[start : start + 2000])
            )
        )
        for customer_id, id_type, number in rows:
            member_no = wanted.get((id_type, number))
            if member_no is not None:
                out[member_no] = customer_id
    return out


async def write_batch(
    session: AsyncSession,
    *,
    principal: Principal,
    run_id: uuid.UUID,
    plan: BatchPlan,
    mapping: Mapping,
) -> dict[str, Any]:
    """Write one batch (see the module's docstring). Flushes, never commits."""
    run = await session.get(MigrationRun, run_id, with_for_update=True)
    if run is None:
        raise NotFound("LoyaltyMigration", run_id)
    if run.batches_done >= plan.seq:
        return {"skipped": True}
    if run.batches_done != plan.seq - 1:
        raise Conflict(f"batch {plan.seq} comes after {run.batches_done + 1}")
    if dialect_of(session) == "postgresql":
        # A batch is redone from the journal if a crash loses it: no need to wait for the
        # WAL flush at each commit (the database stays consistent either way).
        await session.execute(sa.text("SET LOCAL synchronous_commit = off"))
    program = await loyalty_accounts.get_program(session, run.program_id)
    zone = ZoneInfo(mapping.timezone)
    seq = plan.seq
    members = sorted(await _batch_rows(session, Kind.MEMBERS, seq), key=lambda r: r.member_no)
    accounts = await _batch_rows(session, Kind.ACCOUNTS, seq)
    balances = {b.member_no: b for b in await _batch_rows(session, Kind.BALANCES, seq)}
    movements = sorted(await _batch_rows(session, Kind.MOVEMENTS, seq), key=_order)

    # 1. customers
    found = await _customers_of(session, members)
    missing = [m for m in members if m.member_no not in found]
    if missing:
        drafts = [
            customers_service.CustomerDraft(
                national_id_type=m.document_type,
                national_id=m.document_number,
                given_names=m.given_names,
                family_names=m.family_names,
                email=m.email,
            )
            for m in missing
        ]
        created = await customers_service.import_customers(
            session, principal=principal, home_partner_id=program.partner_id, drafts=drafts
        )
        if created.rejected:
            index, reason = created.rejected[0]
            raise ValidationFailed.on(
                "members", f"member {missing[index].member_no} cannot be a customer: {reason}"
            )
        found.update(await _customers_of(session, missing))
    existed = {m.member_no for m in members} - {m.member_no for m in missing}

    # 2. accounts
    account_ids = await bulk.create_accounts(
        session,
        program=program,
        rows=[
            bulk.NewAccount(
                customer_id=found[m.member_no],
                external_ref=m.member_no,
                segments=(m.segment,) if m.segment else (),
                enrolled_at=_local_instant(m.joined_on, None, zone),
                status=_MEMBER_STATUS.get(m.status or "ACTIVE", AccountStatus.CLOSED).value,
            )
            for m in members
        ],
    )
    product_of = {a.account_no: a.product for a in accounts}

    # 3. the history
    batch_id = uuid7()
    history: list[bulk.HistoryMovement] = []
    legacy_expiry: dict[str, dict[date, list[Any]]] = defaultdict(lambda: defaultdict(list))
    zero_point = 0
    refund_field = "refund_of" in bulk.HistoryMovement.__dataclass_fields__
    for mv in movements:
        kind = MovementKind(mv.kind)
        if kind == MovementKind.EXPIRY:
            last_day = mv.expires_on or (mv.occurred_on - timedelta(days=1))
            legacy_expiry[mv.member_no][last_day].append(mv)
            continue
        if mv.points == 0:
            zero_point += 1
            continue
        extra: dict[str, Any] = {}
        if kind == MovementKind.ACCRUAL and mv.amount is not None:
            extra["purchase"] = bulk.HistoryPurchase(
                external_id=f"legacy:{mv.movement_id}",
                amount=abs(mv.amount),
                currency=mapping.currency,
                mcc=mv.mcc,
                card_product=product_of.get(mv.account_no or ""),
            )
        if kind == MovementKind.BONUS:
            extra["campaign"] = (mv.reason or "legacy bonus")[:100]
        if kind == MovementKind.REVERSAL and refund_field and mv.origin_id:
            extra["refund_of"] = f"legacy:{mv.origin_id}"
        if mv.points > 0:
            extra["expires_on"] = mv.expires_on if mv.expires_on is not None else bulk.POLICY
        history.append(
            bulk.HistoryMovement(
                account_id=account_ids[mv.member_no],
                kind=_KIND_TO_ENTRY[kind],
                points=mv.points,
                occurred_at=_local_instant(mv.occurred_on, mv.occurred_time, zone),
                dedupe_key=f"legacy:{mv.movement_id}",
                reason=_reason(mv, kind),
                source_ref=mv.movement_id,
                # The entry is explained by its legacy record: loyalty_legacy_movements of
                # the run (migration_batch_id -> the journal) and source_ref.
                explanation={"legacy": kind.value, "line": mv.line},
                **extra,
            )
        )
    result = await bulk.write_history(
        session,
        program=program,
        batch_id=batch_id,
        actor=f"migration:{run.id}",
        movements=history,
        as_of=run.cutoff,
        expire=True,
    )

    # 4. the legacy records, as exported
    await _archive(session, run.id, seq, members, found, existed, account_ids)

    # 5. balances at the cut-off
    expired = _expired_by_day(result)
    if expired is None:
        # what the ledger expired, read back from the entries the batch wrote
        expired = await explain.expired_by_day(
            session, batch_id=batch_id, account_ids=list(account_ids.values()), zone=zone
        )
    overdrawn: dict[uuid.UUID, list[tuple[str, int]]] = defaultdict(list)
    for account_id, dedupe_key, debt in result.overdrawn:
        overdrawn[account_id].append((dedupe_key.removeprefix("legacy:"), debt))
    by_member: dict[str, list[Any]] = defaultdict(list)
    for mv in movements:
        by_member[mv.member_no].append(mv)
    differing = [
        account_ids[m.member_no]
        for m in members
        if _total(result, account_ids[m.member_no]) != balances[m.member_no].points
    ]
    refunds: dict[uuid.UUID, list[explain.RefundFromOtherLots]] = {}
    if differing:
        refunds = await explain.refunds_from_other_lots(
            session,
            batch_id=batch_id,
            account_ids=differing,
            origin_of={
                f"legacy:{mv.movement_id}": f"legacy:{mv.origin_id}"
                for mv in movements
                if mv.kind == MovementKind.REVERSAL.value and mv.origin_id
            },
        )
    discrepancies: list[dict[str, Any]] = []
    migrated_points = 0
    for m in members:
        account_id = account_ids[m.member_no]
        trama = _total(result, account_id)
        migrated_points += trama
        legacy_balance = balances[m.member_no].points
        day_rows = _expiry_rows(
            run.id,
            m.member_no,
            account_id,
            legacy_expiry.get(m.member_no, {}),
            expired.get(account_id, {}) if expired is not None else None,
        )
        discrepancies.extend(day_rows)
        if trama != legacy_balance:
            discrepancies.append(
                balance_discrepancy(
                    run_id=run.id,
                    member_no=m.member_no,
                    account_id=account_id,
                    legacy_balance=legacy_balance,
                    trama=trama,
                    movements=by_member.get(m.member_no, []),
                    expiry_rows=day_rows,
                    overdrawn=overdrawn.get(account_id, []),
                    expiries_known=True,
                    refunds=refunds.get(account_id, ()),
                )
            )
    if discrepancies:
        await session.execute(sa.insert(table_of(MigrationDiscrepancy)), discrepancies)

    # 6. the journal
    content = journal.content_hash(
        (tuple(getattr(m, f) for f in journal.MEMBER_FIELDS) for m in members),
        (tuple(getattr(a, f) for f in journal.ACCOUNT_FIELDS) for a in accounts),
        (tuple(getattr(mv, f) for f in journal.MOVEMENT_FIELDS) for mv in movements),
        (tuple(getattr(b, f) for f in journal.BALANCE_FIELDS) for b in balances.values()),
    )
    legacy_points = sum(mv.points for mv in movements)
    batch = MigrationBatch(
        id=batch_id,
        run_id=run.id,
        seq=seq,
        first_member=plan.first_member,
        last_member=plan.last_member,
        members=len(members),
        accounts=len(accounts),
        movements=len(movements),
        legacy_points=legacy_points,
        entries=result.entries,
        migrated_points=migrated_points,
        content_hash=content,
        prev_hash=run.journal_head,
        hash="",
    )
    batch.hash = journal.hash_of(batch)
    session.add(batch)
    counts = dict(run.counts)
    for key, value in (
        ("customersMatched", len(existed)),
        ("customersCreated", len(missing)),
        ("entries", result.entries),
        ("lots", result.lots),
        ("purchases", result.purchases),
        ("expiries", result.expiries),
        ("zeroPointPurchases", zero_point),
        ("overdrawn", len(result.overdrawn)),
        ("batchDiscrepancies", sum(1 for d in discrepancies if d["kind"] == "BALANCE")),
    ):
        counts[key] = int(counts.get(key, 0)) + value
    run.counts = counts
    run.batches_done = seq
    run.journal_head = batch.hash
    run.legacy_points += legacy_points
    run.migrated_points += migrated_points
    run.updated_at = utcnow()
    run.status = RunStatus.IMPORTING.value
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.migration.batch",
        entity_type="LoyaltyMigration",
        entity_id=run.id,
        after={
            "seq": seq,
            "members": len(members),
            "movements": len(movements),
            "entries": result.entries,
            "legacyPoints": legacy_points,
            "migratedPoints": migrated_points,
            "contentHash": content,
            "hash": batch.hash,
        },
    )
    events.emit(
        session,
        "loyalty.migration_batch_committed",
        run,
        program,
        {
            "seq": seq,
            "members": len(members),
            "movements": len(movements),
            "legacyPoints": legacy_points,
            "migratedPoints": migrated_points,
            "hash": batch.hash,
        },
    )
    return {
        "members": len(members),
        "movements": len(movements),
        "entries": result.entries,
        "discrepancies": len(discrepancies),
    }


def _reason(mv: Any, kind: MovementKind) -> str:
    what = {
        MovementKind.ACCRUAL: f"Purchase at {mv.merchant}" if mv.merchant else "Purchase",
        MovementKind.BONUS: mv.reason or "Bonus",
        MovementKind.REDEMPTION: mv.reason or "Redemption",
        MovementKind.ADJUSTMENT: mv.reason or "Manual adjustment",
        MovementKind.REVERSAL: f"Refund of purchase {mv.origin_id}",
    }[kind]
    return f"{what} (legacy {mv.movement_id})"[:500]


def _total(result: bulk.HistoryResult, account_id: uuid.UUID) -> int:
    book = result.balances.get(account_id)
    return book.total if book is not None else 0


def _expired_by_day(result: Any) -> dict[uuid.UUID, dict[date, int]] | None:
    """What write_history expired, per account and last day (None if it does not say)."""
    items = getattr(result, "expired", None)
    if items is None:
        return None
    out: dict[uuid.UUID, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for account_id, last_day, points in items:
        out[account_id][last_day] += abs(points)
    return out


def _expiry_rows(
    run_id: uuid.UUID,
    member_no: str,
    account_id: uuid.UUID,
    legacy: dict[date, list[Any]],
    trama: dict[date, int] | None,
) -> list[dict[str, Any]]:
    """One EXPIRY discrepancy per last day where the legacy system and Trama expired
    different points."""
    if trama is None:
        return []
    out = []
    for day in sorted(set(legacy) | set(trama)):
        legacy_points = -sum(mv.points for mv in legacy.get(day, []))
        trama_points = trama.get(day, 0)
        if legacy_points == trama_points:
            continue
        out.append(
            {
                "id": uuid7(),
                "run_id": run_id,
                "kind": DiscrepancyKind.EXPIRY.value,
                "member_no": member_no,
                "account_id": account_id,
                "period": day.isoformat(),
                "movement_kind": EntryKind.EXPIRY.value,
                "legacy_points": -legacy_points,
                "trama_points": -trama_points,
                "difference": legacy_points - trama_points,
                "explanation": {
                    "lastDay": day.isoformat(),
                    "legacyExpired": legacy_points,
                    "tramaExpired": trama_points,
                    "legacyMovements": [
                        {"id": mv.movement_id, "line": mv.line, "points": mv.points}
                        for mv in legacy.get(day, [])
                    ],
                    "why": (
                        "the lots left on that day differ: an earlier movement took points"
                        " from other lots in one system than in the other"
                        if legacy_points and trama_points
                        else "one system expired points on that day and the other did not"
                    ),
                },
            }
        )
    return out


def balance_discrepancy(
    *,
    run_id: uuid.UUID,
    member_no: str,
    account_id: uuid.UUID,
    legacy_balance: int,
    trama: int,
    movements: Sequence[Any],
    expiry_rows: Sequence[dict[str, Any]],
    overdrawn: Sequence[tuple[str, int]],
    expiries_known: bool,
    read_back: bool = False,
    refunds: Sequence[explain.RefundFromOtherLots] = (),
) -> dict[str, Any]:
    """A member whose balance differs, and what explains the difference: the legacy balance
    against its own movements (and the movements that would close the gap), the days Trama
    expired other points than the legacy system, debits beyond the points there were."""
    legacy_sum = sum(mv.points for mv in movements)
    gap = legacy_sum - legacy_balance  # what the legacy balance leaves out of its movements
    explained: list[dict[str, Any]] = []
    if gap:
        candidates = [
            {"id": mv.movement_id, "line": mv.line, "kind": mv.kind, "points": mv.points,
             "on": mv.occurred_on.isoformat()}
            for mv in movements
            if mv.points == gap
        ][-5:]  # fmt: skip
        explained.append(
            {
                "cause": "LEGACY_BALANCE_DISAGREES_WITH_ITS_MOVEMENTS",
                "points": gap,
                "legacyMovementsSum": legacy_sum,
                "candidates": candidates,
                "text": (
                    f"the legacy balance ({legacy_balance}) is not the sum of the member's"
                    f" {len(movements)} movements ({legacy_sum})"
                    + (
                        f"; it leaves out {len(candidates)} movement(s) of exactly {gap} points"
                        if candidates
                        else ""
                    )
                ),
            }
        )
    expiry_gap = sum(row["difference"] for row in expiry_rows)
    if expiry_rows:
        cause: dict[str, Any] = {
            "cause": "EXPIRED_DIFFERENTLY",
            "points": expiry_gap,
            "days": [row["period"] for row in expiry_rows],
            "text": (
                f"Trama expired {abs(expiry_gap)} points"
                f" {'fewer' if expiry_gap > 0 else 'more'} than the legacy system"
            ),
        }
        if refunds:
            # why: reversals whose points the ledger took from other lots than the
            # purchase's own (the legacy system takes them back from the purchase's lot)
            cause["becauseOfRefunds"] = [r.as_json() for r in refunds]
            cause["text"] += (
                f"; {len(refunds)} reversal(s) took "
                f"{sum(r.points for r in refunds)} points from other lots than their"
                " purchase's, so different lots were left to expire"
            )
        explained.append(cause)
    if overdrawn:
        explained.append(
            {
                "cause": "OVERDRAWN",
                "points": -sum(d for _, d in overdrawn),
                "movements": [{"id": i, "debt": d} for i, d in overdrawn],
                "text": "debits beyond the points there were became a debt",
            }
        )
    rest = (trama - legacy_balance) - gap - expiry_gap
    if rest:
        explained.append(
            {
                "cause": "UNEXPLAINED" if expiries_known else "NOT_ITEMISED",
                "points": rest,
                "text": "no movement accounts for this part"
                if expiries_known
                else "the ledger did not say what it expired per day",
            }
        )
    return {
        "id": uuid7(),
        "run_id": run_id,
        "kind": DiscrepancyKind.BALANCE.value,
        "member_no": member_no,
        "account_id": account_id,
        "period": None,
        "movement_kind": None,
        "legacy_points": legacy_balance,
        "trama_points": trama,
        "difference": trama - legacy_balance,
        "explanation": {"readBack": read_back, "explainedBy": explained},
    }


async def _archive(
    session: AsyncSession,
    run_id: uuid.UUID,
    seq: int,
    members: Sequence[Any],
    customers: dict[str, uuid.UUID],
    existed: set[str],
    account_ids: dict[str, uuid.UUID],
) -> None:
    """Keep the batch's legacy records: members from here (with their customer and
    account), the rest copied inside the database from the temporary tables."""
    member_table = table_of(LegacyMember)
    names = [c.name for c in member_table.columns]
    rows = []
    for m in members:
        values = {f: getattr(m, f) for f in journal.MEMBER_FIELDS}
        values.update(
            run_id=run_id,
            batch_seq=seq,
            customer_id=customers[m.member_no],
            customer_existed=m.member_no in existed,
            account_id=account_ids[m.member_no],
        )
        rows.append(tuple(values[n] for n in names))
    if dialect_of(session) == "postgresql":
        await staging.write_rows(session, member_table, names, rows)
    else:
        await session.execute(
            sa.insert(member_table), [dict(zip(names, r, strict=True)) for r in rows]
        )
    plan = staging.BATCHES
    run = sa.literal(run_id, type_=UUIDType)
    for model, kind, fields in (
        (LegacyAccount, Kind.ACCOUNTS, journal.ACCOUNT_FIELDS),
        (LegacyMovement, Kind.MOVEMENTS, journal.MOVEMENT_FIELDS),
        (LegacyBalance, Kind.BALANCES, journal.BALANCE_FIELDS),
    ):
        source = staging.TABLES[kind]
        target = table_of(model)
        select = (
            sa.select(run, sa.literal(seq, type_=sa.Integer), *(source.c[f] for f in fields))
            .select_from(source.join(plan, plan.c.member_no == source.c.member_no))
            .where(plan.c.seq == seq)
        )
        await session.execute(
            sa.insert(target).from_select(["run_id", "batch_seq", *fields], select)
        )


# --- helpers for the edges ------------------------------------------------------------------
async def drop_staging(session: AsyncSession) -> None:
    await staging.drop(session)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ValidationFailed):
        return "; ".join(f"{p.field}: {p.message}" for p in exc.problems)[:1000]
    if isinstance(exc, DomainError):
        return exc.message[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


async def mark_failed(uow: UnitOfWork, run_id: uuid.UUID, error: str) -> None:
    """Record why a run stopped (it stays resumable)."""
    async with uow() as session:
        run = await session.get(MigrationRun, run_id)
        if run is not None and run.status != RunStatus.COMPLETED:
            run.status = RunStatus.FAILED.value
            run.error = error[:1000]
            run.updated_at = utcnow()
