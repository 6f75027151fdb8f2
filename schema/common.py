"""Relay connections with keyset cursors."""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry
from strawberry import relay

T = TypeVar("T")


@strawberry.type(description="An item of a list and the cursor that points at it.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list, with keyset cursors.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: relay.PageInfo
    total_count: int | None = strawberry.field(
        description="How many items match, counted only when you ask for it."
    )
