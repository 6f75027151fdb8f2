"""Collection strategies: what happens to an account, and when, as data.

A lender's strategy is a list of steps, each at a number of days from an installment's due
date (negative: before it) with an action and the channels that carry it:

```json
[{"code": "RECORDATORIO", "dayOffset": -3, "action": "REMINDER", "channels": ["EMAIL", "WEBHOOK"]},
 {"code": "LLAMADA", "dayOffset": 5, "action": "CALL", "channels": ["WEBHOOK"]},
 {"code": "CARTA", "dayOffset": 30, "action": "LETTER", "channels": ["EMAIL", "WEBHOOK"]}]
```

- ``REMINDER`` (day ≤ 0): a reminder of the next installment, while nothing is past due.
- ``NOTICE``, ``CALL``, ``LETTER`` (day ≥ 1): at that many days past due of the oldest
  unpaid installment. A ``CALL`` also puts a call on the collector's list.
- ``EMAIL`` goes to the customer (SMTP); ``WEBHOOK`` to the lender's platform through its
  connector (signed), e.g. its dialer or its letter printing.

Each step fires once per installment (the *episode*: the installment a reminder is about,
or the oldest one past due). When the daily run finds several steps of an episode reached
at once (a day was missed, or the strategy was introduced on accounts already late), only
the most advanced fires and the earlier ones are recorded as skipped: a customer never
gets a reminder and a formal letter on the same morning. While a promise to pay is open,
past-due steps wait for its deadline.

Strategies are versioned: a change is a new version, the old ones stay, and each fired
step records the version it came from. Until a lender sets its own, the network's default
(version 0) applies: a reminder 3 days before the due date, a call at 5 days past due, a
formal letter at 30.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections import work_access as access
from domain.collections.collectors import _lock_partner_config
from domain.collections.work_models import ActionKind, NotificationChannel, Strategy
from domain.shared import audit, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, Problems
from domain.shared.principal import Principal

__all__ = [
    "DEFAULT_STEPS",
    "Step",
    "StepInput",
    "StrategyView",
    "current_strategy",
    "pick",
    "set_strategy",
    "strategy_for",
]

MAX_STEPS = 20
MIN_OFFSET = -30
MAX_OFFSET = 720
MAX_GRACE_DAYS = 10
DEFAULT_GRACE_DAYS = 1
#: Days ahead a due-soon item is opened when no reminder step says otherwise.
DEFAULT_HORIZON = 3
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$", re.ASCII)


@dataclass(frozen=True, slots=True)
class Step:
    code: str
    day_offset: int
    action: ActionKind
    channels: tuple[NotificationChannel, ...]

    @property
    def before_due(self) -> bool:
        return self.day_offset <= 0

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "dayOffset": self.day_offset,
            "action": self.action.value,
            "channels": [c.value for c in self.channels],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(
            code=str(data["code"]),
            day_offset=int(data["dayOffset"]),
            action=ActionKind(data["action"]),
            channels=tuple(NotificationChannel(c) for c in data.get("channels") or ()),
        )


DEFAULT_NAME = "Estrategia base de la red"
DEFAULT_STEPS: tuple[Step, ...] = (
    Step(
        "RECORDATORIO",
        -3,
        ActionKind.REMINDER,
        (NotificationChannel.EMAIL, NotificationChannel.WEBHOOK),
    ),
    Step("LLAMADA", 5, ActionKind.CALL, (NotificationChannel.WEBHOOK,)),
    Step(
        "CARTA_FORMAL",
        30,
        ActionKind.LETTER,
        (NotificationChannel.EMAIL, NotificationChannel.WEBHOOK),
    ),
)


@dataclass(frozen=True, slots=True)
class StrategyView:
    partner_id: uuid.UUID
    version: int  # 0: the network's default
    name: str
    steps: tuple[Step, ...]
    promise_grace_days: int
    created_at: datetime | None
    created_by: str | None

    @property
    def horizon(self) -> int:
        """Days ahead of a due date that an account enters the due-soon queue."""
        reminders = [-s.day_offset for s in self.steps if s.before_due]
        return max([DEFAULT_HORIZON, *reminders])

    def reached(self, *, days_past_due: int, days_until_due: int | None) -> list[Step]:
        """The steps an account has reached: past-due steps up to its days past due, or
        (nothing past due) reminders up to the days left to its next due date."""
        if days_past_due > 0:
            return [s for s in self.steps if not s.before_due and s.day_offset <= days_past_due]
        if days_until_due is None or days_until_due < 0:
            return []
        return [s for s in self.steps if s.before_due and -s.day_offset >= days_until_due]


def default_strategy(partner_id: uuid.UUID) -> StrategyView:
    return StrategyView(partner_id, 0, DEFAULT_NAME, DEFAULT_STEPS, DEFAULT_GRACE_DAYS, None, None)


def _view(row: Strategy) -> StrategyView:
    return StrategyView(
        row.partner_id,
        row.version,
        row.name,
        tuple(Step.from_json(s) for s in row.steps),
        row.promise_grace_days,
        row.created_at,
        row.created_by,
    )


def pick(reached: Iterable[Step], done: set[str]) -> tuple[Step | None, list[Step]]:
    """Of the steps reached in one episode, the one to fire now (the most advanced not yet
    fired or skipped) and those to record as skipped (earlier ones still pending). Nothing
    fires when a step as advanced or more already fired."""
    steps = sorted(reached, key=lambda s: (s.day_offset, s.code))
    if not steps:
        return None, []
    latest_done = max((s.day_offset for s in steps if s.code in done), default=None)
    pending = [s for s in steps if s.code not in done]
    if not pending:
        return None, []
    best = pending[-1]
    if latest_done is not None and latest_done >= best.day_offset:
        return None, pending  # a later step already went out: the rest is stale
    return best, pending[:-1]


async def _latest(session: AsyncSession, partner_id: uuid.UUID) -> Strategy | None:
    return (
        (
            await session.execute(
                sa.select(Strategy)
                .where(col(Strategy.partner_id) == partner_id)
                .order_by(col(Strategy.version).desc())
                .limit(1)
            )
        )
        .scalars()
        .first()
    )


async def strategy_for(session: AsyncSession, partner_id: uuid.UUID) -> StrategyView:
    """The strategy in force for a lender (no access check: the daily run)."""
    row = await _latest(session, partner_id)
    return _view(row) if row is not None else default_strategy(partner_id)


async def strategies_for(
    session: AsyncSession, partner_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, StrategyView]:
    return {p: await strategy_for(session, p) for p in set(partner_ids)}


async def current_strategy(
    session: AsyncSession, *, principal: Principal, lender_id: uuid.UUID | None
) -> StrategyView:
    partner_id = access.lender_for(principal, lender_id)
    return await strategy_for(session, partner_id)


@dataclass(frozen=True, slots=True)
class StepInput:
    code: str
    day_offset: int
    action: str
    channels: Sequence[str] = ()


def _clean_steps(problems: Problems, steps: Sequence[StepInput]) -> list[Step]:
    if not steps:
        problems.add("steps", "a strategy has at least one step")
    if len(steps) > MAX_STEPS:
        problems.add("steps", f"at most {MAX_STEPS} steps")
    out: list[Step] = []
    codes: set[str] = set()
    for index, step in enumerate(steps[:MAX_STEPS]):
        at = f"steps[{index}]"
        code = (step.code or "").strip().upper()
        if not _CODE.match(code):
            problems.add(f"{at}.code", "1 to 40 capital letters, digits, '-' or '_'")
        elif code in codes:
            problems.add(f"{at}.code", "two steps have this code")
        codes.add(code)
        offset = step.day_offset
        if (
            isinstance(offset, bool)
            or not isinstance(offset, int)
            or not (MIN_OFFSET <= offset <= MAX_OFFSET)
        ):
            problems.add(f"{at}.dayOffset", f"a whole number from {MIN_OFFSET} to {MAX_OFFSET}")
            continue
        try:
            action = ActionKind(step.action)
        except ValueError:
            names = ", ".join(a.value for a in ActionKind)
            problems.add(f"{at}.action", f"one of {names}")
            continue
        if action is ActionKind.REMINDER and offset > 0:
            problems.add(
                f"{at}.dayOffset", "a reminder goes out on or before the due date (0 or less)"
            )
        if action is not ActionKind.REMINDER and offset < 1:
            problems.add(f"{at}.dayOffset", f"{action.value} is for accounts past due (1 or more)")
        channels: list[NotificationChannel] = []
        for name in step.channels:
            try:
                channel = NotificationChannel(name)
            except ValueError:
                problems.add(f"{at}.channels", f"unknown channel {name!r} (EMAIL, WEBHOOK)")
                continue
            if channel in channels:
                problems.add(f"{at}.channels", f"{name} is listed twice")
            channels.append(channel)
        if not channels and action is not ActionKind.CALL:
            problems.add(f"{at}.channels", "name how it goes out: EMAIL, WEBHOOK or both")
        out.append(Step(code, offset, action, tuple(channels)))
    return out


async def set_strategy(
    session: AsyncSession,
    *,
    principal: Principal,
    lender_id: uuid.UUID | None,
    name: str,
    steps: Sequence[StepInput],
    promise_grace_days: int = DEFAULT_GRACE_DAYS,
    expected_version: int,
) -> StrategyView:
    """Make a new version of the lender's strategy (``expected_version``: the version read,
    0 for the network's default)."""
    access.ensure_can_manage(principal)
    partner_id = access.lender_for(principal, lender_id)
    await _lock_partner_config(session, partner_id)
    latest = await _latest(session, partner_id)
    current = latest.version if latest is not None else 0
    if expected_version != current:
        raise Conflict(
            f"the strategy changed since version {expected_version}; it is now at version "
            f"{current}",
            current_version=current,
        )
    problems = Problems()
    text = " ".join((name or "").split())
    if not text or len(text) > 100:
        problems.add("name", "1 to 100 characters")
    if (
        isinstance(promise_grace_days, bool)
        or not isinstance(promise_grace_days, int)
        or not (0 <= promise_grace_days <= MAX_GRACE_DAYS)
    ):
        problems.add("promiseGraceDays", f"a whole number of days from 0 to {MAX_GRACE_DAYS}")
    cleaned = _clean_steps(problems, steps)
    problems.raise_if_any()
    cleaned.sort(key=lambda s: (s.day_offset, s.code))
    row = Strategy(
        partner_id=partner_id,
        version=current + 1,
        name=text,
        steps=[s.to_json() for s in cleaned],
        promise_grace_days=promise_grace_days,
        created_by=principal.subject,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="collections.strategy_changed",
        entity_type="CollectionStrategy",
        entity_id=row.id,
        before=(
            {"version": latest.version, "name": latest.name, "steps": latest.steps}
            if latest is not None
            else None
        ),
        after={
            "version": row.version,
            "name": row.name,
            "steps": row.steps,
            "promise_grace_days": row.promise_grace_days,
        },
    )
    outbox.add(
        session,
        "collections.strategy_changed",
        {
            "partnerId": wire.global_id("Partner", partner_id),
            "version": row.version,
            "stepCount": len(cleaned),
        },
        partner_ids=[partner_id],
        key=wire.global_id("Partner", partner_id),
    )
    return _view(row)
