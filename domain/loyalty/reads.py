"""Reads for the API: accounts, movements and lots in keyset pages, scoped by the caller.

Every list filters with ``access.accounts_visible_to`` (a SQL condition), so what a page
shows is what the caller may see; cursors encode the sort key of the last row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.loyalty import access
from domain.loyalty import accounts as accounts_service
from domain.loyalty.models import (
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyLot,
    LoyaltyPurchase,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyRuleSet,
    LoyaltyTierChange,
)
from domain.shared.errors import NotFound
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal
from domain.shared.time import ensure_utc


def _page(items: list[Any], limit: int, cursor: Any, *, after: str | None) -> Page[Any]:
    has_next = len(items) > limit
    items = items[:limit]
    return Page(items, [cursor(i) for i in items], has_next, after is not None)


async def account_for(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> LoyaltyAccount:
    """An account the caller may see (NotFound otherwise)."""
    access.ensure_can_read(principal)
    account = await session.get(LoyaltyAccount, account_id)
    if account is None:
        raise NotFound("LoyaltyAccount", account_id)
    program = await accounts_service.get_program(session, account.program_id)
    access.ensure_sees_account(principal, account, program)
    return account


async def visible_accounts(
    session: AsyncSession, principal: Principal, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LoyaltyAccount]:
    if not ids:
        return {}
    access.ensure_can_read(principal)
    rows = await session.execute(
        sa.select(LoyaltyAccount).where(
            col(LoyaltyAccount.id).in_(list(ids)), access.accounts_visible_to(principal)
        )
    )
    return {a.id: a for a in rows.scalars()}


async def accounts_page(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: uuid.UUID,
    limit: int,
    after: str | None = None,
    tier: str | None = None,
    status: str | None = None,
    with_total: bool = False,
) -> Page[LoyaltyAccount]:
    """A program's accounts by member number (its staff; a customer sees its own)."""
    access.ensure_can_read(principal)
    program = await accounts_service.get_program(session, program_id)
    if not (access.may_see_program(principal, program) or principal.customer_id):
        raise NotFound("LoyaltyProgram", program_id)
    conditions = [
        col(LoyaltyAccount.program_id) == program_id,
        access.accounts_visible_to(principal),
    ]
    if tier is not None:
        conditions.append(col(LoyaltyAccount.tier_code) == tier)
    if status is not None:
        conditions.append(col(LoyaltyAccount.status) == status)
    query = sa.select(LoyaltyAccount).where(*conditions)
    if after is not None:
        (number,) = decode_cursor(after, "loyalty-accounts", 1)
        query = query.where(col(LoyaltyAccount.number) > str(number))
    rows = list(
        (
            await session.execute(query.order_by(col(LoyaltyAccount.number)).limit(limit + 1))
        ).scalars()
    )
    page = _page(rows, limit, lambda a: encode_cursor("loyalty-accounts", a.number), after=after)
    if with_total:
        total = await session.scalar(
            sa.select(sa.func.count()).select_from(LoyaltyAccount).where(*conditions)
        )
        page = Page(page.items, page.cursors, page.has_next, page.has_previous, int(total or 0))
    return page


async def accounts_of_customers(
    session: AsyncSession, principal: Principal, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[LoyaltyAccount]]:
    """``Customer.loyaltyAccounts``: the accounts of each customer the caller may see."""
    out: dict[uuid.UUID, list[LoyaltyAccount]] = {c: [] for c in customer_ids}
    if not customer_ids or not principal.has_scope(access.Scope.LOYALTY_READ):
        return out
    rows = await session.execute(
        sa.select(LoyaltyAccount)
        .where(
            col(LoyaltyAccount.customer_id).in_(list(customer_ids)),
            access.accounts_visible_to(principal),
        )
        .order_by(col(LoyaltyAccount.customer_id), col(LoyaltyAccount.enrolled_at))
    )
    for account in rows.scalars():
        out[account.customer_id].append(account)
    return out


async def my_accounts(session: AsyncSession, principal: Principal) -> list[LoyaltyAccount]:
    customer_id = access.ensure_customer(principal)
    found = await accounts_of_customers(session, principal, [customer_id])
    return found[customer_id]


