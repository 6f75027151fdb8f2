"""Collections work in the API: collectors, assignment rules, the strategy, the work queues,
promises to pay and the contact log (``domain/collections/work*.py``).

Ids of these objects are plain UUIDs (they are read through their lender's lists, not
``node``). Every amount is ``Money`` in the credit's currency.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, TypeAlias

import strawberry
from strawberry.types import Info

from domain.collections.collectors import CollectorView, Rule, RuleSetView
from domain.collections.strategies import Step, StrategyView
from domain.collections.work import RunTotals
from domain.collections.work_models import ActionKind as ActionKindEnum
from domain.collections.work_models import Contact as ContactModel
from domain.collections.work_models import ContactChannel as ContactChannelEnum
from domain.collections.work_models import ContactDirection as ContactDirectionEnum
from domain.collections.work_models import ContactOutcome as ContactOutcomeEnum
from domain.collections.work_models import NotificationChannel as NotificationChannelEnum
from domain.collections.work_models import Promise as PromiseModel
from domain.collections.work_models import PromiseStatus as PromiseStatusEnum
from domain.collections.work_models import QueueItem as QueueItemModel
from domain.collections.work_models import QueueKind as QueueKindEnum
from domain.collections.work_models import QueueStatus as QueueStatusEnum
from domain.credits.states import aging_bucket
from schema.common import Connection
from schema.credit_ledger import AgingBucket, money_of
from schema.credit_registry import Credit
from schema.customers import Customer
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.money import Money, MoneyInput

strawberry.enum(
    QueueKindEnum,
    name="CollectionQueue",
    description="DUE_SOON: an installment falls due within the strategy's horizon, nothing "
    "late. PAST_DUE: something is past due. BROKEN_PROMISE: a promise to pay was broken or "
    "only partly kept in the last 30 days and the debt remains.",
)
strawberry.enum(QueueStatusEnum, name="CollectionQueueItemStatus")
strawberry.enum(
    ActionKindEnum,
    name="CollectionAction",
    description="REMINDER (on or before the due date), NOTICE (aviso de mora), CALL (a "
    "collector calls), LETTER (formal collection letter).",
)
strawberry.enum(
    NotificationChannelEnum,
    name="CollectionChannel",
    description="EMAIL to the customer through SMTP; WEBHOOK to the lender's platform "
    "through its connector, signed.",
)
strawberry.enum(ContactChannelEnum, name="ContactChannel")
strawberry.enum(ContactDirectionEnum, name="ContactDirection")
strawberry.enum(ContactOutcomeEnum, name="ContactOutcome")
strawberry.enum(
    PromiseStatusEnum,
    name="PromiseToPayStatus",
    description="OPEN until paid or its deadline (promisedDate + graceDays); KEPT when "
    "payments in its window reach the amount; PARTIALLY_KEPT / BROKEN when the deadline "
    "passes with part or none of it paid; CANCELLED when withdrawn. Decided automatically "
    "from the payments booked.",
)
CollectionQueue: TypeAlias = QueueKindEnum
CollectionQueueItemStatus: TypeAlias = QueueStatusEnum
CollectionAction: TypeAlias = ActionKindEnum
CollectionChannel: TypeAlias = NotificationChannelEnum
ContactChannel: TypeAlias = ContactChannelEnum
ContactDirection: TypeAlias = ContactDirectionEnum
ContactOutcome: TypeAlias = ContactOutcomeEnum
PromiseToPayStatus: TypeAlias = PromiseStatusEnum


def _bucket(value: str) -> AgingBucket:
    return AgingBucket(value)


# --- collectors and rules ---------------------------------------------------------------
@strawberry.type(description="A user of the lender who works its accounts.")
class Collector:
    id: strawberry.ID
    user_id: strawberry.ID
    subject: str = strawberry.field(description="The user's sign-in subject.")
    display_name: str
    active: bool
    created_at: datetime
    version: int

    @classmethod
    def from_view(cls, view: CollectorView) -> Collector:
        return cls(
            id=strawberry.ID(str(view.id)),
            user_id=strawberry.ID(str(view.user_id)),
            subject=view.subject,
            display_name=view.display_name,
            active=view.active,
            created_at=view.created_at,
            version=view.version,
        )


async def _collector(info: Info, key: uuid.UUID | None) -> Collector | None:
    if key is None:
        return None
    from resolvers.collections_work import loaders

    view = await loaders(info).collector.load(key)
    return Collector.from_view(view) if view is not None else None


@strawberry.type(description="One rule: which items it takes and the collectors who share them.")
class AssignmentRule:
    name: str
    queues: list[CollectionQueue] = strawberry.field(description="Empty: every queue.")
    buckets: list[AgingBucket] = strawberry.field(description="Empty: every bucket.")
    min_amount: Money | None
    max_amount: Money | None
    collector_ids: list[strawberry.ID]

    @strawberry.field(description="The pool, in round-robin order.")
    async def collectors(self, info: Info) -> list[Collector]:
        from resolvers.collections_work import loaders

        keys = [uuid.UUID(str(c)) for c in self.collector_ids]
        views = await loaders(info).collector.load_many(keys)
        return [Collector.from_view(v) for v in views if v is not None]

    @classmethod
    def from_rule(cls, rule: Rule) -> AssignmentRule:
        return cls(
            name=rule.name,
            queues=[QueueKindEnum(q) for q in rule.queues],
            buckets=[_bucket(b) for b in rule.buckets],
            min_amount=money_of(rule.min_amount, rule.currency)
            if rule.min_amount is not None and rule.currency
            else None,
            max_amount=money_of(rule.max_amount, rule.currency)
            if rule.max_amount is not None and rule.currency
            else None,
            collector_ids=[strawberry.ID(str(c)) for c in rule.collector_ids],
        )


@strawberry.type(
    description="A lender's assignment rules, in order: the first that matches an item and "
    "has an active collector takes it (round robin in its pool); none matching: every "
    "active collector in turn. Version 0: none set yet."
)
class AssignmentRuleSet:
    version: int
    rules: list[AssignmentRule]
    created_at: datetime | None
    created_by: str | None

    @classmethod
    def from_view(cls, view: RuleSetView) -> AssignmentRuleSet:
        return cls(
            version=view.version,
            rules=[AssignmentRule.from_rule(r) for r in view.rules],
            created_at=view.created_at,
            created_by=view.created_by,
        )


# --- strategy ---------------------------------------------------------------------------
@strawberry.type(description="One step of a collection strategy.")
class CollectionStep:
    code: str
    day_offset: int = strawberry.field(
        description="Days from the installment's due date: -3 is three days before, 5 is five "
        "days past due."
    )
    action: CollectionAction
    channels: list[CollectionChannel]
    bucket: AgingBucket = strawberry.field(description="The aging bucket the step acts in.")

    @classmethod
    def from_step(cls, step: Step) -> CollectionStep:
        return cls(
            code=step.code,
            day_offset=step.day_offset,
            action=step.action,
            channels=list(step.channels),
            bucket=_bucket(aging_bucket(max(0, step.day_offset)).value),
        )


@strawberry.type(
    description="A lender's collection strategy: its steps as data, versioned. Version 0 is "
    "the network's default (a reminder 3 days before the due date, a call at 5 days past "
    "due, a formal letter at 30)."
)
class CollectionStrategy:
    version: int
    name: str
    steps: list[CollectionStep]
    promise_grace_days: int = strawberry.field(
        description="Days after a promised date that a payment still keeps the promise."
    )
    horizon_days: int = strawberry.field(
        description="Days before a due date that an account enters the DUE_SOON queue."
    )
    created_at: datetime | None
    created_by: str | None

    @classmethod
    def from_view(cls, view: StrategyView) -> CollectionStrategy:
        return cls(
            version=view.version,
            name=view.name,
            steps=[CollectionStep.from_step(s) for s in view.steps],
            promise_grace_days=view.promise_grace_days,
            horizon_days=view.horizon,
            created_at=view.created_at,
            created_by=view.created_by,
        )


# --- promises, contacts, queue ----------------------------------------------------------
async def _credit(info: Info, key: uuid.UUID) -> Credit:
    model = await info.context.loaders.credits.credit.load(key)
    assert model is not None  # foreign key
    return Credit.from_model(model)


async def _customer(info: Info, key: uuid.UUID) -> Customer:
    shown = await Customer.load(info, key)
    assert shown is not None
    return shown


@strawberry.type(description="A customer's promise to pay an amount by a date.")
class PromiseToPay:
    id: strawberry.ID
    status: PromiseToPayStatus
    amount: Money
    paid_amount: Money = strawberry.field(
        description="Paid in its window (madeOn to promisedDate + graceDays) by booked payments."
    )
    made_on: date
    promised_date: date
    grace_days: int
    deadline: date = strawberry.field(description="promisedDate + graceDays.")
    decided_on: date | None
    note: str | None
    cancel_reason: str | None
    created_by: str
    created_at: datetime
    version: int
    credit_id: strawberry.Private[uuid.UUID]
    customer_id: strawberry.Private[uuid.UUID]
    collector_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def credit(self, info: Info) -> Credit:
        return await _credit(info, self.credit_id)

    @strawberry.field
    async def customer(self, info: Info) -> Customer:
        return await _customer(info, self.customer_id)

    @strawberry.field(description="The collector who took it (null: a system or an admin).")
    async def collector(self, info: Info) -> Collector | None:
        return await _collector(info, self.collector_id)

    @classmethod
    def from_model(cls, p: PromiseModel) -> PromiseToPay:
        from datetime import timedelta

        return cls(
            id=strawberry.ID(str(p.id)),
            status=PromiseStatusEnum(p.status),
            amount=money_of(p.amount, p.currency),
            paid_amount=money_of(p.paid_amount, p.currency),
            made_on=p.made_on,
            promised_date=p.promised_date,
            grace_days=p.grace_days,
            deadline=p.promised_date + timedelta(days=p.grace_days),
            decided_on=p.decided_on,
            note=p.note,
            cancel_reason=p.cancel_reason,
            created_by=p.created_by,
            created_at=p.created_at,
            version=p.version,
            credit_id=p.credit_id,
            customer_id=p.customer_id,
            collector_id=p.collector_id,
        )


async def _promise(info: Info, key: uuid.UUID | None) -> PromiseToPay | None:
    if key is None:
        return None
    from resolvers.collections_work import loaders

    model = await loaders(info).promise.load(key)
    return PromiseToPay.from_model(model) if model is not None else None


@strawberry.type(description="A contact with a customer about a credit.")
class CollectionContact:
    id: strawberry.ID
    channel: ContactChannel
    direction: ContactDirection
    outcome: ContactOutcome
    note: str | None
    contacted_at: datetime
    created_by: str
    created_at: datetime
    credit_id: strawberry.Private[uuid.UUID]
    collector_id: strawberry.Private[uuid.UUID | None]
    promise_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def credit(self, info: Info) -> Credit:
        return await _credit(info, self.credit_id)

    @strawberry.field
    async def collector(self, info: Info) -> Collector | None:
        return await _collector(info, self.collector_id)

    @strawberry.field(description="The promise this contact recorded.")
    async def promise(self, info: Info) -> PromiseToPay | None:
        return await _promise(info, self.promise_id)

    @classmethod
    def from_model(cls, c: ContactModel) -> CollectionContact:
        return cls(
            id=strawberry.ID(str(c.id)),
            channel=ContactChannelEnum(c.channel),
            direction=ContactDirectionEnum(c.direction),
            outcome=ContactOutcomeEnum(c.outcome),
            note=c.note,
            contacted_at=c.contacted_at,
            created_by=c.created_by,
            created_at=c.created_at,
            credit_id=c.credit_id,
            collector_id=c.collector_id,
            promise_id=c.promise_id,
        )


@strawberry.type(description="An account to work, in a lender's queue.")
class CollectionQueueItem:
    id: strawberry.ID
    queue: CollectionQueue
    status: CollectionQueueItemStatus
    bucket: AgingBucket
    days_past_due: int
    due_date: date = strawberry.field(
        description="Due date of the installment it is about: the oldest past due, or the "
        "next one due."
    )
    installment_number: int
    amount_due: Money = strawberry.field(
        description="PAST_DUE / BROKEN_PROMISE: everything overdue, late interest included; "
        "DUE_SOON: the installment."
    )
    priority: int = strawberry.field(description="Lower is worked first.")
    assigned_at: datetime | None
    next_action: CollectionAction | None = strawberry.field(
        description="The last strategy step fired on the account (CALL: a call is due)."
    )
    contact_count: int
    last_contact_at: datetime | None
    opened_on: date
    last_run_on: date
    resolved_on: date | None
    resolution: str | None = strawberry.field(
        description="Why it left the queue: CURED, PAID, FELL_DUE, PROMISE_MADE, EXPIRED, or "
        "the credit's status (PAID_OFF, WRITTEN_OFF…)."
    )
    version: int
    credit_id: strawberry.Private[uuid.UUID]
    customer_id: strawberry.Private[uuid.UUID]
    collector_id: strawberry.Private[uuid.UUID | None]
    promise_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def credit(self, info: Info) -> Credit:
        return await _credit(info, self.credit_id)

    @strawberry.field(description="The customer, as the customers' rule lets you see them.")
    async def customer(self, info: Info) -> Customer:
        return await _customer(info, self.customer_id)

    @strawberry.field
    async def collector(self, info: Info) -> Collector | None:
        return await _collector(info, self.collector_id)

    @strawberry.field(description="The open promise of the credit, if any.")
    async def promise(self, info: Info) -> PromiseToPay | None:
        return await _promise(info, self.promise_id)

    @classmethod
    def from_model(cls, i: QueueItemModel) -> CollectionQueueItem:
        return cls(
            id=strawberry.ID(str(i.id)),
            queue=QueueKindEnum(i.kind),
            status=QueueStatusEnum(i.status),
            bucket=_bucket(i.bucket),
            days_past_due=i.days_past_due,
            due_date=i.due_date,
            installment_number=i.installment_number,
            amount_due=money_of(i.amount_due, i.currency),
            priority=i.priority,
            assigned_at=i.assigned_at,
            next_action=ActionKindEnum(i.next_action) if i.next_action else None,
            contact_count=i.contact_count,
            last_contact_at=i.last_contact_at,
            opened_on=i.opened_on,
            last_run_on=i.last_run_on,
            resolved_on=i.resolved_on,
            resolution=i.resolution,
            version=i.version,
            credit_id=i.credit_id,
            customer_id=i.customer_id,
            collector_id=i.collector_id,
            promise_id=i.promise_id,
        )


CollectionQueueConnection = Connection[CollectionQueueItem]
PromiseToPayConnection = Connection[PromiseToPay]
CollectionContactConnection = Connection[CollectionContact]


@strawberry.type(description="What a collections run did.")
class CollectionRunSummary:
    as_of: date
    examined: int
    opened: int
    updated: int
    resolved: int
    steps_fired: int
    steps_skipped: int
    promises_decided: int

    @classmethod
    def from_totals(cls, totals: RunTotals) -> CollectionRunSummary:
        return cls(
            as_of=totals.as_of,
            examined=totals.examined,
            opened=totals.opened,
            updated=totals.updated,
            resolved=totals.resolved,
            steps_fired=totals.steps_fired,
            steps_skipped=totals.steps_skipped,
            promises_decided=totals.promises_decided,
        )


# --- inputs -----------------------------------------------------------------------------
@strawberry.input(description="Filters of a lender's queue.")
class CollectionQueueFilter:
    queue: list[CollectionQueue] | None = None
    bucket: list[AgingBucket] | None = None
    collector_id: strawberry.ID | None = None
    assigned_to_me: bool = strawberry.field(
        default=False, description="Only the items of the calling collector."
    )
    unassigned: bool = False
    status: CollectionQueueItemStatus = QueueStatusEnum.OPEN


@strawberry.input
class EnrollCollectorInput:
    lender_id: strawberry.ID | None = strawberry.field(
        default=None, description="Administrators only: the lender."
    )
    user_id: strawberry.ID | None = None
    subject: str | None = strawberry.field(default=None, description="Or the user's subject.")


@strawberry.input
class SetCollectorActiveInput:
    collector_id: strawberry.ID
    active: bool
    expected_version: int


@strawberry.input(description="One assignment rule.")
class AssignmentRuleInput:
    name: str
    queues: list[CollectionQueue] = strawberry.field(default_factory=list)
    buckets: list[AgingBucket] = strawberry.field(default_factory=list)
    min_amount: MoneyInput | None = None
    max_amount: MoneyInput | None = None
    collector_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input(description="Replace the lender's assignment rules (a new version).")
class SetAssignmentRulesInput:
    lender_id: strawberry.ID | None = None
    rules: list[AssignmentRuleInput]
    expected_version: int = strawberry.field(description="The version you read (0: none yet).")


@strawberry.input(description="One step of a strategy.")
class CollectionStepInput:
    code: str
    day_offset: int
    action: CollectionAction
    channels: list[CollectionChannel] = strawberry.field(default_factory=list)


@strawberry.input(description="A new version of the lender's collection strategy.")
class SetCollectionStrategyInput:
    lender_id: strawberry.ID | None = None
    name: str
    steps: list[CollectionStepInput]
    promise_grace_days: int = 1
    expected_version: int = strawberry.field(description="The version you read (0: default).")


@strawberry.input(description="An amount the customer promises to pay, and by when.")
class PromiseInput:
    amount: MoneyInput
    promised_date: date


@strawberry.input
class MakePromiseToPayInput:
    credit_id: strawberry.ID
    amount: MoneyInput
    promised_date: date
    note: str | None = None


@strawberry.input
class CancelPromiseToPayInput:
    promise_id: strawberry.ID
    reason: str
    expected_version: int


@strawberry.input
class LogContactInput:
    credit_id: strawberry.ID
    channel: ContactChannel
    outcome: ContactOutcome
    direction: ContactDirection = ContactDirectionEnum.OUTBOUND
    note: str | None = None
    contacted_at: datetime | None = strawberry.field(
        default=None, description="When it happened (now by default; up to 30 days back)."
    )
    promise: PromiseInput | None = strawberry.field(
        default=None, description="Required with PROMISE_TO_PAY."
    )


@strawberry.input
class AssignQueueItemInput:
    item_id: strawberry.ID
    collector_id: strawberry.ID | None = strawberry.field(
        default=None, description="Null: back to the rules at the next run."
    )
    expected_version: int


@strawberry.input
class RunCollectionsInput:
    lender_id: strawberry.ID | None = None


# --- payloads ---------------------------------------------------------------------------
@strawberry.type
class EnrollCollectorSuccess:
    collector: Collector


@strawberry.type
class SetCollectorActiveSuccess:
    collector: Collector


@strawberry.type
class SetAssignmentRulesSuccess:
    rule_set: AssignmentRuleSet


@strawberry.type
class SetCollectionStrategySuccess:
    strategy: CollectionStrategy


@strawberry.type
class MakePromiseToPaySuccess:
    promise: PromiseToPay


@strawberry.type
class CancelPromiseToPaySuccess:
    promise: PromiseToPay


@strawberry.type
class LogContactSuccess:
    contact: CollectionContact
    promise: PromiseToPay | None


@strawberry.type
class AssignQueueItemSuccess:
    item: CollectionQueueItem


@strawberry.type
class RunCollectionsSuccess:
    summary: CollectionRunSummary


_ERRORS = ValidationError | NotFoundError | ForbiddenError | ConflictError
EnrollCollectorPayload = Annotated[
    EnrollCollectorSuccess | _ERRORS, strawberry.union("EnrollCollectorPayload")
]
SetCollectorActivePayload = Annotated[
    SetCollectorActiveSuccess | _ERRORS, strawberry.union("SetCollectorActivePayload")
]
SetAssignmentRulesPayload = Annotated[
    SetAssignmentRulesSuccess | _ERRORS, strawberry.union("SetAssignmentRulesPayload")
]
SetCollectionStrategyPayload = Annotated[
    SetCollectionStrategySuccess | _ERRORS, strawberry.union("SetCollectionStrategyPayload")
]
MakePromiseToPayPayload = Annotated[
    MakePromiseToPaySuccess | _ERRORS, strawberry.union("MakePromiseToPayPayload")
]
CancelPromiseToPayPayload = Annotated[
    CancelPromiseToPaySuccess | _ERRORS | InvalidTransitionError,
    strawberry.union("CancelPromiseToPayPayload"),
]
LogContactPayload = Annotated[LogContactSuccess | _ERRORS, strawberry.union("LogContactPayload")]
AssignQueueItemPayload = Annotated[
    AssignQueueItemSuccess | _ERRORS | InvalidTransitionError,
    strawberry.union("AssignQueueItemPayload"),
]
RunCollectionsPayload = Annotated[
    RunCollectionsSuccess | _ERRORS, strawberry.union("RunCollectionsPayload")
]
