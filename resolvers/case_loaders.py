"""Per-request DataLoaders of cases: each batch is one short read session and one statement
per kind of list asked for, whatever the number of cases (``domain.cases.batches``).

``visible(principal)`` checks access (the principal's widest view); the others check none:
they are asked only about cases the request already read through a checked path.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader

from app.db import read_session
from domain.cases import batches, scopes
from domain.cases import bulk as bulk_domain
from domain.cases import service as cases
from domain.cases.batches import NestedPage
from domain.cases.models import Case, CaseComment, CaseEvent, CasePartnerStatus, CaseTypology
from domain.shared.pagination import Page
from domain.shared.principal import Principal

NestedKey = tuple[uuid.UUID, NestedPage]


@dataclass(frozen=True)
class BulkItemsKey:
    """A page of a mass resolution's outcomes, read under the principal's rights."""

    bulk_id: uuid.UUID
    principal: Principal
    outcome: Any = None
    first: int | None = None
    after: str | None = None


async def _bulk_items(keys: list[BulkItemsKey]) -> list[Page[Any] | BaseException]:
    out: list[Page[Any] | BaseException] = []
    async with read_session() as session:
        for key in keys:  # one job per request in practice
            try:
                out.append(
                    await bulk_domain.list_bulk_items(
                        session,
                        principal=key.principal,
                        bulk_id=key.bulk_id,
                        outcome=key.outcome,
                        first=key.first,
                        after=key.after,
                    )
                )
            except Exception as exc:  # the field that asked fails, not the batch
                out.append(exc)
    return out


async def _statuses(keys: list[uuid.UUID]) -> list[list[CasePartnerStatus]]:
    async with read_session() as session:
        found = await batches.partner_statuses_of(session, keys)
    return [found.get(k, []) for k in keys]


async def _typologies(keys: list[str]) -> list[CaseTypology | None]:
    async with read_session() as session:
        found = await batches.typologies_by_code(session, keys)
    return [found.get(k) for k in keys]


def _nested(
    fetch: Callable[[Any, Sequence[uuid.UUID], NestedPage], Awaitable[dict[uuid.UUID, Any]]],
) -> Callable[[list[NestedKey]], Awaitable[list[Any]]]:
    """Group the keys by page arguments: one statement per distinct arguments."""

    async def load(keys: list[NestedKey]) -> list[Any]:
        groups: dict[NestedPage, list[uuid.UUID]] = defaultdict(list)
        for case_id, page in keys:
            groups[page].append(case_id)
        pages: dict[NestedKey, Any] = {}
        async with read_session() as session:
            for page, ids in groups.items():
                try:
                    found = await fetch(session, ids, page)
                except Exception as exc:  # a bad cursor fails the fields that used it
                    found = dict.fromkeys(ids, exc)
                for case_id, value in found.items():
                    pages[(case_id, page)] = value
        return [pages[k] for k in keys]

    return load


class CaseLoaders:
    def __init__(self) -> None:
        self.partner_statuses: DataLoader[uuid.UUID, list[CasePartnerStatus]] = DataLoader(
            load_fn=_statuses
        )
        self.typology: DataLoader[str, CaseTypology | None] = DataLoader(load_fn=_typologies)
        self.timeline: DataLoader[NestedKey, Page[CaseEvent]] = DataLoader(
            load_fn=_nested(batches.timelines_of)
        )
        self.comments: DataLoader[NestedKey, Page[CaseComment]] = DataLoader(
            load_fn=_nested(batches.comments_of)
        )
        self.bulk_items: DataLoader[BulkItemsKey, Page[Any]] = DataLoader(load_fn=_bulk_items)
        self._visible: dict[Principal, DataLoader[uuid.UUID, Case | None]] = {}
        self._pii_visible: dict[Principal, DataLoader[uuid.UUID, bool]] = {}

    def visible(self, principal: Principal) -> DataLoader[uuid.UUID, Case | None]:
        """Cases by id among those ``principal`` may see (its widest view). Whether each
        one's personal data is shown comes in the same statement (:meth:`pii_visible`)."""
        loader = self._visible.get(principal)
        if loader is None:

            async def load(keys: list[uuid.UUID]) -> list[Case | None]:
                async with read_session() as session:
                    found = await cases.get_many_shown(
                        session, list(dict.fromkeys(keys)), principal=principal
                    )
                self.pii_visible(principal).prime_many(
                    {key: shown for key, (_, shown) in found.items()}, force=True
                )
                return [found[k][0] if k in found else None for k in keys]

            loader = DataLoader(load_fn=load)
            self._visible[principal] = loader
        return loader

    def pii_visible(self, principal: Principal) -> DataLoader[uuid.UUID, bool]:
        """Whether a case's personal data is shown to ``principal``
        (``domain.cases.scopes.pii_visible``), for cases read through a checked path."""
        loader = self._pii_visible.get(principal)
        if loader is None:

            async def load(keys: list[uuid.UUID]) -> list[bool]:
                async with read_session() as session:
                    shown = await scopes.pii_visible_cases(session, principal, keys)
                return [k in shown for k in keys]

            loader = DataLoader(load_fn=load)
            self._pii_visible[principal] = loader
        return loader
