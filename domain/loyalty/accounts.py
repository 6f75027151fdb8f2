"""Programs and member accounts: create, change, enrol, read."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.customers.models import Customer
from domain.loyalty import access
from domain.loyalty import events as loyalty_events
from domain.loyalty.models import (
    AccountStatus,
    ExpiryPolicy,
    LoyaltyAccount,
    LoyaltyProgram,
)
from domain.partners.models import Partner
from domain.shared import audit, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems, ValidationFailed
from domain.shared.models import table_of
from domain.shared.money import Money, MoneyError, exponent
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

PROGRAM_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,31}$", re.ASCII)
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", re.ASCII)
_POINT_VALUE = re.compile(r"^[0-9]{1,12}(?:\.[0-9]{1,8})?$", re.ASCII)
MAX_SEGMENTS = 20
_EXPIRY_RANGES = {
    ExpiryPolicy.AFTER_DAYS.value: (1, 3660),
    ExpiryPolicy.END_OF_MONTH.value: (0, 120),
    ExpiryPolicy.END_OF_NTH_YEAR.value: (0, 20),
}


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    name: str
    unit_name: str
    point_value: str  # exact decimal, major units per point
    currency: str
    timezone: str
    expiry_policy: str = ExpiryPolicy.NEVER.value
    expiry_count: int | None = None
    pending_days: int = 0
    allow_debt: bool = True


def _text(p: Problems, field: str, value: str | None, *, limit: int) -> str | None:
    if value is None:
        p.add(field, "required")
        return None
    text = value.strip()
    if not text or len(text) > limit:
        p.add(field, f"between 1 and {limit} characters")
        return None
    pan.check(p, field, text)
    return text


def check_settings(p: Problems, s: ProgramSettings) -> Decimal | None:
    _text(p, "name", s.name, limit=200)
    _text(p, "unitName", s.unit_name, limit=60)
    value: Decimal | None = None
    if not isinstance(s.point_value, str) or not _POINT_VALUE.match(s.point_value.strip()):
        p.add("pointValue", 'a decimal of major units per point, like "0.35"')
    else:
        try:
            value = Decimal(s.point_value.strip())
        except InvalidOperation:
            p.add("pointValue", "not a decimal")
    try:
        exponent(s.currency)
    except MoneyError:
        p.add("currency", f"unsupported currency {s.currency!r}")
    try:
        if not s.timezone or len(s.timezone) > 64:
            raise ZoneInfoNotFoundError(s.timezone)
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        p.add("timezone", "an IANA timezone like America/Argentina/Buenos_Aires")
    if s.expiry_policy not in {e.value for e in ExpiryPolicy}:
        p.add("expiryPolicy", "NEVER, AFTER_DAYS, END_OF_MONTH or END_OF_NTH_YEAR")
    elif s.expiry_policy == ExpiryPolicy.NEVER.value:
        if s.expiry_count is not None:
            p.add("expiryCount", "points that never expire take no count")
    else:
        lo, hi = _EXPIRY_RANGES[s.expiry_policy]
        if s.expiry_count is None or not lo <= s.expiry_count <= hi:
            p.add("expiryCount", f"from {lo} to {hi} for {s.expiry_policy}")
    if not 0 <= s.pending_days <= 365:
        p.add("pendingDays", "from 0 to 365 days")
    return value


def liability(points: int, program: LoyaltyProgram) -> Money:
    """What ``points`` are worth to the program (its liability), rounded half-even."""
    return Money.from_decimal(
        Decimal(points) * program.point_value, program.currency, rounding="ROUND_HALF_EVEN"
    )


# --- programs -------------------------------------------------------------------------------
async def create_program(
    session: AsyncSession,
    principal: Principal,
    *,
    partner_id: uuid.UUID,
    code: str,
    settings: ProgramSettings,
) -> LoyaltyProgram:
    access.ensure_can_manage(principal)
    if not principal.is_admin and principal.partner_id != partner_id:
        raise NotFound("Partner", partner_id)
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("Partner", partner_id)
    p = Problems()
    code = (code or "").strip().upper()
    if not PROGRAM_CODE.match(code):
        p.add("code", "2 to 32 capital letters, digits and '_'")
    value = check_settings(p, settings)
    p.raise_if_any()
    assert value is not None
    taken = await session.scalar(
        sa.select(sa.func.count())
        .select_from(LoyaltyProgram)
        .where(col(LoyaltyProgram.code) == code)
    )
    if taken:
        raise ValidationFailed.on("code", f"a program with code {code} exists")
    program = LoyaltyProgram(
        partner_id=partner_id,
        code=code,
        name=settings.name.strip(),
        unit_name=settings.unit_name.strip(),
        point_value=value,
        currency=settings.currency,
        timezone=settings.timezone,
        expiry_policy=settings.expiry_policy,
        expiry_count=settings.expiry_count,
        pending_days=settings.pending_days,
        allow_debt=settings.allow_debt,
    )
    session.add(program)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.program.create",
        entity_type="LoyaltyProgram",
        entity_id=program.id,
        after=program_snapshot(program),
    )
    loyalty_events.emit(
        session,
        "loyalty.program_created",
        program,
        {
            "partnerId": wire.global_id("Partner", partner_id),
            "code": code,
            "pointValue": _point_value_wire(program),
            "expiryPolicy": program.expiry_policy,
        },
    )
    return program


def _point_value_wire(program: LoyaltyProgram) -> dict[str, str]:
    return {"amount": format(program.point_value, "f"), "currency": program.currency}


def program_snapshot(program: LoyaltyProgram) -> dict[str, Any]:
    return {
        "code": program.code,
        "name": program.name,
        "unitName": program.unit_name,
        "pointValue": format(program.point_value, "f"),
        "currency": program.currency,
        "timezone": program.timezone,
        "expiryPolicy": program.expiry_policy,
        "expiryCount": program.expiry_count,
        "pendingDays": program.pending_days,
        "allowDebt": program.allow_debt,
        "active": program.active,
        "version": program.version,
    }


async def update_program(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: uuid.UUID,
    expected_version: int,
    settings: ProgramSettings,
    active: bool,
) -> LoyaltyProgram:
    """Change a program's settings. Lots already open keep the dates they were given."""
    access.ensure_can_manage(principal)
    program = await get_program(session, program_id, lock=True)
    access.ensure_staff_of(principal, program)
    if program.version != expected_version:
        raise Conflict("the program changed since you read it", current_version=program.version)
    p = Problems()
    value = check_settings(p, settings)
    if settings.currency != program.currency:
        p.add("currency", "a program's currency cannot change (its rules and liability use it)")
    p.raise_if_any()
    assert value is not None
    before = program_snapshot(program)
    program.name = settings.name.strip()
    program.unit_name = settings.unit_name.strip()
    program.point_value = value
    program.timezone = settings.timezone
    program.expiry_policy = settings.expiry_policy
    program.expiry_count = settings.expiry_count
    program.pending_days = settings.pending_days
    program.allow_debt = settings.allow_debt
    program.active = active
    after = program_snapshot(program)
    changed = [k for k in after if k != "version" and after[k] != before[k]]
    if not changed:
        return program
    program.version += 1
    program.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.program.update",
        entity_type="LoyaltyProgram",
        entity_id=program.id,
        before=before,
        after=program_snapshot(program),
    )
    loyalty_events.emit(
        session,
        "loyalty.program_updated",
        program,
        {"version": program.version, "changed": changed},
    )
    return program


