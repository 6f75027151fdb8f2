"""``Credit.nextInstallment`` and ``Credit.payoffQuote``: per-request DataLoaders, one short
read session per batch, the access rule of the credit already applied by its parent read
(and again by the payoff service)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from app.db import read_session
from domain.credits import payoff
from domain.credits.models import Credit as CreditModel
from domain.shared.errors import DomainError
from domain.shared.principal import Principal
from resolvers.context import principal_of
from resolvers.credit_loaders import PositionKey
from schema.credit_payoff import NextInstallment, PayoffQuote


@dataclass(frozen=True)
class _QuoteKey:
    credit_id: uuid.UUID
    valid_until: date | None


class PayoffLoaders:
    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.quotes: DataLoader[_QuoteKey, payoff.PayoffQuote | BaseException] = DataLoader(
            load_fn=self._quotes
        )

    async def _quotes(self, keys: list[_QuoteKey]) -> list[Any]:
        out: dict[_QuoteKey, Any] = {}
        async with read_session() as session:
            for key in dict.fromkeys(keys):
                try:
                    out[key] = await payoff.payoff_quote(
                        session,
                        principal=self.principal,
                        credit_id=key.credit_id,
                        valid_until=key.valid_until,
                    )
                except DomainError as exc:  # refused for this credit only
                    out[key] = exc
        return [out[k] for k in keys]


def _loaders(info: Info) -> PayoffLoaders:
    holder = info.context.loaders
    loaders = getattr(holder, "_payoff", None)
    if loaders is None:
        loaders = PayoffLoaders(principal_of(info))
        holder._payoff = loaders
    return loaders


async def next_installment(
    info: Info, credit_id: uuid.UUID, model: CreditModel
) -> NextInstallment | None:
    result = await info.context.loaders.credits.positions.load(PositionKey(credit_id, None, model))
    if result is None:
        return None
    upcoming = payoff.next_installment(result)
    return None if upcoming is None else NextInstallment.from_domain(upcoming, model.currency)


async def payoff_quote(info: Info, credit_id: uuid.UUID, valid_until: date | None) -> PayoffQuote:
    found = await _loaders(info).quotes.load(_QuoteKey(credit_id, valid_until))
    if isinstance(found, BaseException):
        raise found
    return PayoffQuote.from_domain(found)