async def movements_page(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    limit: int,
    after: str | None = None,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    with_total: bool = False,
) -> Page[LoyaltyEntry]:
    """Newest first (``occurred_at`` then id, the index ``ix_loyalty_entries_account_time``).
    The caller checked the account is visible."""
    entries = table_of(LoyaltyEntry)
    conditions: list[Any] = [entries.c.account_id == account_id]
    if kinds:
        conditions.append(entries.c.kind.in_(list(kinds)))
    if since is not None:
        conditions.append(entries.c.occurred_at >= ensure_utc(since))
    if until is not None:
        conditions.append(entries.c.occurred_at < ensure_utc(until))
    query = sa.select(LoyaltyEntry).where(*conditions)
    if after is not None:
        at_text, key = decode_cursor(after, "loyalty-movements", 2)
        try:
            at = datetime.fromisoformat(str(at_text))
            last = uuid.UUID(str(key))
        except ValueError:
            from domain.shared.errors import ValidationFailed

            raise ValidationFailed.on("after", "this cursor is not valid") from None
        query = query.where(
            sa.or_(
                col(LoyaltyEntry.occurred_at) < at,
                sa.and_(col(LoyaltyEntry.occurred_at) == at, col(LoyaltyEntry.id) < last),
            )
        )
    rows = list(
        (
            await session.execute(
                query.order_by(
                    col(LoyaltyEntry.occurred_at).desc(), col(LoyaltyEntry.id).desc()
                ).limit(limit + 1)
            )
        ).scalars()
    )
    page = _page(
        rows,
        limit,
        lambda e: encode_cursor("loyalty-movements", e.occurred_at.isoformat(), str(e.id)),
        after=after,
    )
    if with_total:
        total = await session.scalar(sa.select(sa.func.count()).where(*conditions))
        page = Page(page.items, page.cursors, page.has_next, page.has_previous, int(total or 0))
    return page


async def lots_page(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    limit: int,
    after: str | None = None,
    open_only: bool = True,
) -> Page[LoyaltyLot]:
    """Lots by when they were opened, newest first."""
    lots = table_of(LoyaltyLot)
    conditions: list[Any] = [lots.c.account_id == account_id]
    if open_only:
        conditions.append(lots.c.remaining != 0)
    query = sa.select(LoyaltyLot).where(*conditions)
    if after is not None:
        at_text, key = decode_cursor(after, "loyalty-lots", 2)
        at = datetime.fromisoformat(str(at_text))
        last = uuid.UUID(str(key))
        query = query.where(
            sa.or_(
                col(LoyaltyLot.opened_at) < at,
                sa.and_(col(LoyaltyLot.opened_at) == at, col(LoyaltyLot.id) < last),
            )
        )
    rows = list(
        (
            await session.execute(
                query.order_by(col(LoyaltyLot.opened_at).desc(), col(LoyaltyLot.id).desc()).limit(
                    limit + 1
                )
            )
        ).scalars()
    )
    return _page(
        rows,
        limit,
        lambda x: encode_cursor("loyalty-lots", x.opened_at.isoformat(), str(x.id)),
        after=after,
    )


async def redemptions_of(
    session: AsyncSession, *, account_id: uuid.UUID, limit: int = 50
) -> list[LoyaltyRedemption]:
    rows = await session.execute(
        sa.select(LoyaltyRedemption)
        .where(col(LoyaltyRedemption.account_id) == account_id)
        .order_by(col(LoyaltyRedemption.created_at).desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def tier_history(
    session: AsyncSession, *, account_id: uuid.UUID, limit: int = 50
) -> list[LoyaltyTierChange]:
    rows = await session.execute(
        sa.select(LoyaltyTierChange)
        .where(col(LoyaltyTierChange.account_id) == account_id)
        .order_by(col(LoyaltyTierChange.changed_at).desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def purchases_of(
    session: AsyncSession, *, account_id: uuid.UUID, limit: int = 50
) -> list[LoyaltyPurchase]:
    rows = await session.execute(
        sa.select(LoyaltyPurchase)
        .where(col(LoyaltyPurchase.account_id) == account_id)
        .order_by(col(LoyaltyPurchase.occurred_at).desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def get_many_rule_sets(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LoyaltyRuleSet]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(LoyaltyRuleSet).where(col(LoyaltyRuleSet.id).in_(list(ids)))
    )
    return {r.id: r for r in rows.scalars()}


async def get_many_rewards(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LoyaltyReward]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(LoyaltyReward).where(col(LoyaltyReward.id).in_(list(ids)))
    )
    return {r.id: r for r in rows.scalars()}
