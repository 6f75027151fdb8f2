"""Collection bank accounts: registering, changing, reading.

An account number is checked as its kind allows (python-stdnum where a validator exists):

- IBAN: ``stdnum.iban`` (country format and check digits); the bank code is read from it;
- CBU (Argentina, 22 digits): ``stdnum.ar.cbu``; the bank code is its first three digits;
- CLABE (Mexico, 18 digits): the Banco de México check digit (weights 3, 7, 1), as the
  investors' accounts check it; the bank code is its first three digits;
- CCI (Peru, 20 digits): digits and length; the bank code is its first three digits;
- LOCAL (Chile, Colombia…): 4 to 20 digits, with the bank's code given apart.

A card number is never an account (refused, and never stored).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from stdnum import exceptions as stdnum_errors
from stdnum import iban as std_iban
from stdnum.ar import cbu as ar_cbu

from domain.collections import access
from domain.collections.formats.tabular import ColumnMapping
from domain.collections.models import AccountNumberKind, BankAccount
from domain.investors.rules import clabe_check_digit
from domain.partners.models import COUNTRIES, Partner, PartnerKind
from domain.shared import audit, outbox, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems, ValidationFailed
from domain.shared.ids import parse_uuid
from domain.shared.money import CURRENCY_EXPONENTS
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.text import clean_name
from domain.shared.time import utcnow

__all__ = [
    "AccountInput",
    "account_named",
    "get_account",
    "get_many",
    "list_accounts",
    "normalise_number",
    "register_bank_account",
    "snapshot",
    "update_bank_account",
]

_SEPARATORS = re.compile(r"[\s.\-]")
_DIGITS = re.compile(r"^[0-9]+$", re.ASCII)
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_IDENTIFIER = re.compile(r"^[A-Z0-9/]{4,64}$")

_SNAPSHOT_FIELDS = (
    "partner_id",
    "country",
    "bank_code",
    "bank_name",
    "bic",
    "number_kind",
    "account_number",
    "statement_identifier",
    "currency",
    "label",
    "column_mapping",
    "refuse_broken",
    "active",
    "version",
)

#: Model attribute → API field name, for ``bank_accounts.updated``.
_API_NAMES = {"column_mapping": "columnMapping", "refuse_broken": "refuseBroken"}


def snapshot(account: BankAccount) -> dict[str, Any]:
    return {name: getattr(account, name) for name in _SNAPSHOT_FIELDS}


@dataclass(frozen=True, slots=True)
class AccountInput:
    country: str
    bank_code: str | None
    bank_name: str
    number_kind: str
    account_number: str
    currency: str
    label: str
    bic: str | None = None
    statement_identifier: str | None = None
    column_mapping: dict[str, Any] | None = None
    refuse_broken: bool | None = None


def normalise_number(
    problems: Problems, kind: str, number: str, country: str, bank_code: str | None
) -> tuple[str, str] | None:
    """(compact number, bank code) or None with problems added."""
    field = "accountNumber"
    if pan.contains_pan(number):
        problems.add(field, "is a card number, not a bank account: card numbers are never kept")
        return None
    compact = _SEPARATORS.sub("", number or "").upper()
    if not compact:
        problems.add(field, "is required")
        return None
    code = _SEPARATORS.sub("", bank_code or "").upper() or None
    if kind == AccountNumberKind.IBAN:
        try:
            compact = std_iban.validate(compact)
        except stdnum_errors.ValidationError:
            problems.add(field, "is not a valid IBAN (format or check digits)")
            return None
        if compact[:2] != country:
            problems.add(field, f"is an IBAN of {compact[:2]}, not of {country}")
            return None
        return compact, code or compact[4:8]
    if not _DIGITS.match(compact):
        problems.add(field, "only digits (spaces, dots and hyphens are ignored)")
        return None
    if not compact.strip("0"):
        problems.add(field, "cannot be all zeros")
        return None
    embedded = {
        AccountNumberKind.CBU: ("AR", 22),
        AccountNumberKind.CLABE: ("MX", 18),
        AccountNumberKind.CCI: ("PE", 20),
    }
    if kind in embedded:
        where, length = embedded[AccountNumberKind(kind)]
        if country != where:
            problems.add("numberKind", f"a {kind} is an account of {where}, not of {country}")
            return None
        if len(compact) != length:
            problems.add(field, f"a {kind} has {length} digits")
            return None
        if kind == AccountNumberKind.CBU:
            try:
                ar_cbu.validate(compact)
            except stdnum_errors.ValidationError:
                problems.add(field, "the CBU check digits do not match")
                return None
        if kind == AccountNumberKind.CLABE and clabe_check_digit(compact[:17]) != compact[17]:
            problems.add(field, "the CLABE check digit does not match")
            return None
        if code is not None and code != compact[:3]:
            problems.add("bankCode", "does not match the bank code inside the number")
            return None
        return compact, compact[:3]
    if not 4 <= len(compact) <= 20:
        problems.add(field, "must have 4 to 20 digits")
        return None
    if code is None or not re.fullmatch(r"[0-9A-Z]{2,11}", code):
        problems.add("bankCode", "the bank's code is required (Chile: three digits, e.g. 012)")
        return None
    return compact, code


def _validate(data: AccountInput) -> dict[str, Any]:
    problems = Problems()
    country = (data.country or "").strip().upper()
    if country not in COUNTRIES:
        problems.add("country", f"one of {', '.join(sorted(COUNTRIES))}")
    currency = (data.currency or "").strip().upper()
    if currency not in CURRENCY_EXPONENTS:
        problems.add("currency", f"one of {', '.join(sorted(CURRENCY_EXPONENTS))}")
    try:
        kind = AccountNumberKind(data.number_kind)
    except ValueError:
        problems.add("numberKind", f"one of {', '.join(AccountNumberKind)}")
        kind = None
    bank_name = clean_name(data.bank_name or "")
    if not 2 <= len(bank_name) <= 140:
        problems.add("bankName", "2 to 140 characters")
    label = clean_name(data.label or "")
    if not 1 <= len(label) <= 100:
        problems.add("label", "1 to 100 characters")
    for name, text in (("bankName", bank_name), ("label", label)):
        if pan.contains_pan(text):
            problems.add(name, pan.MESSAGE)
    bic = (data.bic or "").strip().upper() or None
    if bic is not None and not _BIC.match(bic):
        problems.add("bic", "a BIC of 8 or 11 letters and digits")
    identifier = _SEPARATORS.sub("", data.statement_identifier or "").upper() or None
    if identifier is not None and not _IDENTIFIER.match(identifier):
        problems.add("statementIdentifier", "4 to 64 letters, digits or /")
    number = None
    if kind is not None and country in COUNTRIES:
        number = normalise_number(problems, kind, data.account_number, country, data.bank_code)
    mapping = None
    if data.column_mapping is not None:
        try:
            mapping = ColumnMapping.from_json(data.column_mapping).to_json()
        except ValidationFailed as failed:
            problems.items.extend(failed.problems)
    problems.raise_if_any()
    assert number is not None and kind is not None
    return {
        "country": country,
        "bank_code": number[1],
        "bank_name": bank_name,
        "bic": bic,
        "number_kind": kind.value,
        "account_number": number[0],
        "statement_identifier": identifier,
        "currency": currency,
        "label": label,
        "column_mapping": mapping,
        "refuse_broken": data.refuse_broken,
    }


async def _ensure_unique(
    session: AsyncSession, values: dict[str, Any], *, other_than: uuid.UUID | None = None
) -> None:
    clash = sa.select(col(BankAccount.id)).where(
        col(BankAccount.country) == values["country"],
        col(BankAccount.bank_code) == values["bank_code"],
        col(BankAccount.account_number) == values["account_number"],
    )
    if other_than is not None:
        clash = clash.where(col(BankAccount.id) != other_than)
    if (await session.execute(clash)).first() is not None:
        raise Conflict("this bank account is already registered")
    identifier = values.get("statement_identifier")
    if identifier:
        same = sa.select(col(BankAccount.id)).where(
            sa.or_(
                col(BankAccount.statement_identifier) == identifier,
                col(BankAccount.account_number) == identifier,
            )
        )
        if other_than is not None:
            same = same.where(col(BankAccount.id) != other_than)
        if (await session.execute(same)).first() is not None:
            raise Conflict("another account is named that way in statements")


def _event_payload(account: BankAccount) -> dict[str, Any]:
    return {
        "accountId": wire.global_id("CollectionAccount", account.id),
        "partnerId": wire.global_id("Partner", account.partner_id),
        "currency": account.currency,
    }


async def register_bank_account(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID, data: AccountInput
) -> BankAccount:
    access.ensure_can_manage_accounts(principal)
    access.ensure_owner(principal, partner_id)
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("Partner", partner_id)
    if partner.kind != PartnerKind.LENDER:
        raise ValidationFailed.on("partnerId", "collection accounts belong to lenders")
    values = _validate(data)
    await _ensure_unique(session, values)
    account = BankAccount(partner_id=partner_id, **values)
    session.add(account)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.account_register",
        entity_type="BankAccount",
        entity_id=account.id,
        after=snapshot(account),
    )
    outbox.add(
        session,
        "bank_accounts.registered",
        _event_payload(account),
        partner_ids=[partner_id],
        key=wire.global_id("CollectionAccount", account.id),
    )
    return account


_UNSET: Any = object()


async def update_bank_account(
    session: AsyncSession,
    *,
    principal: Principal,
    account_id: uuid.UUID,
    version: int,
    changes: dict[str, Any],
) -> BankAccount:
    """Change ``label``, ``bank_name``, ``bic``, ``statement_identifier``,
    ``column_mapping``, ``refuse_broken`` or ``active``. The number, bank and currency of an
    account never change (register another account)."""
    access.ensure_can_manage_accounts(principal)
    account = await get_account(session, principal=principal, account_id=account_id, lock=True)
    if account.version != version:
        raise Conflict("the account changed since you read it", current_version=account.version)
    allowed = {
        "label",
        "bank_name",
        "bic",
        "statement_identifier",
        "column_mapping",
        "refuse_broken",
        "active",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed.on(sorted(unknown)[0], "cannot be changed")
    before = snapshot(account)
    merged = AccountInput(
        country=account.country,
        bank_code=account.bank_code,
        bank_name=changes.get("bank_name", account.bank_name),
        number_kind=account.number_kind,
        account_number=account.account_number,
        currency=account.currency,
        label=changes.get("label", account.label),
        bic=changes.get("bic", account.bic),
        statement_identifier=changes.get("statement_identifier", account.statement_identifier),
        column_mapping=changes.get("column_mapping", account.column_mapping),
        refuse_broken=changes.get("refuse_broken", account.refuse_broken),
    )
    values = _validate(merged)
    await _ensure_unique(session, values, other_than=account.id)
    changed: list[str] = []
    for name in (
        "bank_name",
        "bic",
        "statement_identifier",
        "label",
        "column_mapping",
        "refuse_broken",
    ):
        if getattr(account, name) != values[name]:
            setattr(account, name, values[name])
            changed.append(name)
    if "active" in changes and bool(changes["active"]) != account.active:
        account.active = bool(changes["active"])
        changed.append("active")
    if not changed:
        return account
    account.version += 1
    account.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.account_update",
        entity_type="BankAccount",
        entity_id=account.id,
        before=before,
        after=snapshot(account),
    )
    outbox.add(
        session,
        "bank_accounts.updated",
        {**_event_payload(account), "fields": wire.api_fields(changed, _API_NAMES)},
        partner_ids=[account.partner_id],
        key=wire.global_id("CollectionAccount", account.id),
    )
    return account


async def get_account(
    session: AsyncSession, *, principal: Principal, account_id: uuid.UUID, lock: bool = False
) -> BankAccount:
    """The account if ``principal`` may see it; NotFound otherwise (never Forbidden, so an
    account of another partner is not revealed)."""
    access.ensure_can_read(principal)
    query = sa.select(BankAccount).where(
        col(BankAccount.id) == account_id, access.accounts_visible_to(principal)
    )
    if lock:
        from domain.shared.sql import for_update

        query = for_update(query, session)
    account = (await session.execute(query)).scalars().first()
    if account is None:
        raise NotFound("BankAccount", account_id)
    return account


async def get_many(
    session: AsyncSession, *, principal: Principal, ids: list[uuid.UUID]
) -> dict[uuid.UUID, BankAccount]:
    """The accounts among ``ids`` the principal sees (one query)."""
    access.ensure_can_read(principal)
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(BankAccount).where(
            col(BankAccount.id).in_(ids), access.accounts_visible_to(principal)
        )
    )
    return {a.id: a for a in rows.scalars().all()}


async def list_accounts(
    session: AsyncSession,
    *,
    principal: Principal,
    partner_id: uuid.UUID | None = None,
    active: bool | None = None,
    currency: str | None = None,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
) -> Page[BankAccount]:
    """Accounts the principal sees, by id (keyset)."""
    access.ensure_can_read(principal)
    conditions: list[sa.ColumnElement[bool]] = [access.accounts_visible_to(principal)]
    if partner_id is not None:
        conditions.append(col(BankAccount.partner_id) == partner_id)
    if active is not None:
        conditions.append(col(BankAccount.active) == active)
    if currency is not None:
        conditions.append(col(BankAccount.currency) == currency.upper())
    query = sa.select(BankAccount).where(*conditions)
    if after:
        (last,) = decode_cursor(after, "bank_accounts", 1)
        key = parse_uuid(last)
        if key is None:
            raise ValidationFailed.on("after", "this cursor is not valid")
        query = query.where(col(BankAccount.id) > key)
    rows = list(
        (await session.execute(query.order_by(col(BankAccount.id)).limit(limit + 1))).scalars()
    )
    items = rows[:limit]
    total = None
    if with_total:
        total = (
            await session.execute(
                sa.select(sa.func.count()).select_from(BankAccount).where(*conditions)
            )
        ).scalar_one()
    return Page(
        items=items,
        cursors=[encode_cursor("bank_accounts", str(a.id)) for a in items],
        has_next=len(rows) > limit,
        has_previous=after is not None,
        total=total,
    )


async def account_named(session: AsyncSession, name: str) -> uuid.UUID | None:
    """The account an operator names (the CLI's ``--account``, an inbox folder): its id
    (UUID or global id), its number or its statement identifier, written with or without
    spaces, dots and dashes. None when no account has that name; refused when several do
    (the same number at two banks): the operator names it by its id then."""
    key = parse_uuid(name) or wire.parse_global_id(name, "CollectionAccount")
    if key is not None:
        found = await session.get(BankAccount, key)
        return found.id if found is not None else None
    compact = _SEPARATORS.sub("", name).upper()
    rows = await session.execute(
        sa.select(col(BankAccount.id))
        .where(
            sa.or_(
                col(BankAccount.account_number) == compact,
                col(BankAccount.statement_identifier) == compact,
            )
        )
        .order_by(col(BankAccount.id))
    )
    ids = list(rows.scalars())
    if len(ids) > 1:
        from domain.collections.errors import RefusalCode, StatementRefused

        raise StatementRefused(
            RefusalCode.UNKNOWN_ACCOUNT,
            f"{len(ids)} registered accounts are named {name[:64]!r} (at different banks): "
            "name the account by its id ("
            + ", ".join(wire.global_id("CollectionAccount", i) for i in ids)
            + ")",
        )
    return ids[0] if ids else None
