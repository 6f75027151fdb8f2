"""Relay's ``node(id:)`` and ``nodes(ids:)``: any object by its global id.

An id of an unknown type, a malformed one, or one of an object that does not exist (or
that you cannot see) gives null, as Relay expects; visibility is each type's own rule.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.shared.errors import ValidationFailed
from domain.shared.ids import parse_uuid
from schema.case_attachments import CaseAttachment
from schema.cases import Case
from schema.collections import BankStatement, CollectionAccount, StatementLine
from schema.credit_registry import Credit, Payment
from schema.customers import Customer
from schema.investors import CreditFunding, Investor, SettlementRun, SettlementStatement
from schema.loyalty import (
    LoyaltyAccount,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyRuleSet,
)
from schema.loyalty_migration import LoyaltyMigration
from schema.marketplace import Vehicle
from schema.origination import CreditApplication
from schema.partners import Partner

NODE_TYPES: dict[str, Any] = {
    "Customer": Customer,
    "Partner": Partner,
    "Credit": Credit,
    "Payment": Payment,
    "Investor": Investor,
    "CreditFunding": CreditFunding,
    "SettlementRun": SettlementRun,
    "SettlementStatement": SettlementStatement,
    "LoyaltyMigration": LoyaltyMigration,
    "Case": Case,
    "CaseAttachment": CaseAttachment,
    "CollectionAccount": CollectionAccount,
    "BankStatement": BankStatement,
    "StatementLine": StatementLine,
    "LoyaltyProgram": LoyaltyProgram,
    "LoyaltyAccount": LoyaltyAccount,
    "LoyaltyRuleSet": LoyaltyRuleSet,
    "LoyaltyReward": LoyaltyReward,
    "LoyaltyRedemption": LoyaltyRedemption,
    "Vehicle": Vehicle,
    "CreditApplication": CreditApplication,
}


def _decode(value: str) -> tuple[str, uuid.UUID] | None:
    text = str(value or "").strip()
    if not text or len(text) > 200:
        return None
    try:
        gid = relay.GlobalID.from_id(text)
    except (ValueError, TypeError, UnicodeError):
        return None
    key = parse_uuid(gid.node_id)
    if gid.type_name not in NODE_TYPES or key is None:
        return None
    return gid.type_name, key


async def nodes(info: Info, ids: list[strawberry.ID]) -> list[relay.Node | None]:
    limit = info.context.settings.max_page_size
    if len(ids) > limit:
        raise ValidationFailed.on("ids", f"at most {limit} ids at once")
    decoded = [_decode(i) for i in ids]
    wanted: dict[str, list[uuid.UUID]] = defaultdict(list)
    for item in decoded:
        if item is not None:
            wanted[item[0]].append(item[1])
    found: dict[tuple[str, uuid.UUID], Any] = {}
    for type_name, keys in wanted.items():
        resolved = await NODE_TYPES[type_name].resolve_nodes(
            info=info, node_ids=[str(k) for k in keys]
        )
        for key, obj in zip(keys, resolved, strict=True):
            found[(type_name, key)] = obj
    return [found.get(item) if item is not None else None for item in decoded]


async def node(info: Info, id: strawberry.ID) -> relay.Node | None:
    return (await nodes(info, [id]))[0]
