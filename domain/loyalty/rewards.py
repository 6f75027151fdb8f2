"""The redemption catalogue: rewards with a cost in points, stock and limits per member."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.loyalty import access
from domain.loyalty import accounts as accounts_service
from domain.loyalty import events as loyalty_events
from domain.loyalty.models import LimitPeriod, LoyaltyProgram, LoyaltyReward
from domain.shared import audit, pan
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, NotFound, Problems, ValidationFailed
from domain.shared.principal import Principal
from domain.shared.sql import for_update
from domain.shared.time import utcnow

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,39}$", re.ASCII)
MAX_COST = 10**9
MAX_STOCK = 10**9


@dataclass(frozen=True, slots=True)
class RewardInput:
    name: str
    cost_points: int
    description: str | None = None
    stock: int | None = None
    limit_per_member: int | None = None
    limit_period: str | None = None
    active: bool = True
    valid_from: date | None = None
    valid_until: date | None = None


def _check(p: Problems, r: RewardInput) -> None:
    name = (r.name or "").strip()
    if not name or len(name) > 200:
        p.add("name", "between 1 and 200 characters")
    pan.check(p, "name", name)
    if r.description is not None:
        if len(r.description) > 1000:
            p.add("description", "at most 1000 characters")
        pan.check(p, "description", r.description)
    if not 0 < r.cost_points <= MAX_COST:
        p.add("costPoints", f"from 1 to {MAX_COST} points")
    if r.stock is not None and not 0 <= r.stock <= MAX_STOCK:
        p.add("stock", f"from 0 to {MAX_STOCK} (leave it empty for no limit)")
    if (r.limit_per_member is None) != (r.limit_period is None):
        p.add("limitPerMember", "a limit needs both how many and per what period")
    if r.limit_per_member is not None and not 0 < r.limit_per_member <= 10_000:
        p.add("limitPerMember", "from 1 to 10000")
    if r.limit_period is not None and r.limit_period not in {x.value for x in LimitPeriod}:
        p.add("limitPeriod", "DAY, MONTH, YEAR or EVER")
    if r.valid_from and r.valid_until and r.valid_until < r.valid_from:
        p.add("validUntil", "on or after validFrom")


def snapshot(reward: LoyaltyReward) -> dict[str, Any]:
    return {
        "code": reward.code,
        "name": reward.name,
        "costPoints": reward.cost_points,
        "stock": reward.stock,
        "limitPerMember": reward.limit_per_member,
        "limitPeriod": reward.limit_period,
        "active": reward.active,
        "validFrom": reward.valid_from.isoformat() if reward.valid_from else None,
        "validUntil": reward.valid_until.isoformat() if reward.valid_until else None,
        "version": reward.version,
    }


def _emit(session: AsyncSession, program: LoyaltyProgram, reward: LoyaltyReward) -> None:
    loyalty_events.emit(
        session,
        "loyalty.reward_changed",
        program,
        {
            "rewardId": wire.global_id("LoyaltyReward", reward.id),
            "code": reward.code,
            "costPoints": reward.cost_points,
            "stock": reward.stock,
            "active": reward.active,
            "version": reward.version,
        },
        key=wire.global_id("LoyaltyReward", reward.id),
    )


async def create_reward(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: uuid.UUID,
    code: str,
    values: RewardInput,
) -> LoyaltyReward:
    access.ensure_can_manage(principal)
    program = await accounts_service.get_program(session, program_id)
    access.ensure_staff_of(principal, program)
    p = Problems()
    code = (code or "").strip().upper()
    if not CODE.match(code):
        p.add("code", "2 to 40 capital letters, digits, '_' and '-'")
    _check(p, values)
    p.raise_if_any()
    taken = await session.scalar(
        sa.select(sa.func.count())
        .select_from(LoyaltyReward)
        .where(col(LoyaltyReward.program_id) == program.id, col(LoyaltyReward.code) == code)
    )
    if taken:
        raise ValidationFailed.on("code", f"the program has a reward {code}")
    reward = LoyaltyReward(
        program_id=program.id,
        code=code,
        name=values.name.strip(),
        description=values.description,
        cost_points=values.cost_points,
        stock=values.stock,
        limit_per_member=values.limit_per_member,
        limit_period=values.limit_period,
        active=values.active,
        valid_from=values.valid_from,
        valid_until=values.valid_until,
    )
    session.add(reward)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.reward.create",
        entity_type="LoyaltyReward",
        entity_id=reward.id,
        after=snapshot(reward),
    )
    _emit(session, program, reward)
    return reward


async def update_reward(
    session: AsyncSession,
    principal: Principal,
    *,
    reward_id: uuid.UUID,
    expected_version: int,
    values: RewardInput,
) -> LoyaltyReward:
    access.ensure_can_manage(principal)
    reward = (
        await session.execute(
            for_update(sa.select(LoyaltyReward).where(col(LoyaltyReward.id) == reward_id), session)
        )
    ).scalar_one_or_none()
    if reward is None:
        raise NotFound("LoyaltyReward", reward_id)
    program = await accounts_service.get_program(session, reward.program_id)
    access.ensure_staff_of(principal, program)
    if reward.version != expected_version:
        raise Conflict("the reward changed since you read it", current_version=reward.version)
    p = Problems()
    _check(p, values)
    p.raise_if_any()
    before = snapshot(reward)
    reward.name = values.name.strip()
    reward.description = values.description
    reward.cost_points = values.cost_points
    reward.stock = values.stock
    reward.limit_per_member = values.limit_per_member
    reward.limit_period = values.limit_period
    reward.active = values.active
    reward.valid_from = values.valid_from
    reward.valid_until = values.valid_until
    reward.version += 1
    reward.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="loyalty.reward.update",
        entity_type="LoyaltyReward",
        entity_id=reward.id,
        before=before,
        after=snapshot(reward),
    )
    _emit(session, program, reward)
    return reward


async def rewards_of(
    session: AsyncSession, principal: Principal, *, program_id: uuid.UUID
) -> list[LoyaltyReward]:
    access.ensure_can_read(principal)
    program = await accounts_service.get_program(session, program_id)
    visible = access.may_see_program(principal, program)
    if not visible and access._customer(principal) is not None:
        # a member sees the catalogue of the programs it belongs to
        from domain.loyalty.models import LoyaltyAccount

        visible = bool(
            await session.scalar(
                sa.select(sa.func.count())
                .select_from(LoyaltyAccount)
                .where(
                    col(LoyaltyAccount.program_id) == program.id,
                    col(LoyaltyAccount.customer_id) == principal.customer_id,
                )
            )
        )
    if not visible:
        raise NotFound("LoyaltyProgram", program_id)
    rows = await session.execute(
        sa.select(LoyaltyReward)
        .where(col(LoyaltyReward.program_id) == program.id)
        .order_by(col(LoyaltyReward.code))
    )
    return list(rows.scalars())
