"""Loyalty in the API: programs, member accounts (a federation entity) with their balances,
movements and lots, rule set versions, rewards, redemptions and simulations.

Points are integers (`Long` where a figure can pass 2^31); a balance is the sum of the
account's open lots, available and pending apart; liability is `Money` at the program's
point value. Rules behind the figures: ``docs/loyalty.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.loyalty import access
from domain.loyalty import balances as balances_domain
from domain.loyalty.models import AccountStatus as AccountStatusEnum
from domain.loyalty.models import EntryKind as EntryKindEnum
from domain.loyalty.models import ExpiryPolicy as ExpiryPolicyEnum
from domain.loyalty.models import LimitPeriod as LimitPeriodEnum
from domain.loyalty.models import LotKind as LotKindEnum
from domain.loyalty.models import LoyaltyAccount as AccountModel
from domain.loyalty.models import LoyaltyEntry as EntryModel
from domain.loyalty.models import LoyaltyLot as LotModel
from domain.loyalty.models import LoyaltyProgram as ProgramModel
from domain.loyalty.models import LoyaltyRedemption as RedemptionModel
from domain.loyalty.models import LoyaltyReward as RewardModel
from domain.loyalty.models import LoyaltyRuleSet as RuleSetModel
from domain.loyalty.models import LoyaltyTierChange as TierChangeModel
from domain.loyalty.models import RedemptionStatus as RedemptionStatusEnum
from domain.loyalty.models import RuleSetStatus as RuleSetStatusEnum
from domain.loyalty.models import SourceType as SourceTypeEnum
from domain.loyalty.simulate import MemberDiff, Scenario, Simulation
from domain.shared.money import Money as DomainMoney
from domain.shared.pagination import clamp_page_size
from domain.shared.time import local_today
from resolvers.context import principal_of
from resolvers.ids import decode_node_id, encode_node_id
from resolvers.pagination import selects, to_connection
from schema.common import Connection
from schema.customers import Customer
from schema.money import Money
from schema.partners import Partner
from schema.scalars import Long

strawberry.enum(
    ExpiryPolicyEnum,
    name="LoyaltyExpiryPolicy",
    description=(
        "NEVER; AFTER_DAYS (N days from the day earned, that day included); END_OF_MONTH (the "
        "last day of the month N months after the month earned, 0: that month); END_OF_NTH_YEAR "
        "(31 December of the year N years after the year earned)."
    ),
)
strawberry.enum(
    AccountStatusEnum,
    name="LoyaltyAccountStatus",
    description=(
        "ACTIVE; SUSPENDED (earns and redeems nothing, its points stay and expire); CLOSED."
    ),
)
strawberry.enum(EntryKindEnum, name="LoyaltyMovementKind")
strawberry.enum(
    SourceTypeEnum,
    name="LoyaltySource",
    description=(
        "Where a movement comes from: PURCHASE (card platform), EVENT (one of Trama's events), "
        "CAMPAIGN, MANUAL (a person: see `actor`), MIGRATION (a legacy migration batch), "
        "TRANSFER, EXPIRY, REFUND, REDEMPTION."
    ),
)
strawberry.enum(LotKindEnum, name="LoyaltyLotKind", description="EARN, or DEBT (negative).")
strawberry.enum(
    RuleSetStatusEnum,
    name="LoyaltyRuleSetStatus",
    description=(
        "ACTIVE (in force over its days), SUPERSEDED (replaced before it took effect), RETIRED."
    ),
)
strawberry.enum(LimitPeriodEnum, name="LoyaltyLimitPeriod")
strawberry.enum(RedemptionStatusEnum, name="LoyaltyRedemptionStatus")
LoyaltyExpiryPolicy: TypeAlias = ExpiryPolicyEnum
LoyaltyAccountStatus: TypeAlias = AccountStatusEnum
LoyaltyMovementKind: TypeAlias = EntryKindEnum
LoyaltySource: TypeAlias = SourceTypeEnum
LoyaltyLotKind: TypeAlias = LotKindEnum
LoyaltyRuleSetStatus: TypeAlias = RuleSetStatusEnum
LoyaltyLimitPeriod: TypeAlias = LimitPeriodEnum
LoyaltyRedemptionStatus: TypeAlias = RedemptionStatusEnum


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


def _loaders(info: Info) -> Any:
    return info.context.loaders.loyalty


@strawberry.type(description="A member's points: the sum of their open lots.")
class LoyaltyBalance:
    available: Long = strawberry.field(
        description="Points that can be redeemed or transferred now; negative when the member "
        "owes points (a refund took back points already used)."
    )
    pending: Long = strawberry.field(
        description="Points earned but locked until their purchases can no longer be refunded."
    )
    debt: Long = strawberry.field(description="Points owed (0 or more); later accruals repay it.")
    total: Long = strawberry.field(description="available + pending.")
    as_of: datetime = strawberry.field(description="The instant the balance is for.")
    day: date = strawberry.field(description="That instant's day in the program's timezone.")
    liability: Money = strawberry.field(
        description="What the points are worth to the program (total times point value, half-even)."
    )

    @classmethod
    def from_domain(cls, b: balances_domain.Balance) -> LoyaltyBalance:
        return cls(
            available=Long(b.available),
            pending=Long(b.pending),
            debt=Long(b.debt),
            total=Long(b.total),
            as_of=b.as_of,
            day=b.day,
            liability=Money.from_domain(b.liability),
        )


@strawberry.type(description="A tier of a program (from the rule set in force).")
class LoyaltyTier:
    code: str
    name: str
    qualify_points: Long = strawberry.field(
        description="Points accrued over the window to reach the tier."
    )
    keep_points: Long = strawberry.field(description="Points over the window to keep it.")


@strawberry.type(description="One version of a program's rules.")
class LoyaltyRuleSet(relay.Node):
    id: relay.NodeID[str]
    version: int
    name: str
    effective_from: date = strawberry.field(description="First day in force (program's zone).")
    effective_until: date | None = strawberry.field(
        description="The day it stops being in force (exclusive); null: open."
    )
    status: LoyaltyRuleSetStatus
    document: JSON = strawberry.field(
        description="The rules as data (`loyaltyRuleSetSchema` describes the format)."
    )
    document_hash: str = strawberry.field(description="SHA-256 of the canonical document.")
    created_at: datetime
    created_by: str
    program_key: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, m: RuleSetModel) -> LoyaltyRuleSet:
        return cls(
            id=str(m.id),
            version=m.version,
            name=m.name,
            effective_from=m.effective_from,
            effective_until=m.effective_until,
            status=RuleSetStatusEnum(m.status),
            document=cast(JSON, m.document),
            document_hash=m.document_hash,
            created_at=m.created_at,
            created_by=m.created_by,
            program_key=m.program_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[LoyaltyRuleSet | None]:
        principal = principal_of(info)
        access.ensure_can_read(principal)
        keys = [decode_node_id(n, "LoyaltyRuleSet") for n in node_ids]
        found = await _loaders(info).rule_set.load_many([k for k in keys if k])
        by_id = {r.id: r for r in found if r is not None}
        programs = await _loaders(info).program.load_many([r.program_id for r in by_id.values()])
        seen = {p.id for p in programs if p is not None and access.may_see_program(principal, p)}
        return [
            cls.from_model(by_id[k]) if k in by_id and by_id[k].program_id in seen else None
            for k in keys
        ]


@strawberry.type(description="A reward of a program's catalogue.")
class LoyaltyReward(relay.Node):
    id: relay.NodeID[str]
    code: str
    name: str
    description: str | None
    cost_points: Long
    stock: int | None = strawberry.field(description="Units left; null: unlimited.")
    limit_per_member: int | None = strawberry.field(
        description="At most this many per member per `limitPeriod`; null: no limit."
    )
    limit_period: LoyaltyLimitPeriod | None
    active: bool
    valid_from: date | None
    valid_until: date | None
    version: int

    @classmethod
    def from_model(cls, m: RewardModel) -> LoyaltyReward:
        return cls(
            id=str(m.id),
            code=m.code,
            name=m.name,
            description=m.description,
            cost_points=Long(m.cost_points),
            stock=m.stock,
            limit_per_member=m.limit_per_member,
            limit_period=LimitPeriodEnum(m.limit_period) if m.limit_period else None,
            active=m.active,
            valid_from=m.valid_from,
            valid_until=m.valid_until,
            version=m.version,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[LoyaltyReward | None]:
        principal = principal_of(info)
        access.ensure_can_read(principal)
        keys = [decode_node_id(n, "LoyaltyReward") for n in node_ids]
        found = await _loaders(info).reward.load_many([k for k in keys if k])
        by_id = {r.id: r for r in found if r is not None}
        programs = await _loaders(info).program.load_many([r.program_id for r in by_id.values()])
        seen = {p.id for p in programs if p is not None and access.may_see_program(principal, p)}
        return [
            cls.from_model(by_id[k]) if k in by_id and by_id[k].program_id in seen else None
            for k in keys
        ]


@strawberry.federation.type(keys=["id"], description="A partner's points program.")
class LoyaltyProgram(relay.Node):
    id: relay.NodeID[str]
    code: str
    name: str
    unit_name: str = strawberry.field(description="What members call a point.")
    point_value: Decimal = strawberry.field(
        description="Liability of one point, exact, in major units of `currency`."
    )
    currency: str
    timezone: str = strawberry.field(
        description="IANA zone of the program's days (availability, expiry, caps, rules)."
    )
    expiry_policy: LoyaltyExpiryPolicy
    expiry_count: int | None
    pending_days: int = strawberry.field(
        description="Refund lock: points of a purchase are pending this many days."
    )
    allow_debt: bool = strawberry.field(
        description="A refund may take the balance below zero (a debt repaid by later "
        "accruals); otherwise what cannot be taken back is forgiven."
    )
    active: bool
    version: int
    created_at: datetime
    partner_key: strawberry.Private[uuid.UUID]
    key: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def partner(self, info: Info) -> Partner:
        model = await info.context.loaders.partner.load(self.partner_key)
        return Partner.from_model(model)

    @strawberry.field(description="The rule set in force today (program's timezone).")
    async def rule_set_in_force(self, info: Info) -> LoyaltyRuleSet | None:
        version = await _loaders(info).in_force.load(self.key)
        if version is None:
            return None
        model = await _loaders(info).rule_set.load(version.id)
        return LoyaltyRuleSet.from_model(model) if model else None

    @strawberry.field(description="Tiers of the rule set in force, lowest first.")
    async def tiers(self, info: Info) -> list[LoyaltyTier]:
        version = await _loaders(info).in_force.load(self.key)
        if version is None or version.rules.tiers is None:
            return []
        return [
            LoyaltyTier(
                code=lv.code,
                name=lv.name,
                qualify_points=Long(lv.qualify_points),
                keep_points=Long(lv.keep_points),
            )
            for lv in version.rules.tiers.levels
        ]

    @strawberry.field(description="Every version of the rules, newest first (its staff).")
    async def rule_sets(self, info: Info) -> list[LoyaltyRuleSet]:
        from app.db import read_session
        from domain.loyalty import rulesets

        async with read_session() as session:
            rows = await rulesets.list_rule_sets(session, principal_of(info), program_id=self.key)
        return [LoyaltyRuleSet.from_model(r) for r in rows]

    @strawberry.field(description="The redemption catalogue.")
    async def rewards(self, info: Info) -> list[LoyaltyReward]:
        from app.db import read_session
        from domain.loyalty import rewards

        async with read_session() as session:
            rows = await rewards.rewards_of(session, principal_of(info), program_id=self.key)
        return [LoyaltyReward.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, m: ProgramModel) -> LoyaltyProgram:
        return cls(
            id=str(m.id),
            code=m.code,
            name=m.name,
            unit_name=m.unit_name,
            point_value=m.point_value,
            currency=m.currency,
            timezone=m.timezone,
            expiry_policy=ExpiryPolicyEnum(m.expiry_policy),
            expiry_count=m.expiry_count,
            pending_days=m.pending_days,
            allow_debt=m.allow_debt,
            active=m.active,
            version=m.version,
            created_at=m.created_at,
            partner_key=m.partner_id,
            key=m.id,
        )

    @classmethod
    async def _visible(cls, info: Info, keys: list[uuid.UUID | None]) -> dict[uuid.UUID, Any]:
        principal = principal_of(info)
        access.ensure_can_read(principal)
        found = await _loaders(info).program.load_many([k for k in keys if k])
        out = {p.id: p for p in found if p is not None and access.may_see_program(principal, p)}
        customer = principal.customer_id
        missing = [p for p in found if p is not None and p.id not in out]
        if customer is not None and missing:
            mine = await _loaders(info).accounts_of_customer(principal).load(customer)
            joined = {a.program_id for a in mine}
            out.update({p.id: p for p in missing if p.id in joined})
        return out

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[LoyaltyProgram | None]:
        keys = [decode_node_id(n, "LoyaltyProgram") for n in node_ids]
        found = await cls._visible(info, keys)
        return [cls.from_model(found[k]) if k in found else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> LoyaltyProgram | None:
        key = decode_node_id(representation.get("id"), "LoyaltyProgram")
        found = await cls._visible(info, [key])
        return cls.from_model(found[key]) if key in found else None


@strawberry.type(description="One movement of a member's points (the ledger is append-only).")
class LoyaltyMovement:
    id: strawberry.ID
    kind: LoyaltyMovementKind
    points: Long = strawberry.field(description="Signed: positive earns, negative takes.")
    occurred_at: datetime = strawberry.field(
        description="When it happened (the purchase's, the legacy transaction's, the start of "
        "the day after an expiry); `recordedAt` is when it was written."
    )
    recorded_at: datetime
    reason: str
    source: LoyaltySource
    source_ref: str | None = strawberry.field(
        description="The source's own reference (transaction id, reward code, transfer id…)."
    )
    rule_set_version: int | None
    campaign: str | None = strawberry.field(description="The promotion that applied.")
    actor: str = strawberry.field(
        description="Who wrote it: the person of a manual adjustment, else the system or principal."
    )
    migration_batch_id: strawberry.ID | None
    explanation: JSON | None = strawberry.field(
        description="The inputs and the formula that gave the figure, as data."
    )
    counterparty_key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The other account of a transfer (if you may see it).")
    async def counterparty(self, info: Info) -> LoyaltyAccount | None:
        if self.counterparty_key is None:
            return None
        return await LoyaltyAccount.load(info, self.counterparty_key)

    @classmethod
    def from_model(cls, m: EntryModel) -> LoyaltyMovement:
        return cls(
            id=strawberry.ID(str(m.id)),
            kind=EntryKindEnum(m.kind),
            points=Long(m.points),
            occurred_at=m.occurred_at,
            recorded_at=m.recorded_at,
            reason=m.reason,
            source=SourceTypeEnum(m.source_type),
            source_ref=m.source_ref,
            rule_set_version=m.rule_set_version,
            campaign=m.campaign,
            actor=m.actor,
            migration_batch_id=strawberry.ID(str(m.migration_batch_id))
            if m.migration_batch_id
            else None,
            explanation=cast(JSON, m.explanation),
            counterparty_key=m.counterparty_account_id,
        )


@strawberry.type(description="Points earned together (or the member's debt).")
class LoyaltyLot:
    id: strawberry.ID
    kind: LoyaltyLotKind
    points: Long = strawberry.field(description="What was earned (negative: the debt).")
    remaining: Long
    opened_at: datetime
    available_on: date = strawberry.field(description="Pending before this day.")
    expires_on: date | None = strawberry.field(description="Last day the points count.")
    movement_id: strawberry.ID = strawberry.field(description="The movement that opened it.")

    @classmethod
    def from_model(cls, m: LotModel) -> LoyaltyLot:
        return cls(
            id=strawberry.ID(str(m.id)),
            kind=LotKindEnum(m.kind),
            points=Long(m.points),
            remaining=Long(m.remaining),
            opened_at=m.opened_at,
            available_on=m.available_on,
            expires_on=m.expires_on,
            movement_id=strawberry.ID(str(m.entry_id)),
        )


@strawberry.type(description="A reward taken by a member.")
class LoyaltyRedemption(relay.Node):
    id: relay.NodeID[str]
    quantity: int
    points: Long
    status: LoyaltyRedemptionStatus
    created_at: datetime
    cancelled_at: datetime | None
    reward_key: strawberry.Private[uuid.UUID]
    account_key: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def reward(self, info: Info) -> LoyaltyReward | None:
        model = await _loaders(info).reward.load(self.reward_key)
        return LoyaltyReward.from_model(model) if model else None

    @classmethod
    def from_model(cls, m: RedemptionModel) -> LoyaltyRedemption:
        return cls(
            id=str(m.id),
            quantity=m.quantity,
            points=Long(m.points),
            status=RedemptionStatusEnum(m.status),
            created_at=m.created_at,
            cancelled_at=m.cancelled_at,
            reward_key=m.reward_id,
            account_key=m.account_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[LoyaltyRedemption | None]:
        from app.db import read_session
        from domain.loyalty import reads
        from domain.loyalty.models import LoyaltyRedemption as Model

        principal = principal_of(info)
        access.ensure_can_read(principal)
        keys = [decode_node_id(n, "LoyaltyRedemption") for n in node_ids]
        async with read_session() as session:
            rows = {k: await session.get(Model, k) for k in keys if k}
            visible = await reads.visible_accounts(
                session, principal, [r.account_id for r in rows.values() if r]
            )
        return [
            cls.from_model(rows[k])  # type: ignore[arg-type]
            if k in rows and rows[k] is not None and rows[k].account_id in visible  # type: ignore[union-attr]
            else None
            for k in keys
        ]


@strawberry.type(description="An account's tier changed.")
class LoyaltyTierChange:
    from_tier: str | None
    to_tier: str | None
    changed_at: datetime
    reason: str
    explanation: JSON | None

    @classmethod
    def from_model(cls, m: TierChangeModel) -> LoyaltyTierChange:
        return cls(
            from_tier=m.from_tier,
            to_tier=m.to_tier,
            changed_at=m.changed_at,
            reason=m.reason,
            explanation=cast(JSON, m.explanation),
        )


LoyaltyMovementConnection = Connection[LoyaltyMovement]
LoyaltyLotConnection = Connection[LoyaltyLot]


@strawberry.federation.type(
    keys=["id"],
    description="A customer's membership of one program: balance, movements, lots, tier. "
    "Seen by the program's partner staff and by the customer themselves.",
)
class LoyaltyAccount(relay.Node):
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Member number.")
    status: LoyaltyAccountStatus
    tier: str | None = strawberry.field(description="Tier code (see the program's tiers).")
    tier_since: datetime | None
    segments: list[str]
    external_ref: str | None = strawberry.field(description="Id in a legacy system.")
    enrolled_at: datetime
    version: int
    key: strawberry.Private[uuid.UUID]
    program_key: strawberry.Private[uuid.UUID]
    customer_key: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def program(self, info: Info) -> LoyaltyProgram:
        model = await _loaders(info).program.load(self.program_key)
        return LoyaltyProgram.from_model(model)

    @strawberry.field(description="The member (personal data masked by the customers' rule).")
    async def customer(self, info: Info) -> Customer | None:
        return await Customer.load(info, self.customer_key)

    @strawberry.field(
        description="The sum of the open lots now, or as of a past instant (`asOf`): read "
        "from the append-only moves, pending and available as they were that day."
    )
    async def balance(self, info: Info, as_of: datetime | None = None) -> LoyaltyBalance:
        if as_of is None:
            return LoyaltyBalance.from_domain(await _loaders(info).balance.load(self.key))
        from app.db import read_session

        async with read_session() as session:
            found = await balances_domain.balance(session, account_id=self.key, as_of=as_of)
        return LoyaltyBalance.from_domain(found)

    @strawberry.field(description="Movements, newest first.")
    async def movements(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        kinds: list[LoyaltyMovementKind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> LoyaltyMovementConnection:
        from app.db import read_session
        from domain.loyalty import reads

        async with read_session() as session:
            page = await reads.movements_page(
                session,
                account_id=self.key,
                limit=_limit(info, first),
                after=after,
                kinds=[k.value for k in kinds] if kinds else None,
                since=since,
                until=until,
                with_total=selects(info, "totalCount"),
            )
        return to_connection(page, LoyaltyMovement.from_model)

    @strawberry.field(description="Lots, newest first; open ones only unless `openOnly: false`.")
    async def lots(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        open_only: bool = True,
    ) -> LoyaltyLotConnection:
        from app.db import read_session
        from domain.loyalty import reads

        async with read_session() as session:
            page = await reads.lots_page(
                session,
                account_id=self.key,
                limit=_limit(info, first),
                after=after,
                open_only=open_only,
            )
        return to_connection(page, LoyaltyLot.from_model)

    @strawberry.field(description="The latest redemptions (50).")
    async def redemptions(self, info: Info) -> list[LoyaltyRedemption]:
        from app.db import read_session
        from domain.loyalty import reads

        async with read_session() as session:
            rows = await reads.redemptions_of(session, account_id=self.key)
        return [LoyaltyRedemption.from_model(r) for r in rows]

    @strawberry.field(description="The latest tier changes (50).")
    async def tier_history(self, info: Info) -> list[LoyaltyTierChange]:
        from app.db import read_session
        from domain.loyalty import reads

        async with read_session() as session:
            rows = await reads.tier_history(session, account_id=self.key)
        return [LoyaltyTierChange.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, m: AccountModel) -> LoyaltyAccount:
        return cls(
            id=str(m.id),
            number=m.number,
            status=AccountStatusEnum(m.status),
            tier=m.tier_code,
            tier_since=m.tier_since,
            segments=list(m.segments or []),
            external_ref=m.external_ref,
            enrolled_at=m.enrolled_at,
            version=m.version,
            key=m.id,
            program_key=m.program_id,
            customer_key=m.customer_id,
        )

    @classmethod
    async def load(cls, info: Info, key: uuid.UUID) -> LoyaltyAccount | None:
        found = await cls._visible(info, [key])
        return cls.from_model(found[key]) if key in found else None

    @classmethod
    async def _visible(cls, info: Info, keys: list[uuid.UUID | None]) -> dict[uuid.UUID, Any]:
        principal = principal_of(info)
        access.ensure_can_read(principal)
        found = [a for a in await _loaders(info).account.load_many([k for k in keys if k]) if a]
        programs = {
            p.id: p
            for p in await _loaders(info).program.load_many(list({a.program_id for a in found}))
            if p is not None
        }
        return {
            a.id: a
            for a in found
            if a.program_id in programs
            and access.may_see_account(principal, a, programs[a.program_id])
        }

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[LoyaltyAccount | None]:
        keys = [decode_node_id(n, "LoyaltyAccount") for n in node_ids]
        found = await cls._visible(info, keys)
        return [cls.from_model(found[k]) if k in found else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> LoyaltyAccount | None:
        key = decode_node_id(representation.get("id"), "LoyaltyAccount")
        found = await cls._visible(info, [key])
        return cls.from_model(found[key]) if key in found else None


LoyaltyAccountConnection = Connection[LoyaltyAccount]


async def customer_loyalty_accounts(info: Info, customer_id: uuid.UUID) -> list[LoyaltyAccount]:
    """``Customer.loyaltyAccounts``: the customer's accounts the caller may see."""
    principal = principal_of(info)
    rows = await _loaders(info).accounts_of_customer(principal).load(customer_id)
    _loaders(info).prime_accounts(rows)
    return [LoyaltyAccount.from_model(r) for r in rows]