async def get_program(
    session: AsyncSession, program_id: uuid.UUID, *, lock: bool = False
) -> LoyaltyProgram:
    query = sa.select(LoyaltyProgram).where(col(LoyaltyProgram.id) == program_id)
    if lock:
        query = for_update(query, session)
    program = (await session.execute(query)).scalar_one_or_none()
    if program is None:
        raise NotFound("LoyaltyProgram", program_id)
    return program


async def find_program(session: AsyncSession, code: str) -> LoyaltyProgram | None:
    return (
        await session.execute(sa.select(LoyaltyProgram).where(col(LoyaltyProgram.code) == code))
    ).scalar_one_or_none()


async def programs_of(session: AsyncSession, principal: Principal) -> list[LoyaltyProgram]:
    access.ensure_can_read(principal)
    rows = await session.execute(
        sa.select(LoyaltyProgram)
        .where(access.programs_visible_to(principal))
        .order_by(col(LoyaltyProgram.code))
    )
    return list(rows.scalars())


async def get_programs(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LoyaltyProgram]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(LoyaltyProgram).where(col(LoyaltyProgram.id).in_(list(ids)))
    )
    return {p.id: p for p in rows.scalars()}


# --- accounts -------------------------------------------------------------------------------
async def take_member_numbers(
    session: AsyncSession, *, program: LoyaltyProgram, count: int
) -> list[str]:
    """``count`` new member numbers of the program (its row is locked until commit)."""
    if count <= 0:
        return []
    table = table_of(LoyaltyProgram)
    top = (
        await session.execute(
            table.update()
            .where(table.c.id == program.id)
            .values(member_seq=table.c.member_seq + count)
            .returning(table.c.member_seq)
        )
    ).scalar_one()
    program.member_seq = int(top)
    first = int(top) - count + 1
    return [f"{n:010d}" for n in range(first, int(top) + 1)]


def check_segments(p: Problems, field: str, segments: Sequence[str]) -> list[str]:
    out: list[str] = []
    if len(segments) > MAX_SEGMENTS:
        p.add(field, f"at most {MAX_SEGMENTS} segments")
        return out
    for i, seg in enumerate(segments):
        if not isinstance(seg, str) or not SEGMENT.match(seg):
            p.add(f"{field}[{i}]", "a code of letters, digits, '_', '.', '-' (at most 40)")
        elif seg not in out:
            out.append(seg)
    return out


