"""Reads of the credit registry: the staff list, one credit, a customer's own credits.

Every read checks the permission first (so the answer never depends on the arguments of a
caller who may not ask), then asks a checked domain service; nested fields use the
request's DataLoaders (``resolvers/credit_loaders.py``).
"""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import read_session
from domain.credits import access
from domain.credits import service as credits
from domain.credits.models import Credit as CreditModel
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import Page, clamp_page_size
from resolvers.context import principal_of
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import selects, to_connection
from schema.credit_inputs import CreditFilter
from schema.credit_ledger import CreditStatus
from schema.credit_registry import Credit, CreditConnection


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


async def _connection(
    info: Info, page: Page[CreditModel], session: AsyncSession
) -> CreditConnection:
    loaders = info.context.loaders
    loaders.credits.prime_credits(page.items)
    await loaders.prefetch_partners(session, {c.partner_id for c in page.items})
    return to_connection(page, Credit.from_model)


def _filter_ids(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return require_node_id(value, type_name, field) if value else None


async def credits_list(
    info: Info,
    filter: CreditFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CreditConnection:
    principal = principal_of(info)
    access.ensure_can_list(principal)  # before any argument is judged
    limit = _limit(info, first)
    f = filter or CreditFilter()
    customer_id = _filter_ids(f.customer_id, "Customer", "filter.customerId")
    lender_id = _filter_ids(f.lender_id, "Partner", "filter.lenderId")
    async with read_session() as session:
        page = await credits.search_credits(
            session,
            principal=principal,
            limit=limit,
            after=after,
            statuses=[s.value for s in f.status] if f.status else None,
            aging_buckets=[b.value for b in f.aging_bucket] if f.aging_bucket else None,
            customer_id=customer_id,
            partner_id=lender_id,
            reference=f.reference,
            with_total=selects(info, "totalCount"),
        )
        return await _connection(info, page, session)


async def my_credits(
    info: Info,
    status: list[CreditStatus] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CreditConnection:
    principal = principal_of(info)
    access.ensure_customer(principal)
    limit = _limit(info, first)
    async with read_session() as session:
        page = await credits.list_my_credits(
            session,
            principal=principal,
            limit=limit,
            after=after,
            statuses=[s.value for s in status] if status else None,
            with_total=selects(info, "totalCount"),
        )
        return await _connection(info, page, session)


async def credit(info: Info, id: strawberry.ID) -> Credit | None:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    key = decode_node_id(id, "Credit")
    if key is None:
        return None
    async with read_session() as session:
        try:
            model = await credits.get_credit(session, principal=principal, credit_id=key)
        except NotFound:
            return None
    info.context.loaders.credits.prime_credits([model])
    return Credit.from_model(model)


async def credit_by_reference(info: Info, reference: str) -> Credit | None:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    if len(reference) > 40:
        raise ValidationFailed.on("reference", "is not a credit reference")
    async with read_session() as session:
        try:
            model = await credits.get_by_reference(
                session, principal=principal, reference=reference
            )
        except NotFound:
            return None
    info.context.loaders.credits.prime_credits([model])
    return Credit.from_model(model)
