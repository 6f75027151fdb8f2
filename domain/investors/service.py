"""Investors: registration, changes, KYC, reads; funding credits (``fundings.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.investors import access, rules
from domain.investors.fundings import (
    credit_fundings,
    fund_credit,
    funded_ppm,
    funded_ppm_many,
    fundings_of_credits,
    investor_fundings,
)
from domain.investors.models import Investor, InvestorKind, KycStatus
from domain.investors.rules import BankAccount
from domain.shared import audit, national_ids, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    Problems,
    ValidationFailed,
)
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.reads import KeysetQuery
from domain.shared.text import fold, like_escape
from domain.shared.time import utcnow
from domain.shared.types import UUIDType

__all__ = [
    "KYC_TRANSITIONS",
    "InvestorChanges",
    "change_kyc_status",
    "create_investor",
    "credit_fundings",
    "fund_credit",
    "funded_ppm",
    "funded_ppm_many",
    "fundings_of_credits",
    "get_investor",
    "get_many",
    "investor_fundings",
    "search_investors",
    "update_investor",
]

_CURSOR_TAG = "investors.v1"

#: KYC moves. A rejected investor goes back to review (PENDING) before it can be verified;
#: a verified one can be sent back to review or rejected (e.g. expired documents).
KYC_TRANSITIONS: dict[KycStatus, frozenset[KycStatus]] = {
    KycStatus.PENDING: frozenset({KycStatus.VERIFIED, KycStatus.REJECTED}),
    KycStatus.VERIFIED: frozenset({KycStatus.PENDING, KycStatus.REJECTED}),
    KycStatus.REJECTED: frozenset({KycStatus.PENDING}),
}

_SNAPSHOT_FIELDS = (
    "kind",
    "legal_name",
    "national_id_type",
    "national_id",
    "email",
    "bank_code",
    "bank_account_type",
    "bank_account_number",
    "kyc_status",
    "kyc_note",
    "version",
)


def snapshot(investor: Investor) -> dict[str, Any]:
    return {name: getattr(investor, name) for name in _SNAPSHOT_FIELDS}


# --- reads ----------------------------------------------------------------------------------
async def get_many(
    session: AsyncSession, ids: list[uuid.UUID] | tuple[uuid.UUID, ...]
) -> dict[uuid.UUID, Investor]:
    """Batch load for DataLoaders (no access check: the caller filters what it shows)."""
    if not ids:
        return {}
    rows = await session.execute(sa.select(Investor).where(col(Investor.id).in_(ids)))
    return {i.id: i for i in rows.scalars().all()}


async def get_investor(
    session: AsyncSession, *, principal: Principal, investor_id: uuid.UUID
) -> Investor:
    access.ensure_can_read(principal, investor_id)
    investor = await session.get(Investor, investor_id)
    if investor is None:
        raise NotFound("Investor", investor_id)
    return investor


def _search_filter(principal: Principal, text: str | None) -> list[sa.ColumnElement[bool]]:
    if not text or not text.strip():
        return []
    text = text.strip()[:100]
    if national_ids.looks_like_national_id(text):
        compact = "".join(ch for ch in text if ch.isalnum()).upper()
        # only where the number is shown in clear: a prefix probe must learn nothing
        return [
            col(Investor.national_id).like(like_escape(compact) + "%", escape="\\"),
            access.personal_data_visible(principal, col(Investor.id)),
        ]
    words = [w for w in fold(text).split(" ") if w][:6]
    return [col(Investor.sort_name).like("%" + like_escape(w) + "%", escape="\\") for w in words]


def investor_cursor(sort_name: str, investor_id: uuid.UUID) -> str:
    """The cursor of an investor in the list's order (name, then id)."""
    return encode_cursor(_CURSOR_TAG, sort_name, str(investor_id))


def investor_list(
    principal: Principal,
    *,
    text: str | None = None,
    kyc_status: str | None = None,
    limit: int,
    after: str | None = None,
) -> KeysetQuery:
    """Investors by name words or a national ID prefix, optionally by KYC status, in name
    order: the list every read path selects from. An investor principal finds only itself."""
    table = table_of(Investor)
    conditions = [
        access.visible_investors(principal, table.c.id),
        *_search_filter(principal, text),
    ]
    if kyc_status is not None:
        try:
            conditions.append(table.c.kyc_status == KycStatus(kyc_status).value)
        except ValueError:
            raise ValidationFailed.on(
                "kycStatus", f"must be one of {', '.join(KycStatus)}"
            ) from None
    keyset: tuple[sa.ColumnElement[bool], ...] = ()
    if after:
        sort_name, raw_id = decode_cursor(after, _CURSOR_TAG, 2)
        last_id = uuid.UUID(str(raw_id)) if isinstance(raw_id, str) else None
        if not isinstance(sort_name, str) or last_id is None:
            raise ValidationFailed.on("after", "this cursor is not valid")
        keyset = (
            sa.tuple_(table.c.sort_name, table.c.id)
            > sa.tuple_(sa.literal(sort_name), sa.literal(last_id, type_=UUIDType)),
        )
    return KeysetQuery(
        table=table,
        conditions=tuple(conditions),
        keyset=keyset,
        order_by=(table.c.sort_name, table.c.id),
        limit=limit,
        after=after,
        cursor_keys=("sort_name", "id"),
        cursor=investor_cursor,
    )


