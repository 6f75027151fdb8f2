"""Root fields of collections work: reads through checked services, mutations in one
transaction each through ``mutate`` (expected failures come back as the payload's typed
errors, with nothing written). The manual run (``runCollections``) is the exception: it
runs the lender's day batch by batch, each batch its own transaction, like the worker.
"""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from app.db import read_session, transaction
from domain.collections import collectors as collectors_service
from domain.collections import contacts as contacts_service
from domain.collections import promises as promises_service
from domain.collections import queues as queues_service
from domain.collections import strategies as strategies_service
from domain.collections import work
from domain.collections import work_access as access
from domain.collections.work_models import Promise
from domain.credits.policy import COUNTRY_TIMEZONES, today
from domain.partners.models import Partner as PartnerModel
from domain.shared.errors import DomainError, Problems, ValidationFailed
from domain.shared.money import Money as DomainMoney
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.credits import money_from_input
from resolvers.errors import mutate, to_error_type
from resolvers.ids import require_node_id
from resolvers.pagination import selects, to_connection
from schema.collections_work import (
    AssignmentRuleSet,
    AssignQueueItemInput,
    AssignQueueItemPayload,
    AssignQueueItemSuccess,
    CancelPromiseToPayInput,
    CancelPromiseToPayPayload,
    CancelPromiseToPaySuccess,
    CollectionContact,
    CollectionContactConnection,
    CollectionQueueConnection,
    CollectionQueueFilter,
    CollectionQueueItem,
    CollectionRunSummary,
    CollectionStrategy,
    Collector,
    ContactOutcome,
    EnrollCollectorInput,
    EnrollCollectorPayload,
    EnrollCollectorSuccess,
    LogContactInput,
    LogContactPayload,
    LogContactSuccess,
    MakePromiseToPayInput,
    MakePromiseToPayPayload,
    MakePromiseToPaySuccess,
    PromiseToPay,
    PromiseToPayConnection,
    PromiseToPayStatus,
    RunCollectionsInput,
    RunCollectionsPayload,
    RunCollectionsSuccess,
    SetAssignmentRulesInput,
    SetAssignmentRulesPayload,
    SetAssignmentRulesSuccess,
    SetCollectionStrategyInput,
    SetCollectionStrategyPayload,
    SetCollectionStrategySuccess,
    SetCollectorActiveInput,
    SetCollectorActivePayload,
    SetCollectorActiveSuccess,
)


# --- loaders ------------------------------------------------------------------------------
class CollectionsLoaders:
    def __init__(self) -> None:
        self.collector: DataLoader[uuid.UUID, collectors_service.CollectorView | None] = DataLoader(
            load_fn=self._collectors
        )
        self.promise: DataLoader[uuid.UUID, Promise | None] = DataLoader(load_fn=self._promises)

    @staticmethod
    async def _collectors(keys: list[uuid.UUID]) -> list[Any]:
        async with read_session() as session:
            found = await collectors_service.collectors_by_id(session, keys)
        return [found.get(k) for k in keys]

    @staticmethod
    async def _promises(keys: list[uuid.UUID]) -> list[Any]:
        async with read_session() as session:
            found = await promises_service.promises_by_id(session, keys)
        return [found.get(k) for k in keys]


def loaders(info: Info) -> CollectionsLoaders:
    """This request's collections loaders (kept beside the others on the context)."""
    holder = info.context.loaders
    found = getattr(holder, "_collections", None)
    if found is None:
        found = CollectionsLoaders()
        holder._collections = found
    return found


