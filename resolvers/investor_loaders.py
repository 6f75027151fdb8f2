"""Per-request DataLoaders of investors, fundings and settlements: each batch is one short
read session and one statement, whatever the page size (``domain.investors.batches``).

They check no access: they are asked only for rows the request already reached through a
checked service (an investor it may read, a statement it may read).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db import read_session
from domain.investors import batches
from domain.investors import service as investors
from domain.investors.models import (
    CreditFunding,
    DistributionLine,
    Investor,
    SettlementRun,
    SettlementStatement,
)
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page

V = TypeVar("V")


@dataclass(frozen=True)
class PageKey:
    owner_id: uuid.UUID
    limit: int
    after: str | None = None


def _by_id(
    fetch: Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, V]]],
) -> Callable[[list[uuid.UUID]], Awaitable[list[V | None]]]:
    async def load(keys: list[uuid.UUID]) -> list[V | None]:
        async with read_session() as session:
            found = await fetch(session, list(dict.fromkeys(keys)))
        return [found.get(k) for k in keys]

    return load


def _lists(
    fetch: Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, list[V]]]],
) -> Callable[[list[uuid.UUID]], Awaitable[list[list[V]]]]:
    async def load(keys: list[uuid.UUID]) -> list[list[V]]:
        async with read_session() as session:
            found = await fetch(session, list(dict.fromkeys(keys)))
        return [found.get(k, []) for k in keys]

    return load


def _pages(
    fetch: Callable[..., Awaitable[dict[uuid.UUID, Page[V]]]],
) -> Callable[[list[PageKey]], Awaitable[list[Page[V] | BaseException]]]:
    """Keys asking the same page size and cursor are fetched together."""

    async def load(keys: list[PageKey]) -> list[Page[V] | BaseException]:
        groups: dict[tuple[int, str | None], list[uuid.UUID]] = defaultdict(list)
        for key in keys:
            groups[(key.limit, key.after)].append(key.owner_id)
        pages: dict[PageKey, Page[V] | BaseException] = {}
        async with read_session() as session:
            for (limit, after), ids in groups.items():
                try:
                    found = await fetch(session, list(dict.fromkeys(ids)), limit=limit, after=after)
                except ValidationFailed as exc:  # a bad cursor fails its own keys only
                    for owner in ids:
                        pages[PageKey(owner, limit, after)] = exc
                    continue
                for owner, page in found.items():
                    pages[PageKey(owner, limit, after)] = page
        return [pages[k] for k in keys]

    return load


async def _investors_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Investor]:
    return await investors.get_many(session, list(ids))


class InvestorLoaders:
    def __init__(self) -> None:
        self.investor: DataLoader[uuid.UUID, Investor | None] = DataLoader(
            load_fn=_by_id(_investors_by_id)
        )
        self.fundings: DataLoader[uuid.UUID, list[CreditFunding]] = DataLoader(
            load_fn=_lists(batches.fundings_of_investors)
        )
        self.funding: DataLoader[uuid.UUID, CreditFunding | None] = DataLoader(
            load_fn=_by_id(batches.fundings_by_id)
        )
        self.credit_reference: DataLoader[uuid.UUID, str | None] = DataLoader(
            load_fn=_by_id(batches.credit_references)
        )
        self.run: DataLoader[uuid.UUID, SettlementRun | None] = DataLoader(
            load_fn=_by_id(batches.runs_by_id)
        )
        self.statement: DataLoader[uuid.UUID, SettlementStatement | None] = DataLoader(
            load_fn=_by_id(batches.statements_by_id)
        )
        self.statements: DataLoader[PageKey, Page[SettlementStatement]] = DataLoader(
            load_fn=_pages(batches.statements_of_investors)
        )
        self.run_statements: DataLoader[PageKey, Page[SettlementStatement]] = DataLoader(
            load_fn=_pages(batches.statements_of_runs)
        )
        self.statement_counts: DataLoader[uuid.UUID, int] = DataLoader(
            load_fn=_by_id(batches.statement_counts)
        )
        self.lines: DataLoader[PageKey, Page[DistributionLine]] = DataLoader(
            load_fn=_pages(batches.lines_of_statements)
        )

    def _all(self) -> list[DataLoader[Any, Any]]:
        return [
            self.investor,
            self.fundings,
            self.funding,
            self.credit_reference,
            self.run,
            self.statement,
            self.statements,
            self.run_statements,
            self.statement_counts,
            self.lines,
        ]

    def forget(self) -> None:
        """Drop everything cached (after a mutation changed investors in this request)."""
        for loader in self._all():
            loader.clear_all()

    def prime_investors(self, models: Sequence[Investor]) -> None:
        for model in models:
            self.investor.prime(model.id, model)