async def search_investors(
    session: AsyncSession,
    *,
    principal: Principal,
    text: str | None = None,
    kyc_status: str | None = None,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
) -> Page[Investor]:
    """:func:`investor_list`, read whole."""
    query = investor_list(principal, text=text, kyc_status=kyc_status, limit=limit, after=after)
    rows = list((await session.execute(query.statement(Investor))).scalars().all())
    total = None
    if with_total:
        total = int((await session.execute(query.count_statement())).scalar_one())
    return query.page(rows, total=total)


# --- writes ---------------------------------------------------------------------------------
def _national_id(problems: Problems, id_type: str, number: str) -> national_ids.NationalId | None:
    try:
        return national_ids.parse(id_type, number)
    except national_ids.InvalidNationalId as exc:
        problems.add("nationalId", str(exc))
        return None


async def _ensure_unique(
    session: AsyncSession, nid: national_ids.NationalId, exclude: uuid.UUID | None = None
) -> None:
    existing = (
        await session.execute(
            sa.select(col(Investor.id)).where(
                col(Investor.national_id_type) == nid.type.value,
                col(Investor.national_id) == nid.number,
            )
        )
    ).scalar()
    if existing is not None and existing != exclude:
        raise ValidationFailed.on("nationalId", "another investor already has this national ID")


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent writer registered the same ID first
        raise ValidationFailed.on(
            "nationalId", "another investor already has this national ID"
        ) from exc


def _events_payload(investor: Investor) -> dict[str, Any]:
    return {
        "investorId": wire.global_id("Investor", investor.id),
        "kycStatus": investor.kyc_status,
    }


