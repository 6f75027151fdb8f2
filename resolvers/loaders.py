"""Per-request DataLoaders. Each batch runs in its own short read session."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db import read_session
from domain.customers import service as customers
from domain.customers.views import CustomerView
from domain.partners import service as partners
from domain.partners.models import Partner
from domain.shared.principal import Principal
from resolvers.case_loaders import CaseLoaders
from resolvers.credit_loaders import CreditLoaders
from resolvers.investor_loaders import InvestorLoaders
from resolvers.loyalty_loaders import LoyaltyLoaders
from resolvers.marketplace_loaders import MarketplaceLoaders

V = TypeVar("V")


def _by_id(
    fetch: Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, V]]],
) -> Callable[[list[uuid.UUID]], Awaitable[list[V | None]]]:
    async def load(keys: list[uuid.UUID]) -> list[V | None]:
        async with read_session() as session:
            found = await fetch(session, list(dict.fromkeys(keys)))
        return [found.get(k) for k in keys]

    return load


class Loaders:
    def __init__(self) -> None:
        self.partner: DataLoader[uuid.UUID, Partner | None] = DataLoader(
            load_fn=_by_id(partners.get_many)
        )
        self._customers: dict[Principal, DataLoader[uuid.UUID, CustomerView | None]] = {}
        self.credits = CreditLoaders()
        self.investors = InvestorLoaders()
        self.cases = CaseLoaders()
        self.loyalty = LoyaltyLoaders()
        self.marketplace = MarketplaceLoaders()

    def customers(self, principal: Principal) -> DataLoader[uuid.UUID, CustomerView | None]:
        """Customers by id as ``principal`` sees them (the masking rule is a column of the
        one statement each batch runs: ``domain.customers.scopes.pii_visible_to``)."""
        loader = self._customers.get(principal)
        if loader is None:

            async def fetch(
                session: AsyncSession, ids: Sequence[uuid.UUID]
            ) -> dict[uuid.UUID, CustomerView]:
                return await customers.read_customers(session, principal=principal, ids=ids)

            loader = DataLoader(load_fn=_by_id(fetch))
            self._customers[principal] = loader
        return loader

    def prime_customers(self, principal: Principal, views: Any) -> None:
        """Put customers a read already decided (in its own session) into the loader,
        replacing what it held: a mutation's answer is what holds after it."""
        self.customers(principal).prime_many({v.id: v for v in views}, force=True)

    def prime(self, loader: str, key: Any, value: Any) -> None:
        getattr(self, loader).prime(key, value)

    async def prefetch_partners(self, session: AsyncSession, ids: set[uuid.UUID]) -> None:
        """Load the partners a page refers to in the page's own session, so that each
        item's ``partner`` field is a cache hit rather than a batch of its own."""
        missing = [i for i in ids if self.partner.cache_map.get(i) is None]
        if missing:
            for key, partner in (await partners.get_many(session, missing)).items():
                self.partner.prime(key, partner)