# --- simulation -------------------------------------------------------------------------------
@strawberry.type(description="A member's points in the period under both rule sets.")
class LoyaltySimulationMember:
    account_id: strawberry.ID
    number: str
    purchases: int
    current_points: Long = strawberry.field(description="Under the rules in force.")
    draft_points: Long
    difference: Long


@strawberry.type(
    description="Purchases that met the same rules on both sides (the rate rule, "
    "multipliers and promotions that applied, and the tier)."
)
class LoyaltySimulationScenario:
    key: str
    current_rule: str
    draft_rule: str
    purchases: int
    members: int
    current_points: Long
    draft_points: Long
    difference: Long


@strawberry.type(description="A draft rule set run over recorded purchases; nothing written.")
class LoyaltySimulation:
    period_from: date
    period_until: date
    members: int = strawberry.field(description="Members with purchases in the period.")
    purchases: int
    changed_members: int
    current_points: Long
    draft_points: Long
    difference: Long
    current_liability: Money
    draft_liability: Money
    liability_difference: Money
    top_members: list[LoyaltySimulationMember] = strawberry.field(
        description="The members whose points changed most."
    )
    scenarios: list[LoyaltySimulationScenario] = strawberry.field(
        description="The scenarios that changed most."
    )

    @classmethod
    def from_domain(cls, s: Simulation) -> LoyaltySimulation:
        def member(m: MemberDiff) -> LoyaltySimulationMember:
            return LoyaltySimulationMember(
                account_id=strawberry.ID(encode_node_id("LoyaltyAccount", m.account_id)),
                number=m.number,
                purchases=m.purchases,
                current_points=Long(m.current),
                draft_points=Long(m.draft),
                difference=Long(m.difference),
            )

        def scenario(x: Scenario) -> LoyaltySimulationScenario:
            return LoyaltySimulationScenario(
                key=x.key,
                current_rule=x.current_rule,
                draft_rule=x.draft_rule,
                purchases=x.purchases,
                members=len(x.members),
                current_points=Long(x.current),
                draft_points=Long(x.draft),
                difference=Long(x.difference),
            )

        return cls(
            period_from=s.period_from,
            period_until=s.period_until,
            members=s.members,
            purchases=s.purchases,
            changed_members=s.changed_members,
            current_points=Long(s.current),
            draft_points=Long(s.draft),
            difference=Long(s.difference),
            current_liability=Money.from_domain(s.current_liability),
            draft_liability=Money.from_domain(s.draft_liability),
            liability_difference=Money.from_domain(s.liability_difference),
            top_members=[member(m) for m in s.top_members],
            scenarios=[scenario(x) for x in s.scenarios],
        )


def money_of(amount: int, currency: str) -> Money:
    return Money.from_domain(DomainMoney(amount, currency))


def today_of(program: ProgramModel) -> date:
    return local_today(program.timezone)
