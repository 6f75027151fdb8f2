"""Statements in: one service for the three ways in (GraphQL upload, CLI, inbox folder).

:func:`ingest_file` reads the whole file first (``formats``), finds each statement's
account, checks currencies and integrity, works out which lines are new — and only then
writes, set-based: the file, its statements, the new lines, the confirmation of lines
first notified by interim reports, the accounts' last sequence and balance, one
``statements.ingested`` event per statement and one audit record. Any refusal raises
:class:`~domain.collections.errors.StatementRefused` before the first write, and the edge's
transaction writes nothing anyway.

Idempotency: a file already received from the partner (same SHA-256) is answered with what
it brought the first time (``already_received``); a statement received before (same
account, kind, reference, dates, closing balance and line count) is skipped; a line whose
identity key the account already has is not stored again (``identity.py``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import access, counterparty
from domain.collections.errors import RefusalCode, StatementRefused
from domain.collections.formats import ReadLimits, TabularTarget, read_file
from domain.collections.formats.base import AccountRef, ParsedLine, ParsedStatement, Problem
from domain.collections.formats.tabular import ColumnMapping
from domain.collections.identity import identity_keys
from domain.collections.integrity import AccountState, check
from domain.collections.models import (
    BankAccount,
    BankStatement,
    Channel,
    Direction,
    IntegrityStatus,
    LineState,
    StatementFile,
    StatementKind,
    StatementLine,
)
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

__all__ = ["IngestPolicy", "IngestResult", "ingest_file"]

_IN_CHUNK = 500
_INSERT_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """The limits and defaults the edge passes from its settings."""

    max_bytes: int = 64 * 1024 * 1024
    max_unzipped_bytes: int = 256 * 1024 * 1024
    max_zip_ratio: int = 100
    refuse_broken: bool = False


@dataclass(slots=True)
class IngestResult:
    file: StatementFile
    statements: list[BankStatement] = field(default_factory=list)
    #: The same file (same bytes) was received before: nothing was written now.
    already_received: bool = False
    #: Statements of the file that had been received before (skipped).
    skipped_statements: int = 0

    @property
    def line_count(self) -> int:
        return self.file.line_count

    @property
    def new_line_count(self) -> int:
        return self.file.new_line_count


@dataclass(slots=True)
class _Plan:
    parsed: ParsedStatement
    account: BankAccount
    statement_id: uuid.UUID
    integrity: str
    problems: list[dict[str, Any]]
    keys: list[str]
    new: list[int]  # indexes of lines to insert
    confirm: list[uuid.UUID]  # known interim lines this end-of-day statement books
    skipped: bool = False


def _clean_name(name: str) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')
    return base.strip(" .")[:255] or "statement"


async def _accounts_by_identifier(
    session: AsyncSession, refs: Sequence[AccountRef]
) -> dict[str, list[BankAccount]]:
    """Every registered account a statement's identifiers may name: the same number can be
    registered at two banks (accounts are unique per country, bank and number)."""
    wanted = sorted({c for ref in refs for c in ref.candidates()})
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(BankAccount).where(
            sa.or_(
                col(BankAccount.account_number).in_(wanted),
                col(BankAccount.statement_identifier).in_(wanted),
            )
        )
    )
    found: dict[str, list[BankAccount]] = {}
    for account in rows.scalars():
        for name in {account.account_number, account.statement_identifier}:
            if name:
                found.setdefault(name, []).append(account)
    return found


def _names(account: BankAccount) -> set[str]:
    return {n for n in (account.account_number, account.statement_identifier) if n}


async def ingest_file(
    session: AsyncSession,
    *,
    principal: Principal,
    content: bytes,
    file_name: str,
    channel: Channel,
    account_id: uuid.UUID | None = None,
    policy: IngestPolicy | None = None,
) -> IngestResult:
    """Read and store a statement file (see the module). ``account_id``: the account the
    file is for — required for CSV/XLSX exports, checked against what camt/MT files name."""
    access.ensure_can_ingest(principal)
    policy = policy or IngestPolicy()
    name = _clean_name(file_name)
    if len(content) > policy.max_bytes:
        raise StatementRefused(
            RefusalCode.FILE_TOO_LARGE,
            f"the file has {len(content)} bytes, more than the {policy.max_bytes} accepted",
        )
    chosen: BankAccount | None = None
    if account_id is not None:
        try:
            chosen = await _visible_account(session, principal, account_id)
        except NotFound:
            raise StatementRefused(
                RefusalCode.UNKNOWN_ACCOUNT, "there is no such bank account for you"
            ) from None
    digest = hashlib.sha256(content).hexdigest()
    if chosen is not None or principal.partner_id is not None:
        owner = chosen.partner_id if chosen is not None else principal.partner_id
        assert owner is not None
        earlier = await _earlier_file(session, owner, digest)
        if earlier is not None:
            return earlier

    def tabular(_: AccountRef | None) -> TabularTarget | None:
        if chosen is None:
            return None
        mapping = ColumnMapping.from_json(chosen.column_mapping) if chosen.column_mapping else None
        return TabularTarget(mapping, chosen.currency, chosen.account_number)

    limits = ReadLimits(
        max_unzipped_bytes=policy.max_unzipped_bytes,
        max_ratio=policy.max_zip_ratio,
    )
    try:
        parsed = read_file(content, file_name=name, tabular=tabular, limits=limits)
    except ValidationFailed as failed:  # a saved mapping that no longer validates
        raise StatementRefused(RefusalCode.NO_COLUMN_MAPPING, failed.message) from None

    accounts = await _resolve_accounts(session, principal, parsed.statements, chosen)
    partners = {a.partner_id for a in accounts}
    if len(partners) != 1:
        raise StatementRefused(
            RefusalCode.ACCOUNT_MISMATCH, "the file holds statements of several lenders' accounts"
        )
    partner_id = partners.pop()
    # Lock the accounts (PostgreSQL; SQLite writers are serialised already): sequences and
    # balances are read and moved by one ingestion at a time, and the same file sent twice
    # at once is stored by the first and found by the second once it has the lock.
    ids = sorted({a.id for a in accounts})
    locked = await session.execute(
        for_update(sa.select(BankAccount).where(col(BankAccount.id).in_(ids)), session)
    )
    by_id = {a.id: a for a in locked.scalars()}
    for account in by_id.values():
        await session.refresh(account)
    earlier = await _earlier_file(session, partner_id, digest)
    if earlier is not None:
        return earlier
    states = {
        a.id: AccountState(a.last_sequence, await _last_page(session, a), a.last_closing_balance)
        for a in by_id.values()
    }
    plans: list[_Plan] = []
    seen_in_file: dict[tuple[uuid.UUID, str], int] = {}
    skipped = 0
    for statement, account_ref in zip(parsed.statements, accounts, strict=True):
        account = by_id[account_ref.id]
        if statement.currency != account.currency:
            raise StatementRefused(
                RefusalCode.CURRENCY_MISMATCH,
                f"a statement in {statement.currency} for an account in {account.currency}",
                where=statement.where,
            )
        if await _received_before(session, account, statement):
            skipped += 1
            continue
        plan = await _plan(session, account, statement, states[account.id], seen_in_file)
        refuse = (
            account.refuse_broken if account.refuse_broken is not None else policy.refuse_broken
        )
        if plan.integrity == IntegrityStatus.BROKEN.value and refuse:
            first = next(p for p in plan.problems if p["code"] in _break_codes())
            raise StatementRefused(
                RefusalCode.INTEGRITY_BROKEN,
                f"{first['code']}: {first['message']}",
                where=first.get("where") or statement.where,
            )
        plans.append(plan)
    return await _write(
        session,
        principal=principal,
        partner_id=partner_id,
        digest=digest,
        name=name,
        size=len(content),
        kind=parsed.kind,
        channel=channel,
        plans=plans,
        accounts=by_id,
        states=states,
        skipped=skipped,
    )


def _break_codes() -> frozenset[str]:
    from domain.collections.integrity import BREAKS

    return BREAKS


async def _visible_account(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> BankAccount:
    account = (
        (
            await session.execute(
                sa.select(BankAccount).where(
                    col(BankAccount.id) == account_id, access.accounts_visible_to(principal)
                )
            )
        )
        .scalars()
        .first()
    )
    if account is None:
        raise NotFound("BankAccount", account_id)
    return account


async def _resolve_accounts(
    session: AsyncSession,
    principal: Principal,
    statements: list[ParsedStatement],
    chosen: BankAccount | None,
) -> list[BankAccount]:
    refs = [s.account for s in statements if s.kind not in (StatementKind.CSV, StatementKind.XLSX)]
    known = await _accounts_by_identifier(session, refs)
    out: list[BankAccount] = []
    for statement in statements:
        if statement.kind in (StatementKind.CSV, StatementKind.XLSX):
            assert chosen is not None  # read_file refuses a CSV without its account
            out.append(chosen)
            continue
        candidates = statement.account.candidates()
        # The most specific identifier that names an account the principal may see (another
        # partner's account is as unknown as a missing one, and never hides ours).
        named: list[BankAccount] = []
        for candidate in candidates:
            named = [
                a
                for a in known.get(candidate, [])
                if access.may_see_partner(principal, a.partner_id)
            ]
            if named:
                break
        account = named[0] if len(named) == 1 else None
        if chosen is not None:
            if any(a.id == chosen.id for a in named):
                account = chosen
            if account is None and not (set(candidates) & _names(chosen)):
                raise StatementRefused(
                    RefusalCode.ACCOUNT_MISMATCH,
                    f"the statement is for account {statement.account.describe()}, not "
                    f"{chosen.account_number}",
                    where=statement.where,
                )
            if account is not None and account.id != chosen.id:
                raise StatementRefused(
                    RefusalCode.ACCOUNT_MISMATCH,
                    f"the statement is for account {statement.account.describe()}, not "
                    f"{chosen.account_number}",
                    where=statement.where,
                )
            account = chosen
        if account is None and len(named) > 1:
            raise StatementRefused(
                RefusalCode.UNKNOWN_ACCOUNT,
                f"{len(named)} registered accounts are named "
                f"{statement.account.describe()} (at different banks): choose the account "
                "the file is for",
                where=statement.where,
            )
        if account is None:
            raise StatementRefused(
                RefusalCode.UNKNOWN_ACCOUNT,
                f"no registered collection account {statement.account.describe()}",
                where=statement.where,
            )
        if not account.active:
            raise StatementRefused(
                RefusalCode.UNKNOWN_ACCOUNT,
                f"the account {account.account_number} is closed in Trama",
                where=statement.where,
            )
        out.append(account)
    return out


async def _earlier_file(
    session: AsyncSession, partner_id: uuid.UUID, digest: str
) -> IngestResult | None:
    earlier = (
        (
            await session.execute(
                sa.select(StatementFile).where(
                    col(StatementFile.partner_id) == partner_id, col(StatementFile.sha256) == digest
                )
            )
        )
        .scalars()
        .first()
    )
    if earlier is None:
        return None
    statements = list(
        (
            await session.execute(
                sa.select(BankStatement)
                .where(col(BankStatement.file_id) == earlier.id)
                .order_by(col(BankStatement.id))
            )
        ).scalars()
    )
    return IngestResult(file=earlier, statements=statements, already_received=True)


async def _last_page(session: AsyncSession, account: BankAccount) -> int | None:
    if account.last_sequence is None:
        return None
    row = await session.execute(
        sa.select(sa.func.max(BankStatement.page)).where(
            col(BankStatement.account_id) == account.id,
            col(BankStatement.sequence) == account.last_sequence,
            col(BankStatement.interim).is_(False),
        )
    )
    value = row.scalar()
    return int(value) if value is not None else None


async def _received_before(
    session: AsyncSession, account: BankAccount, statement: ParsedStatement
) -> bool:
    if not statement.statement_ref:
        return False
    table = table_of(BankStatement)
    rows = await session.execute(
        sa.select(
            table.c.kind,
            table.c.from_date,
            table.c.to_date,
            table.c.closing_balance,
            table.c.line_count,
            table.c.sequence,
        ).where(
            table.c.account_id == account.id,
            table.c.statement_ref == statement.statement_ref[:100],
        )
    )
    closing = statement.closing.amount if statement.closing else None
    for row in rows:
        if (
            row.kind == statement.kind.value
            and row.from_date == statement.from_date
            and row.to_date == statement.to_date
            and row.closing_balance == closing
            and row.line_count == len(statement.lines)
            and row.sequence == statement.sequence
        ):
            return True
    return False


async def _plan(
    session: AsyncSession,
    account: BankAccount,
    statement: ParsedStatement,
    state: AccountState,
    seen_in_file: dict[tuple[uuid.UUID, str], int],
) -> _Plan:
    integrity, problems = check(statement, state)
    keys = identity_keys(account.id, statement.lines)
    existing = await _existing(session, account.id, keys)
    # A bank reference the account already has for another movement (another amount, or
    # another day than an end-of-day statement booked it on: references numbered afresh
    # each day or export) would drop this line as a repeat: such references are not
    # identities, the lines get their hash. (A line only notified so far may be booked
    # on another day by the end-of-day statement: the same movement.)
    reused = {
        key: index
        for index, key in enumerate(keys)
        if key.startswith("ref:")
        and key in existing
        and _another_movement(existing[key], statement.lines[index])
    }
    if reused:
        keys = identity_keys(account.id, statement.lines, distrusted=set(reused))
        existing = await _existing(session, account.id, keys)
        for key, index in reused.items():
            line = statement.lines[index]
            problems.append(
                Problem(
                    "REFERENCE_REUSED",
                    f"the bank reference {key[4:].removesuffix(':R')[:60]!r} was given before "
                    f"to another movement: this {line.amount} {line.currency} of "
                    f"{line.booking_date} is kept as a line of its own",
                    line.where,
                )
            )
    new: list[int] = []
    confirm: list[uuid.UUID] = []
    end_of_day = not statement.kind.interim
    for index, key in enumerate(keys):
        if (account.id, key) in seen_in_file:
            continue  # twice in this file (an MT942 and the MT940 of the day)
        known = existing.get(key)
        if known is None:
            new.append(index)
            seen_in_file[(account.id, key)] = index
        elif end_of_day and known[1] is None:
            confirm.append(known[0])
    return _Plan(
        parsed=statement,
        account=account,
        statement_id=uuid7(),
        integrity=integrity,
        problems=[p.as_dict() for p in problems],
        keys=keys,
        new=new,
        confirm=confirm,
    )


def _another_movement(
    known: tuple[uuid.UUID, uuid.UUID | None, date, int], line: ParsedLine
) -> bool:
    _, booked_by, booking_date, amount = known
    if amount != line.amount:
        return True
    return booked_by is not None and booking_date != line.booking_date


async def _existing(
    session: AsyncSession, account_id: uuid.UUID, keys: list[str]
) -> dict[str, tuple[uuid.UUID, uuid.UUID | None, date, int]]:
    """identity key → (line id, booked statement id, booking date, amount) of the
    account's known lines."""
    lines = table_of(StatementLine)
    found: dict[str, tuple[uuid.UUID, uuid.UUID | None, date, int]] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start : start + _IN_CHUNK]
        rows = await session.execute(
            sa.select(
                lines.c.identity_key,
                lines.c.id,
                lines.c.booked_statement_id,
                lines.c.booking_date,
                lines.c.amount,
            ).where(lines.c.account_id == account_id, lines.c.identity_key.in_(chunk))
        )
        for row in rows:
            found[row.identity_key] = (
                row.id,
                row.booked_statement_id,
                row.booking_date,
                row.amount,
            )
    return found


