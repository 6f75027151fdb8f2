"""Root fields of the reconciliation: the queue, a line's item and history, explanations,
the people's actions, and the matching rules."""

from __future__ import annotations

import uuid
from datetime import date

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import read_session
from domain.collections import access, matching_actions, matching_reads
from domain.collections.matching_reads import QueueFilter
from domain.partners.models import Partner
from domain.shared.errors import NotFound, Problems
from domain.shared.pagination import clamp_page_size
from domain.shared.time import local_today
from resolvers.context import principal_of
from resolvers.credits import money_from_input
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import selects, to_connection
from schema.collections_matching import (
    ConfirmMatchInput,
    ConfirmMatchPayload,
    CreateMatchRuleSetInput,
    CreateMatchRuleSetPayload,
    CreateMatchRuleSetSuccess,
    IgnoreLineInput,
    IgnoreLinePayload,
    MatchDecision,
    MatchManuallyInput,
    MatchManuallyPayload,
    MatchRule,
    MatchRuleInput,
    MatchRuleSet,
    MatchRuleSets,
    ReconciliationExplanation,
    ReconciliationItem,
    ReconciliationItemConnection,
    ReconciliationQueueFilter,
    ReconciliationSuccess,
    RuleTrace,
    UnmatchLineInput,
    UnmatchLinePayload,
    rules_data,
)


async def _today(session: AsyncSession, partner_id: uuid.UUID) -> date:
    from zoneinfo import ZoneInfo

    from domain.credits.policy import COUNTRY_TIMEZONES

    partner = await session.get(Partner, partner_id)
    country = partner.country if partner else "CL"
    return local_today(ZoneInfo(COUNTRY_TIMEZONES.get(country, COUNTRY_TIMEZONES["CL"])))


