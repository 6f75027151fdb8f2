"""Subscription events must not accumulate executor state (graphql-core 3.3 memoizes
sub-field collection per executor, and per-event executors are copies sharing the memo)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import parse

from schema.execution import TramaExecutionContext


@strawberry.type
class Item:
    name: str
    tags: list[str]


@strawberry.type
class Query:
    ping: str = "pong"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def items(self) -> AsyncGenerator[Item, None]:
        yield Item(name="x", tags=["a"])


async def test_per_event_executors_do_not_grow_the_subscription_memo() -> None:
    schema = strawberry.Schema(query=Query, subscription=Subscription)
    document = parse("subscription { items { name tags } }")
    parent = TramaExecutionContext.build(schema._schema, document)
    assert isinstance(parent, TramaExecutionContext)
    for _ in range(50):
        event = parent.build_per_event_executor(Item(name="y", tags=["b", "c"]))
        result = await _resolve(event.execute_operation(False))
        assert result.errors is None, result.errors
        assert result.data == {"items": {"name": "y", "tags": ["b", "c"]}}
    assert parent._relevant_sub_fields == {}


async def test_the_stock_executor_would_grow_it() -> None:
    """The behaviour the subclass exists for (if graphql-core fixes it, drop the subclass)."""
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

    schema = strawberry.Schema(query=Query, subscription=Subscription)
    document = parse("subscription { items { name tags } }")
    parent = StrawberryGraphQLCoreExecutionContext.build(schema._schema, document)
    for _ in range(20):
        event = parent.build_per_event_executor(Item(name="y", tags=["b"]))
        await _resolve(event.execute_operation(False))
    assert len(parent._relevant_sub_fields) >= 20


async def _resolve(value: object) -> object:
    import inspect

    while inspect.isawaitable(value):
        value = await value
    return value