def _line_row(
    plan: _Plan, index: int, line: ParsedLine, now: Any, line_id: uuid.UUID
) -> dict[str, Any]:
    account = plan.account
    national = counterparty.from_field(line.counterparty_id_raw, account.country) or (
        counterparty.from_text(line.remittance_info, account.country)
    )
    return {
        "id": line_id,
        "statement_id": plan.statement_id,
        "booked_statement_id": None if plan.parsed.kind.interim else plan.statement_id,
        "account_id": account.id,
        "partner_id": account.partner_id,
        "identity_key": plan.keys[index],
        "position": index + 1,
        "booking_date": line.booking_date,
        "value_date": line.value_date,
        "amount": line.amount,
        "currency": line.currency,
        "direction": Direction.CREDIT.value if line.amount > 0 else Direction.DEBIT.value,
        "instructed_amount": line.instructed_amount,
        "instructed_currency": line.instructed_currency,
        "is_reversal": line.is_reversal,
        "reverses_line_id": None,
        "bank_reference": line.bank_reference,
        "end_to_end_id": line.end_to_end_id,
        "transaction_id": line.transaction_id,
        "customer_reference": line.customer_reference,
        "creditor_reference": line.creditor_reference,
        "remittance_info": line.remittance_info,
        "counterparty_name": line.counterparty_name,
        "counterparty_account": line.counterparty_account,
        "counterparty_bank": line.counterparty_bank,
        "counterparty_national_id_type": national.type.value if national else None,
        "counterparty_national_id": national.number if national else None,
        "counterparty_id_raw": line.counterparty_id_raw,
        "bank_transaction_code": line.bank_transaction_code,
        "bank_transaction_text": line.bank_transaction_text,
        "batch_key": line.batch_key,
        "batch_amount": line.batch_amount,
        "batch_size": line.batch_size,
        "state": LineState.NEW.value,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


_REFERENCE_FIELDS = (
    "end_to_end_id",
    "transaction_id",
    "customer_reference",
    "creditor_reference",
    "bank_reference",
)


def _references(row: dict[str, Any]) -> set[str]:
    return {str(row[f]).upper() for f in _REFERENCE_FIELDS if row.get(f)}


async def _link_reversals(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Point each new reversal at the line it reverses: same account, the opposite amount,
    not a reversal, a reference in common, booked on or before it, not reversed yet —
    among this file's lines first, then the account's."""
    reversals = [r for r in rows if r["is_reversal"]]
    if not reversals:
        return
    taken: set[uuid.UUID] = set()
    lines = table_of(StatementLine)
    for reversal in reversals:
        refs = _references(reversal)
        if not refs:
            continue
        local = [
            r
            for r in rows
            if not r["is_reversal"]
            and r["account_id"] == reversal["account_id"]
            and r["amount"] == -reversal["amount"]
            and r["booking_date"] <= reversal["booking_date"]
            and r["id"] not in taken
            and _references(r) & refs
        ]
        if local:
            original = local[-1]["id"]
        else:
            query = (
                sa.select(lines.c.id, *[lines.c[f] for f in _REFERENCE_FIELDS])
                .where(
                    lines.c.account_id == reversal["account_id"],
                    lines.c.amount == -reversal["amount"],
                    lines.c.is_reversal.is_(False),
                    lines.c.booking_date <= reversal["booking_date"],
                )
                .order_by(lines.c.booking_date.desc(), lines.c.id.desc())
                .limit(200)
            )
            candidates = [
                row
                for row in (await session.execute(query)).mappings()
                if row["id"] not in taken and _references(dict(row)) & refs
            ]
            if not candidates:
                continue
            reversed_already = set(
                (
                    await session.execute(
                        sa.select(lines.c.reverses_line_id).where(
                            lines.c.reverses_line_id.in_([c["id"] for c in candidates])
                        )
                    )
                ).scalars()
            )
            candidates = [c for c in candidates if c["id"] not in reversed_already]
            if not candidates:
                continue
            original = candidates[0]["id"]
        reversal["reverses_line_id"] = original
        taken.add(original)


async def _write(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID,
    digest: str,
    name: str,
    size: int,
    kind: StatementKind,
    channel: Channel,
    plans: list[_Plan],
    accounts: dict[uuid.UUID, BankAccount],
    states: dict[uuid.UUID, AccountState],
    skipped: int,
) -> IngestResult:
    now = utcnow()
    file = StatementFile(
        partner_id=partner_id,
        sha256=digest,
        file_name=name,
        size=size,
        kind=kind.value,
        channel=channel.value,
        received_by=principal.subject[:200],
        received_at=now,
        statement_count=len(plans),
        line_count=sum(len(p.parsed.lines) for p in plans),
        new_line_count=sum(len(p.new) for p in plans),
    )
    session.add(file)
    await session.flush()
    statements: list[BankStatement] = []
    rows: list[dict[str, Any]] = []
    for plan in plans:
        parsed = plan.parsed
        credit = sum(line.amount for line in parsed.lines if line.amount > 0)
        debit = sum(line.amount for line in parsed.lines if line.amount < 0)
        statement = BankStatement(
            id=plan.statement_id,
            file_id=file.id,
            account_id=plan.account.id,
            partner_id=plan.account.partner_id,
            kind=parsed.kind.value,
            message_version=parsed.message_version,
            statement_ref=(parsed.statement_ref or f"{digest[:16]}/{len(statements) + 1}")[:100],
            sequence=parsed.sequence,
            legal_sequence=parsed.legal_sequence,
            page=parsed.page,
            created_by_bank_at=parsed.created_at,
            from_date=parsed.from_date,
            to_date=parsed.to_date,
            currency=parsed.currency or plan.account.currency,
            opening_balance=parsed.opening.amount if parsed.opening else None,
            opening_balance_type=parsed.opening.type if parsed.opening else None,
            opening_balance_date=parsed.opening.on if parsed.opening else None,
            closing_balance=parsed.closing.amount if parsed.closing else None,
            closing_balance_type=parsed.closing.type if parsed.closing else None,
            closing_balance_date=parsed.closing.on if parsed.closing else None,
            credit_total=credit,
            debit_total=debit,
            line_count=len(parsed.lines),
            new_line_count=len(plan.new),
            interim=parsed.kind.interim,
            integrity=plan.integrity,
            schema_status=_schema_status(parsed),
            problems=plan.problems,
            received_at=now,
        )
        session.add(statement)
        statements.append(statement)
        for index in plan.new:
            rows.append(_line_row(plan, index, parsed.lines[index], now, uuid7()))
    await session.flush()
    await _link_reversals(session, rows)
    lines = table_of(StatementLine)
    for start in range(0, len(rows), _INSERT_CHUNK):
        await session.execute(sa.insert(lines), rows[start : start + _INSERT_CHUNK])
    for plan in plans:
        for start in range(0, len(plan.confirm), _IN_CHUNK):
            await session.execute(
                sa.update(lines)
                .where(
                    lines.c.id.in_(plan.confirm[start : start + _IN_CHUNK]),
                    lines.c.booked_statement_id.is_(None),
                )
                .values(booked_statement_id=plan.statement_id)
            )
    for account_id, state in states.items():
        account = accounts[account_id]
        moved = [p for p in plans if p.account.id == account_id and not p.parsed.kind.interim]
        if not moved:
            continue
        last = moved[-1].parsed
        if last.sequence is not None:
            account.last_sequence = state.last_sequence
        if last.closing is not None:
            account.last_closing_balance = last.closing.amount
            account.last_closing_date = last.closing.on or last.to_date
        account.updated_at = now
    await session.flush()
    for plan, statement in zip(plans, statements, strict=True):
        outbox.add(
            session,
            "statements.ingested",
            {
                "statementId": wire.global_id("BankStatement", statement.id),
                "accountId": wire.global_id("CollectionAccount", statement.account_id),
                "partnerId": wire.global_id("Partner", statement.partner_id),
                "kind": statement.kind,
                "interim": statement.interim,
                "lineCount": statement.line_count,
                "newLineCount": statement.new_line_count,
                "confirmedLineCount": len(plan.confirm),
                "integrity": statement.integrity,
                "fromDate": wire.maybe_day(statement.from_date),
                "toDate": wire.maybe_day(statement.to_date),
                "closingBalance": wire.maybe_money(statement.closing_balance, statement.currency),
            },
            partner_ids=[statement.partner_id],
            key=wire.global_id("BankStatement", statement.id),
        )
    audit.record(
        session,
        principal=principal,
        action="collections.statements_ingest",
        entity_type="StatementFile",
        entity_id=file.id,
        after={
            "file_name": name,
            "sha256": digest,
            "kind": kind.value,
            "channel": channel.value,
            "statements": [
                {
                    "id": str(s.id),
                    "account_id": str(s.account_id),
                    "statement_ref": s.statement_ref,
                    "integrity": s.integrity,
                    "line_count": s.line_count,
                    "new_line_count": s.new_line_count,
                }
                for s in statements
            ],
            "skipped_statements": skipped,
        },
    )
    return IngestResult(file=file, statements=statements, skipped_statements=skipped)


def _schema_status(parsed: ParsedStatement) -> str:
    from domain.collections.models import SchemaStatus

    if parsed.kind not in (StatementKind.CAMT052, StatementKind.CAMT053, StatementKind.CAMT054):
        return SchemaStatus.NOT_APPLICABLE.value
    if any(p.code in ("XSD", "XSD_UNAVAILABLE") for p in parsed.problems):
        return SchemaStatus.INVALID.value
    return SchemaStatus.VALID.value