def _optional(value: object, type_name: str, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    return require_node_id(value, type_name, field)


async def reconciliation_queue(
    info: Info,
    filter: ReconciliationQueueFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ReconciliationItemConnection:
    """The lines waiting for a person, oldest booking first."""
    principal = principal_of(info)
    settings = info.context.settings
    limit = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    f = filter or ReconciliationQueueFilter()
    async with read_session() as session:
        page = await matching_reads.queue(
            session,
            principal=principal,
            filter=QueueFilter(
                states=[s.value for s in f.states] if f.states else None,
                account_id=_optional(f.account_id, "CollectionAccount", "filter.accountId"),
                min_age_days=f.min_age_days,
                max_age_days=f.max_age_days,
                reason=f.reason,
                partner_id=_optional(f.partner_id, "Partner", "filter.partnerId"),
            ),
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
        days = {}
        for item in page.items:
            if item.line.partner_id not in days:
                days[item.line.partner_id] = await _today(session, item.line.partner_id)
    return to_connection(
        page, lambda item: ReconciliationItem.from_item(item, days[item.line.partner_id])
    )


async def reconciliation_item(info: Info, line_id: strawberry.ID) -> ReconciliationItem | None:
    principal = principal_of(info)
    key = decode_node_id(line_id, "StatementLine")
    if key is None:
        return None
    access.ensure_can_read(principal)
    async with read_session() as session:
        try:
            item = await matching_reads.get_item(session, principal=principal, line_id=key)
        except NotFound:  # not found, or not yours: null
            return None
        today = await _today(session, item.line.partner_id)
    return ReconciliationItem.from_item(item, today)


async def reconciliation_history(info: Info, line_id: strawberry.ID) -> list[MatchDecision]:
    """Every decision a line had, oldest first."""
    principal = principal_of(info)
    key = require_node_id(line_id, "StatementLine", "lineId")
    async with read_session() as session:
        rows = await matching_reads.history_of(session, principal=principal, line_id=key)
    return [MatchDecision.from_model(d) for d in rows]


async def explain_reconciliation(
    info: Info, line_id: strawberry.ID, rules: list[MatchRuleInput] | None = None
) -> ReconciliationExplanation:
    """The rule set in force (or draft ``rules``) on one line, now, nothing written."""
    principal = principal_of(info)
    key = require_node_id(line_id, "StatementLine", "lineId")
    async with read_session() as session:
        overall, traces, in_force = await matching_reads.explain_line(
            session,
            principal=principal,
            line_id=key,
            rules=rules_data(rules) if rules is not None else None,
        )
    return ReconciliationExplanation(
        rule_set_version=in_force.version,
        decision=MatchDecision.from_engine(overall, in_force.version),
        rules=[
            RuleTrace(
                rule_code=t.rule_code,
                rule_name=t.rule_name,
                decision=MatchDecision.from_engine(t.decision, in_force.version),
            )
            for t in traces
        ],
    )


async def match_rule_sets(info: Info, partner_id: strawberry.ID | None = None) -> MatchRuleSets:
    principal = principal_of(info)
    lender = _optional(partner_id, "Partner", "partnerId")
    async with read_session() as session:
        versions, in_force = await matching_reads.list_rule_sets(
            session, principal=principal, partner_id=lender
        )
    return MatchRuleSets(
        versions=[MatchRuleSet.from_model(v, v.id == in_force.id) for v in versions],
        version_in_force=in_force.version,
        default_rules=[MatchRule.from_data(d) for d in matching_reads.default_rules()],
    )


# --- mutations -----------------------------------------------------------------------------
async def _item(session: AsyncSession, info: Info, line_id: uuid.UUID) -> ReconciliationSuccess:
    item = await matching_reads.get_item(session, principal=principal_of(info), line_id=line_id)
    return ReconciliationSuccess(
        item=ReconciliationItem.from_item(item, await _today(session, item.line.partner_id))
    )


async def confirm_match(info: Info, input: ConfirmMatchInput) -> ConfirmMatchPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ReconciliationSuccess:
        key = require_node_id(input.line_id, "StatementLine", "lineId")
        await matching_actions.confirm_match(
            session,
            principal=principal,
            line_id=key,
            version=input.version,
            candidate=input.candidate,
        )
        return await _item(session, info, key)

    return await mutate(ConfirmMatchPayload, work)


async def match_manually(info: Info, input: MatchManuallyInput) -> MatchManuallyPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ReconciliationSuccess:
        key = require_node_id(input.line_id, "StatementLine", "lineId")
        problems = Problems()
        parts = []
        for n, part in enumerate(input.parts):
            credit = decode_node_id(part.credit_id, "Credit")
            if credit is None:
                problems.add(f"parts[{n}].creditId", "is not the id of a Credit")
                continue
            amount = money_from_input(part.amount, f"parts[{n}].amount", problems)
            parts.append(matching_actions.ManualPart(credit, amount, part.installment_number))
        problems.raise_if_any()
        await matching_actions.match_manually(
            session, principal=principal, line_id=key, version=input.version, parts=parts
        )
        return await _item(session, info, key)

    return await mutate(MatchManuallyPayload, work)


async def unmatch_line(info: Info, input: UnmatchLineInput) -> UnmatchLinePayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ReconciliationSuccess:
        key = require_node_id(input.line_id, "StatementLine", "lineId")
        await matching_actions.unmatch(
            session, principal=principal, line_id=key, version=input.version, reason=input.reason
        )
        return await _item(session, info, key)

    return await mutate(UnmatchLinePayload, work)


async def ignore_line(info: Info, input: IgnoreLineInput) -> IgnoreLinePayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> ReconciliationSuccess:
        key = require_node_id(input.line_id, "StatementLine", "lineId")
        await matching_actions.ignore_line(
            session, principal=principal, line_id=key, version=input.version, reason=input.reason
        )
        return await _item(session, info, key)

    return await mutate(IgnoreLinePayload, work)


async def create_match_rule_set(
    info: Info, input: CreateMatchRuleSetInput
) -> CreateMatchRuleSetPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> CreateMatchRuleSetSuccess:
        lender = _optional(input.partner_id, "Partner", "partnerId")
        row = await matching_reads.create_rule_set(
            session,
            principal=principal,
            partner_id=lender,
            rules=rules_data(input.rules),
            description=input.description,
            effective_from=input.effective_from,
        )
        in_force = row.effective_from <= row.created_at
        return CreateMatchRuleSetSuccess(rule_set=MatchRuleSet.from_model(row, in_force))

    return await mutate(CreateMatchRuleSetPayload, work)