def _uuid(value: strawberry.ID | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed.on(field, "is not an id") from None


def _lender(value: strawberry.ID | None, field: str = "lenderId") -> uuid.UUID | None:
    return require_node_id(value, "Partner", field) if value else None


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


def _money(value: Any, path: str) -> DomainMoney | None:
    problems = Problems()
    money = money_from_input(value, path, problems)
    problems.raise_if_any()
    return money


async def _run(info: Info, payload: Any, work_fn: Any) -> Any:
    try:
        return await mutate(payload, work_fn)
    finally:
        info.context.loaders.credits.forget()


# --- reads --------------------------------------------------------------------------------
async def collectors(info: Info, lender_id: strawberry.ID | None = None) -> list[Collector]:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    async with read_session() as session:
        views = await collectors_service.list_collectors(
            session, principal=principal, lender_id=_lender(lender_id)
        )
    for v in views:
        loaders(info).collector.prime(v.id, v)
    return [Collector.from_view(v) for v in views]


async def assignment_rules(info: Info, lender_id: strawberry.ID | None = None) -> AssignmentRuleSet:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    async with read_session() as session:
        view = await collectors_service.current_rules(
            session, principal=principal, lender_id=_lender(lender_id)
        )
    return AssignmentRuleSet.from_view(view)


async def collection_strategy(
    info: Info, lender_id: strawberry.ID | None = None
) -> CollectionStrategy:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    async with read_session() as session:
        view = await strategies_service.current_strategy(
            session, principal=principal, lender_id=_lender(lender_id)
        )
    return CollectionStrategy.from_view(view)


async def collection_queue(
    info: Info,
    lender_id: strawberry.ID | None = None,
    filter: CollectionQueueFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CollectionQueueConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    limit = _limit(info, first)
    f = filter or CollectionQueueFilter()
    async with read_session() as session:
        page = await queues_service.list_queue(
            session,
            principal=principal,
            lender_id=_lender(lender_id),
            limit=limit,
            after=after,
            kinds=[k.value for k in f.queue] if f.queue else None,
            buckets=[b.value for b in f.bucket] if f.bucket else None,
            collector_id=_uuid(f.collector_id, "filter.collectorId"),
            assigned_to_me=f.assigned_to_me,
            unassigned=f.unassigned,
            status=f.status.value,
            with_total=selects(info, "totalCount"),
        )
    return to_connection(page, CollectionQueueItem.from_model)


async def promises_to_pay(
    info: Info,
    lender_id: strawberry.ID | None = None,
    credit_id: strawberry.ID | None = None,
    status: list[PromiseToPayStatus] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> PromiseToPayConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    limit = _limit(info, first)
    credit = require_node_id(credit_id, "Credit", "creditId") if credit_id else None
    async with read_session() as session:
        page = await promises_service.list_promises(
            session,
            principal=principal,
            lender_id=_lender(lender_id),
            limit=limit,
            after=after,
            credit_id=credit,
            statuses=[s.value for s in status] if status else None,
        )
    for p in page.items:
        loaders(info).promise.prime(p.id, p)
    return to_connection(page, PromiseToPay.from_model)


async def collection_contacts(
    info: Info,
    lender_id: strawberry.ID | None = None,
    credit_id: strawberry.ID | None = None,
    outcome: list[ContactOutcome] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CollectionContactConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    limit = _limit(info, first)
    credit = require_node_id(credit_id, "Credit", "creditId") if credit_id else None
    async with read_session() as session:
        page = await contacts_service.list_contacts(
            session,
            principal=principal,
            lender_id=_lender(lender_id),
            limit=limit,
            after=after,
            credit_id=credit,
            outcomes=[o.value for o in outcome] if outcome else None,
        )
    return to_connection(page, CollectionContact.from_model)


# --- mutations ----------------------------------------------------------------------------
async def enroll_collector(info: Info, input: EnrollCollectorInput) -> EnrollCollectorPayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> EnrollCollectorSuccess:
        access.ensure_can_manage(principal)
        view = await collectors_service.enroll_collector(
            session,
            principal=principal,
            lender_id=_lender(input.lender_id),
            user_id=_uuid(input.user_id, "userId"),
            subject=input.subject,
        )
        return EnrollCollectorSuccess(collector=Collector.from_view(view))

    return await _run(info, EnrollCollectorPayload, work_fn)


async def set_collector_active(
    info: Info, input: SetCollectorActiveInput
) -> SetCollectorActivePayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> SetCollectorActiveSuccess:
        access.ensure_can_manage(principal)
        key = _uuid(input.collector_id, "collectorId")
        assert key is not None
        view = await collectors_service.set_collector_active(
            session,
            principal=principal,
            collector_id=key,
            active=input.active,
            expected_version=input.expected_version,
        )
        return SetCollectorActiveSuccess(collector=Collector.from_view(view))

    return await _run(info, SetCollectorActivePayload, work_fn)


async def set_assignment_rules(
    info: Info, input: SetAssignmentRulesInput
) -> SetAssignmentRulesPayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> SetAssignmentRulesSuccess:
        access.ensure_can_manage(principal)
        problems = Problems()
        rules = []
        for index, rule in enumerate(input.rules):
            at = f"rules[{index}]"
            ids: list[uuid.UUID] = []
            for c in rule.collector_ids:
                try:
                    ids.append(uuid.UUID(str(c)))
                except ValueError:
                    problems.add(f"{at}.collectorIds", f"{str(c)[:40]!r} is not an id")
            rules.append(
                collectors_service.RuleInput(
                    name=rule.name,
                    queues=[q.value for q in rule.queues],
                    buckets=[b.value for b in rule.buckets],
                    min_amount=money_from_input(rule.min_amount, f"{at}.minAmount", problems),
                    max_amount=money_from_input(rule.max_amount, f"{at}.maxAmount", problems),
                    collector_ids=ids,
                )
            )
        problems.raise_if_any()
        view = await collectors_service.set_rules(
            session,
            principal=principal,
            lender_id=_lender(input.lender_id),
            rules=rules,
            expected_version=input.expected_version,
        )
        return SetAssignmentRulesSuccess(rule_set=AssignmentRuleSet.from_view(view))

    return await _run(info, SetAssignmentRulesPayload, work_fn)


async def set_collection_strategy(
    info: Info, input: SetCollectionStrategyInput
) -> SetCollectionStrategyPayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> SetCollectionStrategySuccess:
        access.ensure_can_manage(principal)
        view = await strategies_service.set_strategy(
            session,
            principal=principal,
            lender_id=_lender(input.lender_id),
            name=input.name,
            steps=[
                strategies_service.StepInput(
                    code=s.code,
                    day_offset=s.day_offset,
                    action=s.action.value,
                    channels=[c.value for c in s.channels],
                )
                for s in input.steps
            ],
            promise_grace_days=input.promise_grace_days,
            expected_version=input.expected_version,
        )
        return SetCollectionStrategySuccess(strategy=CollectionStrategy.from_view(view))

    return await _run(info, SetCollectionStrategyPayload, work_fn)


async def make_promise_to_pay(info: Info, input: MakePromiseToPayInput) -> MakePromiseToPayPayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> MakePromiseToPaySuccess:
        access.ensure_can_work(principal)
        credit_id = require_node_id(input.credit_id, "Credit", "creditId")
        amount = _money(input.amount, "amount")
        assert amount is not None
        promise = await promises_service.make_promise(
            session,
            principal=principal,
            credit_id=credit_id,
            amount=amount,
            promised_date=input.promised_date,
            note=input.note,
        )
        return MakePromiseToPaySuccess(promise=PromiseToPay.from_model(promise))

    return await _run(info, MakePromiseToPayPayload, work_fn)


async def cancel_promise_to_pay(
    info: Info, input: CancelPromiseToPayInput
) -> CancelPromiseToPayPayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> CancelPromiseToPaySuccess:
        access.ensure_can_work(principal)
        key = _uuid(input.promise_id, "promiseId")
        assert key is not None
        promise = await promises_service.cancel_promise(
            session,
            principal=principal,
            promise_id=key,
            reason=input.reason,
            expected_version=input.expected_version,
        )
        return CancelPromiseToPaySuccess(promise=PromiseToPay.from_model(promise))

    return await _run(info, CancelPromiseToPayPayload, work_fn)


async def log_contact(info: Info, input: LogContactInput) -> LogContactPayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> LogContactSuccess:
        access.ensure_can_work(principal)
        credit_id = require_node_id(input.credit_id, "Credit", "creditId")
        promise = None
        if input.promise is not None:
            amount = _money(input.promise.amount, "promise.amount")
            assert amount is not None
            promise = contacts_service.PromiseInput(amount, input.promise.promised_date)
        logged = await contacts_service.log_contact(
            session,
            principal=principal,
            credit_id=credit_id,
            channel=input.channel.value,
            outcome=input.outcome.value,
            direction=input.direction.value,
            note=input.note,
            contacted_at=input.contacted_at,
            promise=promise,
        )
        return LogContactSuccess(
            contact=CollectionContact.from_model(logged.contact),
            promise=PromiseToPay.from_model(logged.promise) if logged.promise else None,
        )

    return await _run(info, LogContactPayload, work_fn)


async def assign_queue_item(info: Info, input: AssignQueueItemInput) -> AssignQueueItemPayload:
    principal = principal_of(info)

    async def work_fn(session: AsyncSession) -> AssignQueueItemSuccess:
        access.ensure_can_manage(principal)
        key = _uuid(input.item_id, "itemId")
        assert key is not None
        item = await queues_service.reassign_item(
            session,
            principal=principal,
            item_id=key,
            collector_id=_uuid(input.collector_id, "collectorId"),
            expected_version=input.expected_version,
        )
        return AssignQueueItemSuccess(item=CollectionQueueItem.from_model(item))

    return await _run(info, AssignQueueItemPayload, work_fn)


async def run_collections(info: Info, input: RunCollectionsInput) -> RunCollectionsPayload:
    """Today's run for one lender, now (supervisors and administrators): the same as the
    scheduled run, for that lender's credits in each of their timezones."""
    principal = principal_of(info)
    try:
        access.ensure_can_manage(principal)
        partner_id = access.lender_for(principal, _lender(input.lender_id))
        async with read_session() as session:
            timezones = await work.open_timezones(session, partner_id)
        totals = None
        size = info.context.settings.collections_batch_size
        for timezone in timezones:
            day = today(timezone)
            after = None
            while True:
                async with transaction() as session:
                    batch = await work.run_collections(
                        session,
                        as_of=day,
                        timezone=timezone,
                        partner_id=partner_id,
                        after_id=after,
                        limit=size,
                        actor=principal,
                    )
                if totals is None:
                    totals = work.RunTotals(as_of=day)
                totals.add(batch)
                if batch.done or batch.last_id is None:
                    break
                after = batch.last_id
        if totals is None:
            async with read_session() as session:
                partner = await session.get(PartnerModel, partner_id)
            zone = COUNTRY_TIMEZONES.get(partner.country if partner else "CL", "America/Santiago")
            totals = work.RunTotals(as_of=today(zone))
    except DomainError as exc:
        error = to_error_type(exc)
        if error is None:
            raise
        return error
    finally:
        info.context.loaders.credits.forget()
    return RunCollectionsSuccess(summary=CollectionRunSummary.from_totals(totals))