async def create_investor(
    session: AsyncSession,
    *,
    principal: Principal,
    kind: str,
    legal_name: str,
    national_id_type: str,
    national_id: str,
    bank_account: BankAccount | None,
    email: str | None = None,
) -> Investor:
    """Register an investor, KYC ``PENDING``. Validates every field and reports all
    problems at once."""
    access.ensure_can_write(principal)
    problems = Problems()
    try:
        investor_kind = InvestorKind(kind)
    except ValueError:
        problems.add("kind", f"must be one of {', '.join(InvestorKind)}")
        investor_kind = None
    name = rules.legal_name(problems, "legalName", legal_name)
    nid = _national_id(problems, national_id_type, national_id)
    clean_email = rules.email(problems, "email", email)
    account = None
    if nid is not None:
        account = rules.bank_account(problems, "bankAccount", bank_account, nid.type.country)
    problems.raise_if_any()
    assert nid is not None and account is not None and investor_kind is not None
    assert account.bank_code is not None
    await _ensure_unique(session, nid)
    now = utcnow()
    investor = Investor(
        kind=investor_kind.value,
        legal_name=name,
        sort_name=fold(name)[:200],
        national_id_type=nid.type.value,
        national_id=nid.number,
        country=nid.type.country,
        email=clean_email,
        bank_code=account.bank_code,
        bank_account_type=account.account_type,
        bank_account_number=account.number,
        kyc_status=KycStatus.PENDING.value,
        kyc_updated_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(investor)
    await _flush_unique(session)
    audit.record(
        session,
        principal=principal,
        action="investors.create",
        entity_type="Investor",
        entity_id=investor.id,
        after=snapshot(investor),
    )
    outbox.add(
        session,
        "investors.created",
        _events_payload(investor),
        key=wire.global_id("Investor", investor.id),
    )
    return investor


@dataclass
class InvestorChanges:
    """Fields to change (``legal_name``, ``email``, ``bank_account``, ``national_id_type``,
    ``national_id``); a field absent from ``values`` is left as it is."""

    values: dict[str, Any] = field(default_factory=dict)


async def _locked(session: AsyncSession, investor_id: uuid.UUID) -> Investor:
    stmt = sa.select(Investor).where(col(Investor.id) == investor_id).with_for_update()
    investor = (await session.execute(stmt)).scalars().first()
    if investor is None:
        raise NotFound("Investor", investor_id)
    return investor


def _check_version(investor: Investor, expected_version: int | None) -> None:
    if expected_version is not None and investor.version != expected_version:
        raise Conflict(
            f"investor changed since version {expected_version}; it is now at version "
            f"{investor.version}",
            current_version=investor.version,
        )


async def update_investor(
    session: AsyncSession,
    *,
    principal: Principal,
    investor_id: uuid.UUID,
    expected_version: int,
    changes: InvestorChanges,
) -> Investor:
    """Change name, e-mail, bank account or national ID. A new national ID or bank account
    sends a verified investor back to KYC review (``PENDING``)."""
    access.ensure_can_write(principal)
    investor = await _locked(session, investor_id)
    _check_version(investor, expected_version)
    before = snapshot(investor)
    problems = Problems()
    v = changes.values
    unknown = set(v) - {"legal_name", "email", "bank_account", "national_id_type", "national_id"}
    if unknown:
        raise ValueError(f"unknown investor fields {sorted(unknown)}")
    country = investor.country
    identity_changed = False
    if "national_id_type" in v or "national_id" in v:
        nid = _national_id(
            problems,
            v.get("national_id_type", investor.national_id_type),
            v.get("national_id", investor.national_id),
        )
        if nid is not None and (nid.type.value, nid.number) != (
            investor.national_id_type,
            investor.national_id,
        ):
            await _ensure_unique(session, nid, investor.id)
            investor.national_id_type = nid.type.value
            investor.national_id = nid.number
            investor.country = country = nid.type.country
            identity_changed = True
    if "legal_name" in v:
        investor.legal_name = rules.legal_name(problems, "legalName", v["legal_name"])
    if "email" in v:
        investor.email = rules.email(problems, "email", v["email"])
    if "bank_account" in v or identity_changed:
        account = rules.bank_account(
            problems,
            "bankAccount",
            v.get("bank_account")
            or BankAccount(
                investor.bank_code, investor.bank_account_type, investor.bank_account_number
            ),
            country,
        )
        if account is not None:
            assert account.bank_code is not None
            investor.bank_code = account.bank_code
            investor.bank_account_type = account.account_type
            investor.bank_account_number = account.number
    problems.raise_if_any()
    payment_changed = (investor.bank_code, investor.bank_account_number) != (
        before["bank_code"],
        before["bank_account_number"],
    )
    now = utcnow()
    kyc_reset = (identity_changed or payment_changed) and (
        investor.kyc_status == KycStatus.VERIFIED.value
    )
    if kyc_reset:
        investor.kyc_status = KycStatus.PENDING.value
        investor.kyc_note = "identity or bank account changed; review again"
        investor.kyc_updated_at = now
    investor.sort_name = fold(investor.legal_name)[:200]
    if snapshot(investor) == before:
        return investor
    investor.version += 1
    investor.updated_at = now
    await _flush_unique(session)
    audit.record(
        session,
        principal=principal,
        action="investors.update",
        entity_type="Investor",
        entity_id=investor.id,
        before=before,
        after=snapshot(investor),
    )
    outbox.add(
        session,
        "investors.updated",
        _events_payload(investor),
        key=wire.global_id("Investor", investor.id),
    )
    if kyc_reset:
        outbox.add(
            session,
            "investors.kyc_changed",
            {**_events_payload(investor), "previousKycStatus": KycStatus.VERIFIED.value},
            key=wire.global_id("Investor", investor.id),
        )
    return investor


async def change_kyc_status(
    session: AsyncSession,
    *,
    principal: Principal,
    investor_id: uuid.UUID,
    status: str,
    note: str | None = None,
    expected_version: int | None = None,
) -> Investor:
    """Move KYC along :data:`KYC_TRANSITIONS`. A rejection needs a note."""
    access.ensure_can_write(principal)
    try:
        target = KycStatus(status)
    except ValueError:
        raise ValidationFailed.on("status", f"must be one of {', '.join(KycStatus)}") from None
    clean_note = (note or "").strip() or None
    if clean_note is not None and len(clean_note) > 500:
        raise ValidationFailed.on("note", "at most 500 characters")
    rules.no_card_number("note", clean_note)
    if target is KycStatus.REJECTED and clean_note is None:
        raise ValidationFailed.on("note", "say why the investor is rejected")
    investor = await _locked(session, investor_id)
    _check_version(investor, expected_version)
    current = KycStatus(investor.kyc_status)
    if target not in KYC_TRANSITIONS[current]:
        raise InvalidTransition("Investor KYC", current.value, target.value)
    before = snapshot(investor)
    now = utcnow()
    investor.kyc_status = target.value
    investor.kyc_note = clean_note
    investor.kyc_updated_at = now
    investor.updated_at = now
    investor.version += 1
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="investors.kyc_change",
        entity_type="Investor",
        entity_id=investor.id,
        before=before,
        after=snapshot(investor),
    )
    outbox.add(
        session,
        "investors.kyc_changed",
        {**_events_payload(investor), "previousKycStatus": current.value},
        key=wire.global_id("Investor", investor.id),
    )
    return investor
