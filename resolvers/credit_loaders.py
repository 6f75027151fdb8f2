"""Per-request DataLoaders of the credit registry: each batch is one short read session and a
fixed number of statements, whatever the page size (``domain.credits.batches``).

They check no access: they are asked only for credits and payments the request already read
through a checked service.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from strawberry.dataloader import DataLoader

from app.db import read_session
from domain.credits import batches
from domain.credits import service as credits
from domain.credits.allocation import AllocationResult
from domain.credits.models import Allocation, Credit, CreditSchedule, Installment, Payment
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page


@dataclass(frozen=True)
class PaymentsKey:
    credit_id: uuid.UUID
    limit: int
    include_reversed: bool
    after: str | None = None


@dataclass(frozen=True)
class PositionKey:
    credit_id: uuid.UUID
    as_of: date | None
    credit: Credit = field(compare=False, hash=False, repr=False)


async def _credits(keys: list[uuid.UUID]) -> list[Credit | None]:
    async with read_session() as session:
        found = await credits.get_many(session, list(dict.fromkeys(keys)))
    return [found.get(k) for k in keys]


async def _payments_by_id(keys: list[uuid.UUID]) -> list[Payment | None]:
    async with read_session() as session:
        found = await batches.payments_by_id(session, list(dict.fromkeys(keys)))
    return [found.get(k) for k in keys]


async def _current_rows(keys: list[uuid.UUID]) -> list[list[Installment]]:
    async with read_session() as session:
        found = await credits.installments_of(session, list(dict.fromkeys(keys)))
    return [found.get(k, []) for k in keys]


async def _all_rows(keys: list[uuid.UUID]) -> list[list[Installment]]:
    async with read_session() as session:
        found = await credits.installments_of(
            session, list(dict.fromkeys(keys)), current_only=False
        )
    return [found.get(k, []) for k in keys]


async def _schedules(keys: list[uuid.UUID]) -> list[list[CreditSchedule]]:
    async with read_session() as session:
        found = await batches.schedules_of(session, list(dict.fromkeys(keys)))
    return [found.get(k, []) for k in keys]


async def _payments(keys: list[PaymentsKey]) -> list[Page[Payment] | BaseException]:
    groups: dict[tuple[int, bool, str | None], list[uuid.UUID]] = defaultdict(list)
    for key in keys:
        groups[(key.limit, key.include_reversed, key.after)].append(key.credit_id)
    pages: dict[PaymentsKey, Page[Payment] | BaseException] = {}
    async with read_session() as session:
        for (limit, include_reversed, after), ids in groups.items():
            try:
                found = await batches.payments_of(
                    session,
                    list(dict.fromkeys(ids)),
                    limit=limit,
                    include_reversed=include_reversed,
                    after=after,
                )
            except ValidationFailed as exc:  # a bad cursor fails its own keys only
                for credit_id in ids:
                    pages[PaymentsKey(credit_id, limit, include_reversed, after)] = exc
                continue
            for credit_id, page in found.items():
                pages[PaymentsKey(credit_id, limit, include_reversed, after)] = page
    return [pages[k] for k in keys]


async def _payment_counts(keys: list[tuple[uuid.UUID, bool]]) -> list[int]:
    groups: dict[bool, list[uuid.UUID]] = defaultdict(list)
    for credit_id, include_reversed in keys:
        groups[include_reversed].append(credit_id)
    counts: dict[tuple[uuid.UUID, bool], int] = {}
    async with read_session() as session:
        for include_reversed, ids in groups.items():
            found = await batches.payment_counts(
                session, list(dict.fromkeys(ids)), include_reversed=include_reversed
            )
            counts.update({(k, include_reversed): v for k, v in found.items()})
    return [counts.get(k, 0) for k in keys]


async def _allocations(keys: list[uuid.UUID]) -> list[list[Allocation]]:
    async with read_session() as session:
        found = await batches.allocations_of(session, list(dict.fromkeys(keys)))
    return [found.get(k, []) for k in keys]


async def _positions(keys: list[PositionKey]) -> list[AllocationResult | None]:
    groups: dict[date | None, dict[uuid.UUID, Credit]] = defaultdict(dict)
    for key in keys:
        groups[key.as_of][key.credit_id] = key.credit
    results: dict[tuple[uuid.UUID, date | None], AllocationResult | None] = {}
    async with read_session() as session:
        for as_of, by_id in groups.items():
            found = await batches.positions_of(session, list(by_id.values()), as_of=as_of)
            results.update({(k, as_of): v for k, v in found.items()})
    return [results.get((k.credit_id, k.as_of)) for k in keys]


class CreditLoaders:
    def __init__(self) -> None:
        self.credit: DataLoader[uuid.UUID, Credit | None] = DataLoader(load_fn=_credits)
        self.payment: DataLoader[uuid.UUID, Payment | None] = DataLoader(load_fn=_payments_by_id)
        self.current_rows: DataLoader[uuid.UUID, list[Installment]] = DataLoader(
            load_fn=_current_rows
        )
        self.all_rows: DataLoader[uuid.UUID, list[Installment]] = DataLoader(load_fn=_all_rows)
        self.schedules: DataLoader[uuid.UUID, list[CreditSchedule]] = DataLoader(load_fn=_schedules)
        self.payments: DataLoader[PaymentsKey, Page[Payment]] = DataLoader(load_fn=_payments)
        self.payment_counts: DataLoader[tuple[uuid.UUID, bool], int] = DataLoader(
            load_fn=_payment_counts
        )
        self.allocations: DataLoader[uuid.UUID, list[Allocation]] = DataLoader(load_fn=_allocations)
        self.positions: DataLoader[PositionKey, AllocationResult | None] = DataLoader(
            load_fn=_positions
        )

    def _all(self) -> list[DataLoader[Any, Any]]:
        return [
            self.credit,
            self.payment,
            self.current_rows,
            self.all_rows,
            self.schedules,
            self.payments,
            self.payment_counts,
            self.allocations,
            self.positions,
        ]

    def forget(self) -> None:
        """Drop everything cached (after a mutation changed credits in this request)."""
        for loader in self._all():
            loader.clear_all()

    def prime_credits(self, models: list[Credit]) -> None:
        for model in models:
            self.credit.prime(model.id, model)
