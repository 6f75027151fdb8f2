"""Root fields on the compiled path: lists (connections), one object by id, ``node`` /
``nodes``, and objects a domain function computes.

Each root field a domain opts in is a :class:`ListRoot`, :class:`OneRoot` or
:class:`ObjectRoot` registered in :data:`ROOTS` by its GraphQL name; the node types
``node``/``nodes`` may return are :class:`NodeRule`\\ s in :data:`NODES`. Their functions
call the same domain checks and queries as the resolvers, in the same order, so a refusal
(a ``Forbidden``, a ``ValidationFailed``) is raised here as there — and the operation is
then answered by the normal path, which gives the error its usual shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from graphql import GraphQLField, GraphQLObjectType, GraphQLOutputType
from graphql.execution.collect_fields import FieldDetails

from app.compiled.plan import (
    Arguments,
    Batch,
    NotCompilable,
    ObjScope,
    PageValue,
    Planner,
    RowScope,
    RowSet,
    fetch_rows,
    run_batches,
    unwrap,
)
from domain.shared.reads import KeysetQuery


@dataclass(frozen=True)
class ListRoot:
    """A connection of ``node`` rows: ``query(req, arguments)`` builds the domain's
    :class:`KeysetQuery` (after the same checks as the resolver). ``cursor_keys``: every
    column a cursor of this list may be made of (the query names the ones it uses).
    ``counts(req, query, with_total, with_extra)`` (async) gives ``(total, extra)`` when
    the list counts more than ``totalCount`` (the cases' facets)."""

    node: str
    query: Callable[[Any, dict[str, Any]], KeysetQuery]
    cursor_keys: tuple[str, ...]
    counts: Callable[..., Awaitable[tuple[int | None, Any]]] | None = None
    #: Connection fields besides edges/pageInfo/totalCount that ``counts`` answers.
    extra_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OneRoot:
    """One ``type`` row: ``key(req, arguments)`` checks the caller and decodes the id
    (None: the answer is null); ``visible(req, table)`` is the condition the row must
    meet (None: any row)."""

    type: str
    key: Callable[[Any, dict[str, Any]], Any]
    visible: Callable[[Any, sa.FromClause], sa.ColumnElement[bool]] | None = None
    #: The column the key is compared with (the type's key by default).
    column: str | None = None


@dataclass(frozen=True)
class ObjectRoot:
    """A value a domain function computes (``fetch(req, arguments)``, async), shaped as
    the object-backed ``type``."""

    type: str
    fetch: Callable[[Any, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class NodeRule:
    """How ``node``/``nodes`` read a type: ``check(req)`` refuses the caller (for the
    whole field, like the type's ``resolve_nodes``); ``visible(req, table)`` filters the
    rows (None: every row)."""

    check: Callable[[Any], None]
    visible: Callable[[Any, sa.FromClause], sa.ColumnElement[bool]] | None = None


ROOTS: dict[str, ListRoot | OneRoot | ObjectRoot] = {}
NODES: dict[str, NodeRule] = {}


# --- steps: what runs per request -------------------------------------------------------------
class Step:
    shape: Callable[..., Any]

    async def run(self, req: Any) -> Any:
        raise NotImplementedError


@dataclass
class ListStep(Step):
    root: ListRoot
    arguments: Arguments
    rows: RowSet
    key_positions: dict[str, int]
    with_total: bool
    with_extra: bool
    shape: Callable[..., Any] = field(default=lambda *a: None)

    async def run(self, req: Any) -> Any:
        args = self.arguments.values(req.variables)
        query = self.root.query(req, args)
        items: list[Any] = []
        has_next = False
        if query.reads_rows:
            stmt = query.statement(
                *self.rows.select_list(req), select_from=self.rows.from_clause(req)
            )
            cut, has_next = query.cut(await fetch_rows(req, stmt))
            items = list(cut)
        total: int | None = None
        extra: Any = None
        if self.root.counts is not None and (self.with_total or self.with_extra):
            total, extra = await self.root.counts(req, query, self.with_total, self.with_extra)
        elif self.with_total:
            total = int((await req.session.execute(query.count_statement())).scalar_one())
        await run_batches(req, self.rows.batches, items)
        index: tuple[int, ...] = ()
        if self.key_positions:
            try:
                index = tuple(self.key_positions[k] for k in query.cursor_keys)
            except KeyError:
                raise NotCompilable("a cursor key was not planned") from None
        return PageValue(items, has_next, query.has_previous, total, query.cursor, index, extra)


@dataclass
class OneStep(Step):
    root: OneRoot
    arguments: Arguments
    rows: RowSet
    table: sa.Table
    shape: Callable[..., Any] = field(default=lambda *a: None)

    async def run(self, req: Any) -> Any:
        key = self.root.key(req, self.arguments.values(req.variables))
        if key is None:
            return None
        column = self.table.c[self.root.column or "id"]
        conditions = [column == key]
        if self.root.visible is not None:
            conditions.append(self.root.visible(req, self.table))
        stmt = (
            sa.select(*self.rows.select_list(req))
            .select_from(self.rows.from_clause(req))
            .where(*conditions)
        )
        rows = await fetch_rows(req, stmt)
        if not rows:
            return None
        await run_batches(req, self.rows.batches, rows[:1])
        return rows[0]


@dataclass
class NodesStep(Step):
    """``node`` (one) or ``nodes`` (many): per node type a statement and a shape."""

    many: bool
    arguments: Arguments
    types: dict[str, tuple[RowSet, sa.Table, NodeRule, Callable[..., Any]]]
    shape: Callable[..., Any] = field(default=lambda *a: None)

    async def run(self, req: Any) -> Any:
        from resolvers.node import _decode  # the normal path's decoding, exactly

        args = self.arguments.values(req.variables)
        raw = args["ids"] if self.many else [args["id"]]
        if self.many and len(raw) > req.settings.max_page_size:
            raise NotCompilable("too many ids: the normal path refuses them")
        decoded = [_decode(i) for i in raw]
        wanted: dict[str, list[uuid.UUID]] = {}
        for item in decoded:
            if item is not None:
                if item[0] not in self.types:
                    raise NotCompilable(f"node of type {item[0]}")
                wanted.setdefault(item[0], []).append(item[1])
        found: dict[tuple[str, uuid.UUID], Any] = {}
        for type_name, keys in wanted.items():
            rows, table, rule, _ = self.types[type_name]
            rule.check(req)
            conditions: list[sa.ColumnElement[bool]] = [table.c.id.in_(list(dict.fromkeys(keys)))]
            if rule.visible is not None:
                conditions.append(rule.visible(req, table))
            stmt = (
                sa.select(*rows.select_list(req))
                .select_from(rows.from_clause(req))
                .where(*conditions)
            )
            result = await fetch_rows(req, stmt)
            await run_batches(req, rows.batches, result)
            for row in result:
                found[(type_name, row[0])] = row
        out = []
        for item in decoded:
            row = found.get(item) if item is not None else None
            out.append(None if row is None else (self.types[item[0]][3], row))  # type: ignore[index]
        return out if self.many else out[0]


@dataclass
class ObjectStep(Step):
    root: ObjectRoot
    arguments: Arguments
    batches: list[Batch]
    shape: Callable[..., Any] = field(default=lambda *a: None)

    async def run(self, req: Any) -> Any:
        value = await self.root.fetch(req, self.arguments.values(req.variables))
        if value is not None and self.batches:
            await run_batches(req, self.batches, [value])
        return value


# --- planning a root field ------------------------------------------------------------------
def plan_root(
    planner: Planner, name: str, details: list[FieldDetails], definition: GraphQLField
) -> Step:
    if name in ("node", "nodes"):
        return _plan_nodes(planner, name == "nodes", details, definition)
    root = ROOTS.get(name)
    if root is None:
        raise NotCompilable(f"Query.{name} is not compiled")
    arguments = planner.arguments(definition, details)
    if isinstance(root, ListRoot):
        return _plan_list(planner, root, arguments, details, definition.type)
    if isinstance(root, OneRoot):
        spec = planner.spec(root.type)
        if spec.table is None:
            raise NotCompilable("OneRoot of a row-backed type")
        _check_type(definition.type, spec.name)
        rows = RowSet(base=spec.table)
        scope = RowScope(spec, rows, spec.table, "v0", None)
        scope.position(spec.key)  # a row is found even when no column is selected
        body = planner.object(scope, details, spec.name)
        step = OneStep(root, arguments, rows, spec.table)
        step.shape = planner.function(f"None if v0 is None else {body}")
        return step
    spec = planner.spec(root.type)
    _check_type(definition.type, spec.name)
    batches: list[Batch] = []
    value = ObjScope(spec, "v0", None, batches)
    body = planner.object(value, details, spec.name)
    object_step = ObjectStep(root, arguments, batches)
    object_step.shape = planner.function(f"None if v0 is None else {body}")
    return object_step


def _check_type(type_: GraphQLOutputType, name: str) -> None:
    inner, _ = unwrap(type_)
    if not isinstance(inner, GraphQLObjectType) or inner.name != name:
        raise NotCompilable(f"expected {name}")


def _plan_list(
    planner: Planner,
    root: ListRoot,
    arguments: Arguments,
    details: list[FieldDetails],
    type_: GraphQLOutputType,
) -> Step:
    spec = planner.spec(root.node)
    if spec.table is None:
        raise NotCompilable("lists of rows")
    rows = RowSet(base=spec.table)
    scope = RowScope(spec, rows, spec.table, "r0", None)
    scope.position(spec.key)  # a statement selects something even for `totalCount` alone
    inner, _ = unwrap(type_)
    if not isinstance(inner, GraphQLObjectType):
        raise NotCompilable("a connection")
    wanted = planner.subfields(details, inner)
    names = {d[0].node.name.value for d in wanted.values()}
    extra = names & root.extra_fields
    body, index, with_total = planner.connection("v0", scope, details, type_, root.cursor_keys)
    positions = dict(zip(root.cursor_keys, index, strict=False)) if index else {}
    step = ListStep(root, arguments, rows, positions, with_total, bool(extra))
    step.shape = planner.function(body)
    return step


def _plan_nodes(
    planner: Planner, many: bool, details: list[FieldDetails], definition: GraphQLField
) -> Step:
    arguments = planner.arguments(definition, details)
    types: dict[str, tuple[RowSet, sa.Table, NodeRule, Callable[..., Any]]] = {}
    for type_name, rule in NODES.items():
        spec = planner.spec(type_name)
        if spec.table is None:
            continue
        gql_type = planner.object_type(type_name)
        rows = RowSet(base=spec.table)
        scope = RowScope(spec, rows, spec.table, "v0", None)
        scope.position("id")  # position 0: the key
        try:
            body = planner.object(scope, details, gql_type.name)
        except NotCompilable:
            continue  # an id of this type is answered by the normal path
        types[type_name] = (rows, spec.table, rule, planner.function(body))
    step = NodesStep(many, arguments, types)
    if many:
        step.shape = planner.function("[None if x is None else x[0](x[1], req, B) for x in v0]")
    else:
        step.shape = planner.function("None if v0 is None else v0[0](v0[1], req, B)")
    return step
