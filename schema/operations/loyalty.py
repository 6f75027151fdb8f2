from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from resolvers import loyalty as r
from schema.loyalty import (
    LoyaltyAccount,
    LoyaltyAccountConnection,
    LoyaltyProgram,
    LoyaltySimulation,
)
from schema.loyalty_inputs import (
    AdjustPointsPayload,
    CancelLoyaltyRedemptionPayload,
    LoyaltyAccountPayload,
    LoyaltyProgramPayload,
    LoyaltyRewardPayload,
    LoyaltyRuleSetPayload,
    RecordPurchasesPayload,
    RedeemRewardPayload,
    TransferPointsPayload,
)


@strawberry.type
class LoyaltyQuery:
    loyalty_programs: list[LoyaltyProgram] = strawberry.field(
        resolver=r.loyalty_programs,
        description="Programs you may see: your partner's (staff), those you belong to "
        "(customers), all (administrators).",
    )
    loyalty_program: LoyaltyProgram | None = strawberry.field(
        resolver=r.loyalty_program, description="A program by id; null if you cannot see it."
    )
    loyalty_account: LoyaltyAccount | None = strawberry.field(
        resolver=r.loyalty_account,
        description="An account by id: its program's staff, or the customer it belongs to.",
    )
    loyalty_accounts: LoyaltyAccountConnection = strawberry.field(
        resolver=r.loyalty_accounts,
        description="A program's accounts by member number (its staff).",
    )
    my_loyalty_accounts: list[LoyaltyAccount] = strawberry.field(
        resolver=r.my_loyalty_accounts,
        description="The calling customer's accounts (customer tokens).",
    )
    loyalty_rule_set_schema: JSON = strawberry.field(
        resolver=r.loyalty_rule_set_schema,
        description="The rule-set format, as a JSON Schema (draft 2020-12).",
    )
    simulate_loyalty_rules: LoyaltySimulation = strawberry.field(
        resolver=r.simulate_loyalty_rules,
        description="Run a draft rule set over the program's recorded purchases of a period "
        "(of some members, or all), writing nothing: totals, the members and scenarios that "
        "changed most, in points and liability (`loyalty:manage`).",
    )


@strawberry.type
class LoyaltyMutation:
    create_loyalty_program: LoyaltyProgramPayload = strawberry.mutation(
        resolver=r.create_loyalty_program, description="A partner's program (`loyalty:manage`)."
    )
    update_loyalty_program: LoyaltyProgramPayload = strawberry.mutation(
        resolver=r.update_loyalty_program,
        description="Change a program's settings; lots already open keep their dates.",
    )
    enroll_loyalty_member: LoyaltyAccountPayload = strawberry.mutation(
        resolver=r.enroll_loyalty_member, description="Open a customer's account in a program."
    )
    update_loyalty_account: LoyaltyAccountPayload = strawberry.mutation(
        resolver=r.update_loyalty_account, description="An account's status or segments."
    )
    create_loyalty_rule_set: LoyaltyRuleSetPayload = strawberry.mutation(
        resolver=r.create_loyalty_rule_set,
        description="Publish a rule set version; dates overlapping a version in force are "
        "refused (OVERLAPPING_DATES).",
    )
    replace_loyalty_rule_set: LoyaltyRuleSetPayload = strawberry.mutation(
        resolver=r.replace_loyalty_rule_set,
        description="New rules as a new version from a day on; past days keep their rules.",
    )
    end_loyalty_rule_set: LoyaltyRuleSetPayload = strawberry.mutation(
        resolver=r.end_loyalty_rule_set, description="Shorten or retire a version."
    )
    create_loyalty_reward: LoyaltyRewardPayload = strawberry.mutation(
        resolver=r.create_loyalty_reward, description="Add a reward to the catalogue."
    )
    update_loyalty_reward: LoyaltyRewardPayload = strawberry.mutation(
        resolver=r.update_loyalty_reward, description="Change a reward (cost, stock, limits)."
    )
    record_purchases: RecordPurchasesPayload = strawberry.mutation(
        resolver=r.record_purchases,
        description="The card platform's batch of purchases and refunds (idempotent by "
        "transaction id; a card number in any field refuses it); accrued by loyalty.accrue.",
    )
    redeem_reward: RedeemRewardPayload = strawberry.mutation(
        resolver=r.redeem_reward,
        description="Take a reward: points from available lots, earliest expiry first "
        "(INSUFFICIENT_POINTS, OUT_OF_STOCK, LIMIT_REACHED, REWARD_UNAVAILABLE).",
    )
    cancel_loyalty_redemption: CancelLoyaltyRedemptionPayload = strawberry.mutation(
        resolver=r.cancel_loyalty_redemption,
        description="Give a redemption's points (with their dates) and stock back.",
    )
    adjust_points: AdjustPointsPayload = strawberry.mutation(
        resolver=r.adjust_points,
        description="A person's manual correction, audited with who and why (`loyalty:manage`).",
    )
    transfer_points: TransferPointsPayload = strawberry.mutation(
        resolver=r.transfer_points,
        description="Move available points to another member of the same program; they keep "
        "their expiry.",
    )
