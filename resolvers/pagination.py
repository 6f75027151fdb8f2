from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from strawberry import relay
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from domain.shared.pagination import Page
from schema.common import Connection, Edge

M = TypeVar("M")
N = TypeVar("N")


def selects(info: Info, name: str) -> bool:
    """Does the client's selection of this field include ``name`` (through fragments too)?"""

    def walk(selections: list[Any]) -> bool:
        for sel in selections:
            if isinstance(sel, SelectedField) and sel.name == name:
                return True
            if isinstance(sel, FragmentSpread | InlineFragment) and walk(sel.selections):
                return True
        return False

    return any(walk(field.selections) for field in info.selected_fields)


def to_connection(page: Page[M], convert: Callable[[M], N]) -> Connection[N]:
    edges = [
        Edge(cursor=c, node=convert(item)) for item, c in zip(page.items, page.cursors, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        total_count=page.total,
    )
