"""Per-request DataLoaders of loyalty: programs, accounts, balances, rule sets, rewards and
customers' accounts; each batch is one short read session and a set-based statement.

Programs, rule sets and rewards are loaded without access checks: they are asked for only
by objects the request already reached through a checked read (an account it may see, a
program it may see). Accounts by customer apply the caller's scope in SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db import read_session
from domain.loyalty import accounts, balances, reads, rulesets
from domain.loyalty.models import LoyaltyAccount, LoyaltyProgram, LoyaltyReward, LoyaltyRuleSet
from domain.shared.principal import Principal

V = TypeVar("V")


def _by_id(
    fetch: Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, V]]],
) -> Callable[[list[uuid.UUID]], Awaitable[list[V | None]]]:
    async def load(keys: list[uuid.UUID]) -> list[V | None]:
        async with read_session() as session:
            found = await fetch(session, list(dict.fromkeys(keys)))
        return [found.get(k) for k in keys]

    return load


async def _balances(keys: list[uuid.UUID]) -> list[balances.Balance]:
    async with read_session() as session:
        found = await balances.balances(session, account_ids=list(dict.fromkeys(keys)))
    return [found[k] for k in keys]


async def _in_force(keys: list[uuid.UUID]) -> list[rulesets.VersionInForce | None]:
    out: list[rulesets.VersionInForce | None] = []
    async with read_session() as session:
        programs = await accounts.get_programs(session, list(dict.fromkeys(keys)))
        cache: dict[uuid.UUID, rulesets.VersionInForce | None] = {}
        for key in keys:
            if key not in cache:
                program = programs.get(key)
                if program is None:
                    cache[key] = None
                else:
                    from domain.shared.time import local_today

                    calendar = await rulesets.calendar(session, key)
                    cache[key] = calendar.at(local_today(program.timezone))
            out.append(cache[key])
    return out


class LoyaltyLoaders:
    def __init__(self) -> None:
        self.program: DataLoader[uuid.UUID, LoyaltyProgram | None] = DataLoader(
            load_fn=_by_id(accounts.get_programs)
        )
        self.account: DataLoader[uuid.UUID, LoyaltyAccount | None] = DataLoader(
            load_fn=_by_id(accounts.get_accounts)
        )
        self.balance: DataLoader[uuid.UUID, balances.Balance] = DataLoader(load_fn=_balances)
        self.rule_set: DataLoader[uuid.UUID, LoyaltyRuleSet | None] = DataLoader(
            load_fn=_by_id(reads.get_many_rule_sets)
        )
        self.reward: DataLoader[uuid.UUID, LoyaltyReward | None] = DataLoader(
            load_fn=_by_id(reads.get_many_rewards)
        )
        self.in_force: DataLoader[uuid.UUID, rulesets.VersionInForce | None] = DataLoader(
            load_fn=_in_force
        )
        self._by_customer: dict[Principal, DataLoader[uuid.UUID, list[LoyaltyAccount]]] = {}

    def accounts_of_customer(self, principal: Principal) -> DataLoader[uuid.UUID, list[Any]]:
        loader = self._by_customer.get(principal)
        if loader is None:

            async def load(keys: list[uuid.UUID]) -> list[list[LoyaltyAccount]]:
                async with read_session() as session:
                    found = await reads.accounts_of_customers(
                        session, principal, list(dict.fromkeys(keys))
                    )
                return [found.get(k, []) for k in keys]

            loader = DataLoader(load_fn=load)
            self._by_customer[principal] = loader
        return loader

    def prime_accounts(self, items: Sequence[LoyaltyAccount]) -> None:
        for account in items:
            self.account.prime(account.id, account)

    def forget(self) -> None:
        """After a mutation: the next read sees what holds now."""
        for loader in (self.account, self.balance, self.rule_set, self.reward, self.in_force):
            loader.clear_all()
        self._by_customer.clear()