async def enroll(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: uuid.UUID,
    customer_id: uuid.UUID,
    segments: Sequence[str] = (),
    external_ref: str | None = None,
) -> LoyaltyAccount:
    """Open a customer's account in a program (staff of its partner, administrators)."""
    access.ensure_can_write(principal)
    program = await get_program(session, program_id)
    access.ensure_staff_of(principal, program)
    if not program.active:
        raise Conflict("the program is not active")
    if await session.get(Customer, customer_id) is None:
        raise NotFound("Customer", customer_id)
    p = Problems()
    clean = check_segments(p, "segments", segments)
    if external_ref is not None:
        external_ref = _text(p, "externalRef", external_ref, limit=64)
    p.raise_if_any()
    existing = (
        await session.execute(
            sa.select(col(LoyaltyAccount.id)).where(
                col(LoyaltyAccount.program_id) == program.id,
                col(LoyaltyAccount.customer_id) == customer_id,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict("the customer already has an account in this program")
    (number,) = await take_member_numbers(session, program=program, count=1)
    account = LoyaltyAccount(
        program_id=program.id,
        customer_id=customer_id,
        number=number,
        external_ref=external_ref,
        segments=clean,
    )
    session.add(account)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.account.open",
        entity_type="LoyaltyAccount",
        entity_id=account.id,
        after={"program": program.code, "number": number, "segments": clean},
    )
    loyalty_events.emit(
        session,
        "loyalty.account_opened",
        program,
        {
            "accountId": wire.global_id("LoyaltyAccount", account.id),
            "customerId": wire.global_id("Customer", customer_id),
            "number": number,
        },
        key=loyalty_events.account_key(account.id),
    )
    return account


async def update_account(
    session: AsyncSession,
    principal: Principal,
    *,
    account_id: uuid.UUID,
    expected_version: int,
    status: str | None = None,
    segments: Sequence[str] | None = None,
) -> LoyaltyAccount:
    access.ensure_can_manage(principal)
    account = await get_account(session, account_id, lock=True)
    program = await get_program(session, account.program_id)
    access.ensure_staff_of(principal, program)
    if account.version != expected_version:
        raise Conflict("the account changed since you read it", current_version=account.version)
    p = Problems()
    if status is not None and status not in {s.value for s in AccountStatus}:
        p.add("status", "ACTIVE, SUSPENDED or CLOSED")
    clean = check_segments(p, "segments", segments) if segments is not None else None
    p.raise_if_any()
    if account.status == AccountStatus.CLOSED.value and status not in (None, "CLOSED"):
        raise Conflict("a closed account is not opened again")
    before = {"status": account.status, "segments": list(account.segments)}
    if status is not None:
        account.status = status
    if clean is not None:
        account.segments = clean
    after = {"status": account.status, "segments": list(account.segments)}
    if after == before:
        return account
    account.version += 1
    account.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.account.update",
        entity_type="LoyaltyAccount",
        entity_id=account.id,
        before=before,
        after=after,
    )
    loyalty_events.emit(
        session,
        "loyalty.account_updated",
        program,
        {
            "accountId": wire.global_id("LoyaltyAccount", account.id),
            "status": account.status,
            "segments": list(account.segments),
            "version": account.version,
        },
        key=loyalty_events.account_key(account.id),
    )
    return account


async def get_account(
    session: AsyncSession, account_id: uuid.UUID, *, lock: bool = False
) -> LoyaltyAccount:
    query = sa.select(LoyaltyAccount).where(col(LoyaltyAccount.id) == account_id)
    if lock:
        query = for_update(query, session)
    account = (await session.execute(query)).scalar_one_or_none()
    if account is None:
        raise NotFound("LoyaltyAccount", account_id)
    return account


async def lock_accounts(
    session: AsyncSession, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LoyaltyAccount]:
    """Lock accounts (in id order, so two writers never wait on each other in a circle)
    until the transaction ends: every ledger write on an account holds its lock."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    out: dict[uuid.UUID, LoyaltyAccount] = {}
    for start in range(0, len(ids), 5000):
        query = (
            sa.select(LoyaltyAccount)
            .where(col(LoyaltyAccount.id).in_(ids[start : start + 5000]))
            .order_by(col(LoyaltyAccount.id))
        )
        rows = await session.execute(
            for_update(query, session).execution_options(populate_existing=True)
        )
        out.update({a.id: a for a in rows.scalars()})
    return out


async def get_accounts(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LoyaltyAccount]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(LoyaltyAccount).where(col(LoyaltyAccount.id).in_(list(ids)))
    )
    return {a.id: a for a in rows.scalars()}


async def find_account(
    session: AsyncSession, *, program_id: uuid.UUID, number: str
) -> LoyaltyAccount | None:
    return (
        await session.execute(
            sa.select(LoyaltyAccount).where(
                col(LoyaltyAccount.program_id) == program_id, col(LoyaltyAccount.number) == number
            )
        )
    ).scalar_one_or_none()
