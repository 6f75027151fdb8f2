"""Loyalty: one function per root field. Reads check the permission first, then call a
checked domain read; mutations run in one transaction through ``mutate`` and answer
expected refusals as typed errors (nothing written)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from app.db import read_session
from domain.loyalty import (
    access,
    accounts,
    balances,
    ledger,
    purchases,
    reads,
    rewards,
    rulesets,
    simulate,
)
from domain.loyalty.rules_schema import RULE_SET_SCHEMA
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import selects, to_connection
from schema.loyalty import (
    LoyaltyAccount,
    LoyaltyAccountConnection,
    LoyaltyAccountStatus,
    LoyaltyBalance,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyRuleSet,
    LoyaltySimulation,
)
from schema.loyalty_inputs import (
    AdjustPointsInput,
    AdjustPointsPayload,
    AdjustPointsSuccess,
    CancelLoyaltyRedemptionInput,
    CancelLoyaltyRedemptionPayload,
    CancelLoyaltyRedemptionSuccess,
    CreateLoyaltyProgramInput,
    CreateLoyaltyRewardInput,
    CreateLoyaltyRuleSetInput,
    EndLoyaltyRuleSetInput,
    EnrollLoyaltyMemberInput,
    LoyaltyAccountPayload,
    LoyaltyAccountSuccess,
    LoyaltyPeriodInput,
    LoyaltyProgramPayload,
    LoyaltyProgramSettingsInput,
    LoyaltyProgramSuccess,
    LoyaltyRewardInput,
    LoyaltyRewardPayload,
    LoyaltyRewardSuccess,
    LoyaltyRuleSetPayload,
    LoyaltyRuleSetSuccess,
    RecordPurchasesInput,
    RecordPurchasesPayload,
    RecordPurchasesSuccess,
    RedeemRewardInput,
    RedeemRewardPayload,
    RedeemRewardSuccess,
    ReplaceLoyaltyRuleSetInput,
    TransferPointsInput,
    TransferPointsPayload,
    TransferPointsSuccess,
    UpdateLoyaltyAccountInput,
    UpdateLoyaltyProgramInput,
    UpdateLoyaltyRewardInput,
)

T = TypeVar("T")


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


def _document(value: object, field: str = "document") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed.on(field, "a rule set is a JSON object")
    return value


# --- reads ----------------------------------------------------------------------------------
async def loyalty_programs(info: Info) -> list[LoyaltyProgram]:
    principal = principal_of(info)
    async with read_session() as session:
        rows = await accounts.programs_of(session, principal)
    return [LoyaltyProgram.from_model(p) for p in rows]


async def loyalty_program(info: Info, id: strawberry.ID) -> LoyaltyProgram | None:
    access.ensure_can_read(principal_of(info))
    return (await LoyaltyProgram.resolve_nodes(info=info, node_ids=[str(id)]))[0]


async def loyalty_account(info: Info, id: strawberry.ID) -> LoyaltyAccount | None:
    access.ensure_can_read(principal_of(info))
    key = decode_node_id(id, "LoyaltyAccount")
    return await LoyaltyAccount.load(info, key) if key else None


async def loyalty_accounts(
    info: Info,
    program_id: strawberry.ID,
    first: int | None = None,
    after: str | None = None,
    tier: str | None = None,
    status: LoyaltyAccountStatus | None = None,
) -> LoyaltyAccountConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    key = require_node_id(program_id, "LoyaltyProgram", "programId")
    async with read_session() as session:
        page = await reads.accounts_page(
            session,
            principal,
            program_id=key,
            limit=_limit(info, first),
            after=after,
            tier=tier,
            status=status.value if status else None,
            with_total=selects(info, "totalCount"),
        )
    info.context.loaders.loyalty.prime_accounts(page.items)
    return to_connection(page, LoyaltyAccount.from_model)


async def my_loyalty_accounts(info: Info) -> list[LoyaltyAccount]:
    principal = principal_of(info)
    async with read_session() as session:
        rows = await reads.my_accounts(session, principal)
    info.context.loaders.loyalty.prime_accounts(rows)
    return [LoyaltyAccount.from_model(a) for a in rows]


def loyalty_rule_set_schema(info: Info) -> JSON:
    access.ensure_can_read(principal_of(info))
    return cast(JSON, RULE_SET_SCHEMA)


async def simulate_loyalty_rules(
    info: Info,
    program_id: strawberry.ID,
    rule_set: JSON,
    period: LoyaltyPeriodInput,
    members: list[strawberry.ID] | None = None,
    top: int = 20,
) -> LoyaltySimulation:
    principal = principal_of(info)
    access.ensure_can_manage(principal)
    key = require_node_id(program_id, "LoyaltyProgram", "programId")
    member_keys = (
        [require_node_id(m, "LoyaltyAccount", f"members[{i}]") for i, m in enumerate(members)]
        if members is not None
        else None
    )
    async with read_session() as session:
        result = await simulate.simulate(
            session,
            principal,
            program_id=key,
            document=_document(rule_set, "ruleSet"),
            period_from=period.from_,
            period_until=period.until,
            members=member_keys,
            top=top,
        )
    return LoyaltySimulation.from_domain(result)


# --- mutations ------------------------------------------------------------------------------
async def _run(info: Info, payload: Any, work: Callable[[AsyncSession], Awaitable[T]]) -> T | Any:
    try:
        return await mutate(payload, work)
    finally:
        info.context.loaders.loyalty.forget()


def _settings(s: LoyaltyProgramSettingsInput) -> accounts.ProgramSettings:
    return accounts.ProgramSettings(
        name=s.name,
        unit_name=s.unit_name,
        point_value=format(s.point_value, "f"),
        currency=s.currency,
        timezone=s.timezone,
        expiry_policy=s.expiry_policy.value,
        expiry_count=s.expiry_count,
        pending_days=s.pending_days,
        allow_debt=s.allow_debt,
    )


async def create_loyalty_program(
    info: Info, input: CreateLoyaltyProgramInput
) -> LoyaltyProgramPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyProgramSuccess:
        partner = require_node_id(input.partner_id, "Partner", "partnerId")
        program = await accounts.create_program(
            session,
            principal,
            partner_id=partner,
            code=input.code,
            settings=_settings(input.settings),
        )
        return LoyaltyProgramSuccess(program=LoyaltyProgram.from_model(program))

    return await _run(info, LoyaltyProgramPayload, work)


async def update_loyalty_program(
    info: Info, input: UpdateLoyaltyProgramInput
) -> LoyaltyProgramPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyProgramSuccess:
        program = await accounts.update_program(
            session,
            principal,
            program_id=require_node_id(input.program_id, "LoyaltyProgram", "programId"),
            expected_version=input.version,
            settings=_settings(input.settings),
            active=input.active,
        )
        return LoyaltyProgramSuccess(program=LoyaltyProgram.from_model(program))

    return await _run(info, LoyaltyProgramPayload, work)


async def enroll_loyalty_member(
    info: Info, input: EnrollLoyaltyMemberInput
) -> LoyaltyAccountPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyAccountSuccess:
        account = await accounts.enroll(
            session,
            principal,
            program_id=require_node_id(input.program_id, "LoyaltyProgram", "programId"),
            customer_id=require_node_id(input.customer_id, "Customer", "customerId"),
            segments=input.segments,
            external_ref=input.external_ref,
        )
        return LoyaltyAccountSuccess(account=LoyaltyAccount.from_model(account))

    return await _run(info, LoyaltyAccountPayload, work)


async def update_loyalty_account(
    info: Info, input: UpdateLoyaltyAccountInput
) -> LoyaltyAccountPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyAccountSuccess:
        account = await accounts.update_account(
            session,
            principal,
            account_id=require_node_id(input.account_id, "LoyaltyAccount", "accountId"),
            expected_version=input.version,
            status=input.status.value if input.status else None,
            segments=input.segments,
        )
        return LoyaltyAccountSuccess(account=LoyaltyAccount.from_model(account))

    return await _run(info, LoyaltyAccountPayload, work)


async def create_loyalty_rule_set(
    info: Info, input: CreateLoyaltyRuleSetInput
) -> LoyaltyRuleSetPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyRuleSetSuccess:
        rule_set = await rulesets.create_rule_set(
            session,
            principal,
            program_id=require_node_id(input.program_id, "LoyaltyProgram", "programId"),
            name=input.name,
            effective_from=input.effective_from,
            effective_until=input.effective_until,
            document=_document(input.document),
        )
        return LoyaltyRuleSetSuccess(rule_set=LoyaltyRuleSet.from_model(rule_set))

    return await _run(info, LoyaltyRuleSetPayload, work)


async def replace_loyalty_rule_set(
    info: Info, input: ReplaceLoyaltyRuleSetInput
) -> LoyaltyRuleSetPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyRuleSetSuccess:
        rule_set = await rulesets.replace_rule_set(
            session,
            principal,
            rule_set_id=require_node_id(input.rule_set_id, "LoyaltyRuleSet", "ruleSetId"),
            expected_version=input.version,
            name=input.name,
            effective_from=input.effective_from,
            document=_document(input.document),
        )
        return LoyaltyRuleSetSuccess(rule_set=LoyaltyRuleSet.from_model(rule_set))

    return await _run(info, LoyaltyRuleSetPayload, work)


async def end_loyalty_rule_set(info: Info, input: EndLoyaltyRuleSetInput) -> LoyaltyRuleSetPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyRuleSetSuccess:
        rule_set = await rulesets.end_rule_set(
            session,
            principal,
            rule_set_id=require_node_id(input.rule_set_id, "LoyaltyRuleSet", "ruleSetId"),
            expected_version=input.version,
            effective_until=input.effective_until,
        )
        return LoyaltyRuleSetSuccess(rule_set=LoyaltyRuleSet.from_model(rule_set))

    return await _run(info, LoyaltyRuleSetPayload, work)


def _reward(r: LoyaltyRewardInput) -> rewards.RewardInput:
    return rewards.RewardInput(
        name=r.name,
        cost_points=int(r.cost_points),
        description=r.description,
        stock=r.stock,
        limit_per_member=r.limit_per_member,
        limit_period=r.limit_period.value if r.limit_period else None,
        active=r.active,
        valid_from=r.valid_from,
        valid_until=r.valid_until,
    )


async def create_loyalty_reward(
    info: Info, input: CreateLoyaltyRewardInput
) -> LoyaltyRewardPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyRewardSuccess:
        reward = await rewards.create_reward(
            session,
            principal,
            program_id=require_node_id(input.program_id, "LoyaltyProgram", "programId"),
            code=input.code,
            values=_reward(input.reward),
        )
        return LoyaltyRewardSuccess(reward=LoyaltyReward.from_model(reward))

    return await _run(info, LoyaltyRewardPayload, work)


async def update_loyalty_reward(
    info: Info, input: UpdateLoyaltyRewardInput
) -> LoyaltyRewardPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> LoyaltyRewardSuccess:
        reward = await rewards.update_reward(
            session,
            principal,
            reward_id=require_node_id(input.reward_id, "LoyaltyReward", "rewardId"),
            expected_version=input.version,
            values=_reward(input.reward),
        )
        return LoyaltyRewardSuccess(reward=LoyaltyReward.from_model(reward))

    return await _run(info, LoyaltyRewardPayload, work)


async def record_purchases(info: Info, input: RecordPurchasesInput) -> RecordPurchasesPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RecordPurchasesSuccess:
        items = []
        for i, x in enumerate(input.purchases):
            account_key = (
                require_node_id(x.account_id, "LoyaltyAccount", f"purchases[{i}].accountId")
                if x.account_id
                else None
            )
            items.append(
                purchases.PurchaseInput(
                    external_id=x.external_id,
                    amount=x.amount,
                    currency=x.currency,
                    occurred_at=x.occurred_at,
                    kind=x.kind,
                    account_id=account_key,
                    member_number=x.member_number,
                    refund_of=x.refund_of,
                    mcc=x.mcc,
                    merchant_partner=x.merchant_partner,
                    merchant_name=x.merchant_name,
                    channel=x.channel,
                    card_product=x.card_product,
                )
            )
        result = await purchases.record_purchases(
            session,
            principal,
            program_id=require_node_id(input.program_id, "LoyaltyProgram", "programId"),
            purchases=items,
        )
        return RecordPurchasesSuccess(accepted=result.accepted, duplicates=result.duplicates)

    return await _run(info, RecordPurchasesPayload, work)


async def _balance(session: AsyncSession, account_id: uuid.UUID) -> LoyaltyBalance:
    return LoyaltyBalance.from_domain(await balances.balance(session, account_id=account_id))


async def redeem_reward(info: Info, input: RedeemRewardInput) -> RedeemRewardPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RedeemRewardSuccess:
        account_id = require_node_id(input.account_id, "LoyaltyAccount", "accountId")
        redemption = await ledger.redeem_reward(
            session,
            principal,
            account_id=account_id,
            reward_id=require_node_id(input.reward_id, "LoyaltyReward", "rewardId"),
            quantity=input.quantity,
            idempotency_key=input.idempotency_key,
        )
        return RedeemRewardSuccess(
            redemption=LoyaltyRedemption.from_model(redemption),
            balance=await _balance(session, account_id),
        )

    return await _run(info, RedeemRewardPayload, work)


async def cancel_loyalty_redemption(
    info: Info, input: CancelLoyaltyRedemptionInput
) -> CancelLoyaltyRedemptionPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CancelLoyaltyRedemptionSuccess:
        redemption = await ledger.cancel_redemption(
            session,
            principal,
            redemption_id=require_node_id(input.redemption_id, "LoyaltyRedemption", "redemptionId"),
            reason=input.reason,
        )
        return CancelLoyaltyRedemptionSuccess(
            redemption=LoyaltyRedemption.from_model(redemption),
            balance=await _balance(session, redemption.account_id),
        )

    return await _run(info, CancelLoyaltyRedemptionPayload, work)


async def adjust_points(info: Info, input: AdjustPointsInput) -> AdjustPointsPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> AdjustPointsSuccess:
        account_id = require_node_id(input.account_id, "LoyaltyAccount", "accountId")
        entry = await ledger.adjust_points(
            session,
            principal,
            account_id=account_id,
            points=int(input.points),
            reason=input.reason,
            idempotency_key=input.idempotency_key,
        )
        return AdjustPointsSuccess(
            movement=LoyaltyMovement.from_model(entry),
            balance=await _balance(session, account_id),
        )

    return await _run(info, AdjustPointsPayload, work)


async def transfer_points(info: Info, input: TransferPointsInput) -> TransferPointsPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> TransferPointsSuccess:
        source = require_node_id(input.from_account_id, "LoyaltyAccount", "fromAccountId")
        if (input.to_account_id is None) == (input.to_member_number is None):
            raise ValidationFailed.on("toAccountId", "give toAccountId or toMemberNumber")
        if input.to_account_id is not None:
            target = require_node_id(input.to_account_id, "LoyaltyAccount", "toAccountId")
        else:
            account = await accounts.get_account(session, source)
            found = await accounts.find_account(
                session, program_id=account.program_id, number=str(input.to_member_number)
            )
            if found is None:
                raise ValidationFailed.on("toMemberNumber", "not a member of the same program")
            target = found.id
        transfer = await ledger.transfer_points(
            session,
            principal,
            from_account_id=source,
            to_account_id=target,
            points=int(input.points),
            reason=input.reason,
            idempotency_key=input.idempotency_key,
        )
        found_balances = await balances.balances(session, account_ids=[source, target])
        return TransferPointsSuccess(
            transfer_id=strawberry.ID(str(transfer.id)),
            points=input.points,
            from_balance=LoyaltyBalance.from_domain(found_balances[source]),
            to_balance=LoyaltyBalance.from_domain(found_balances[target]),
        )

    return await _run(info, TransferPointsPayload, work)
