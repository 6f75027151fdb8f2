from __future__ import annotations

import strawberry

from resolvers import collections_work as r
from schema.collections_work import (
    AssignmentRuleSet,
    AssignQueueItemPayload,
    CancelPromiseToPayPayload,
    CollectionContactConnection,
    CollectionQueueConnection,
    CollectionStrategy,
    Collector,
    EnrollCollectorPayload,
    LogContactPayload,
    MakePromiseToPayPayload,
    PromiseToPayConnection,
    RunCollectionsPayload,
    SetAssignmentRulesPayload,
    SetCollectionStrategyPayload,
    SetCollectorActivePayload,
)

_LENDER = " Lender staff see their own lender's; administrators pass lenderId."


@strawberry.type
class CollectionsWorkQuery:
    collection_queue: CollectionQueueConnection = strawberry.field(
        resolver=r.collection_queue,
        description="The lender's work queues, in working order (priority, then id)." + _LENDER,
    )
    collectors: list[Collector] = strawberry.field(
        resolver=r.collectors, description="The lender's collectors." + _LENDER
    )
    assignment_rules: AssignmentRuleSet = strawberry.field(
        resolver=r.assignment_rules,
        description="The lender's assignment rules in force." + _LENDER,
    )
    collection_strategy: CollectionStrategy = strawberry.field(
        resolver=r.collection_strategy,
        description="The lender's collection strategy in force." + _LENDER,
    )
    promises_to_pay: PromiseToPayConnection = strawberry.field(
        resolver=r.promises_to_pay, description="Promises to pay, newest first." + _LENDER
    )
    collection_contacts: CollectionContactConnection = strawberry.field(
        resolver=r.collection_contacts,
        description="The contact log, latest first." + _LENDER,
    )


@strawberry.type
class CollectionsWorkMutation:
    enroll_collector: EnrollCollectorPayload = strawberry.mutation(
        resolver=r.enroll_collector,
        description="Enroll an agent or supervisor of the lender as a collector (supervisors).",
    )
    set_collector_active: SetCollectorActivePayload = strawberry.mutation(
        resolver=r.set_collector_active,
        description="Switch a collector on or off (supervisors).",
    )
    set_assignment_rules: SetAssignmentRulesPayload = strawberry.mutation(
        resolver=r.set_assignment_rules,
        description="Replace the lender's assignment rules by a new version (supervisors).",
    )
    set_collection_strategy: SetCollectionStrategyPayload = strawberry.mutation(
        resolver=r.set_collection_strategy,
        description="A new version of the lender's collection strategy (supervisors).",
    )
    make_promise_to_pay: MakePromiseToPayPayload = strawberry.mutation(
        resolver=r.make_promise_to_pay,
        description="Record a customer's promise to pay (decided by the payments that arrive).",
    )
    cancel_promise_to_pay: CancelPromiseToPayPayload = strawberry.mutation(
        resolver=r.cancel_promise_to_pay, description="Withdraw an open promise to pay."
    )
    log_contact: LogContactPayload = strawberry.mutation(
        resolver=r.log_contact,
        description="Log a contact with a customer; PROMISE_TO_PAY records its promise too.",
    )
    assign_queue_item: AssignQueueItemPayload = strawberry.mutation(
        resolver=r.assign_queue_item,
        description="Give a queue item to a collector, or back to the rules (supervisors).",
    )
    run_collections: RunCollectionsPayload = strawberry.mutation(
        resolver=r.run_collections,
        description="Run today's collections for the lender now: queues, assignment, "
        "promise deadlines and strategy steps (supervisors). Idempotent per day.",
    )
