"""From a validated selection to SQL column lists, batches and one generated function.

:class:`Planner` walks an operation's selections with graphql-core's own field collection
(fragments, aliases, merged fields, ``@include``/``@skip``: the same grouping and order the
executor uses, hence the same response keys in the same order) over the declarations of
:mod:`app.compiled.spec`. It produces

- :class:`RowSet`\\ s: the columns one statement selects (a row-backed type and its to-one
  relations, joined), each value given a fixed position in the row;
- :class:`Batch`\\ es: the to-many lists, pages and domain computations read after their
  parents, one statement (or one domain call) per level whatever the number of parents;
- Python source: one function per root field, a single expression of nested dict and list
  displays over row positions and attributes, compiled once. Objects that need a name of
  their own (a joined row that may be missing, a page, a computed value) are bound with
  assignment expressions, so no per-row function call is paid but the converters'.

Anything the declarations do not cover raises :class:`NotCompilable`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.relay.utils import to_base64
from strawberry.types.arguments import convert_arguments

from app.compiled.spec import (
    RAW,
    SELF,
    Catalog,
    Computed,
    Const,
    Custom,
    Input,
    Items,
    Many,
    Obj,
    One,
    Pages,
    Sub,
    TypeSpec,
    Up,
    Val,
    _Principal,
)
from domain.shared.reads import cut_nested


class NotCompilable(Exception):
    """The operation (or a value at run time) is not for the compiled path: the normal
    path answers it."""


# --- scalars --------------------------------------------------------------------------------
def _iso(value: date | datetime) -> str:
    return value.isoformat()


def _decimal(value: Decimal | int) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise NotCompilable(f"{type(value).__name__} is not a Decimal")


def _long(value: Any) -> str:
    return str(int(value))


def _id(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


_SCALARS: dict[str, Callable[[Any], Any] | None] = {
    "String": None,
    "Int": None,
    "Boolean": None,
    "Float": None,
    "JSON": None,
    "ID": _id,
    "DateTime": _iso,
    "Date": _iso,
    "Decimal": _decimal,
    "Long": _long,
}


def global_id(type_name: str) -> Callable[[Any], str]:
    """The Relay id of a ``type_name`` whose key is a value (strawberry's encoding)."""

    def encode(key: Any) -> str:
        return to_base64(type_name, str(key))

    return encode


def unwrap(type_: GraphQLOutputType) -> tuple[GraphQLOutputType, bool]:
    """The type without its non-null wrapper, and whether it was nullable."""
    if isinstance(type_, GraphQLNonNull):
        return type_.of_type, False
    return type_, True


# --- what a plan produces -------------------------------------------------------------------
class Dyn:
    """A column the domain builds per request (``factory(req)``)."""

    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[Any], sa.ColumnElement[Any]]) -> None:
        self.factory = factory


@dataclass
class RowSet:
    """The column list of one statement over ``base`` and the tables joined to it, and the
    batches read after its rows."""

    base: sa.FromClause
    columns: list[Any] = field(default_factory=list)
    index: dict[tuple[int, str], int] = field(default_factory=dict)
    joins: list[tuple[sa.FromClause, Callable[[Any], sa.ColumnElement[bool]]]] = field(
        default_factory=list
    )
    batches: list[Batch] = field(default_factory=list)
    dynamic: bool = False

    def add(self, key: tuple[int, str], column: Any) -> int:
        found = self.index.get(key)
        if found is not None:
            return found
        self.columns.append(column)
        self.dynamic = self.dynamic or isinstance(column, Dyn)
        position = len(self.columns) - 1
        self.index[key] = position
        return position

    def select_list(self, req: Any) -> list[sa.ColumnElement[Any]]:
        if not self.dynamic:
            return self.columns
        return [c.factory(req) if isinstance(c, Dyn) else c for c in self.columns]

    def from_clause(self, req: Any, base: sa.FromClause | None = None) -> sa.FromClause:
        out = self.base if base is None else base
        for alias, on in self.joins:
            out = out.outerjoin(alias, on(req))
        return out

    def labelled(self, req: Any) -> list[sa.ColumnElement[Any]]:
        """The columns labelled ``c0``, ``c1``… (inside a subquery names must be unique)."""
        return [c.label(f"c{i}") for i, c in enumerate(self.select_list(req))]


@dataclass(frozen=True)
class Arguments:
    """A field's arguments as its resolver receives them (Python names, input objects and
    enums converted by strawberry), coerced per request unless they are all literals."""

    definition: GraphQLField
    details: FieldDetails
    convert: Callable[[dict[str, Any]], dict[str, Any]]
    constant: dict[str, Any] | None = None

    def values(self, variables: VariableValues) -> dict[str, Any]:
        if self.constant is not None:
            return self.constant
        raw = get_argument_values(
            self.definition,
            self.details.node,
            variables,
            self.details.fragment_variable_values,
        )
        return self.convert(raw)


async def run_batches(req: Any, batches: list[Batch], parents: list[Any]) -> None:
    for batch in batches:
        await batch.run(req, parents)


async def fetch_rows(req: Any, statement: Any) -> list[Any]:
    return list((await req.session.execute(statement)).all())


@dataclass
class Batch:
    """Values read after their parents (one statement or one domain call for all of
    them), kept in ``req.slots[slot]`` by the parent's key."""

    slot: int
    key: Callable[[Any], Any]
    arguments: Arguments | None
    #: Parent values the fetch needs besides the key.
    needs: tuple[Callable[[Any], Any], ...] = ()

    def args(self, req: Any) -> dict[str, Any]:
        return self.arguments.values(req.variables) if self.arguments is not None else {}

    def parents(self, items: list[Any]) -> dict[Any, tuple[Any, ...]]:
        out: dict[Any, tuple[Any, ...]] = {}
        key = self.key
        for item in items:
            value = key(item)
            if value is not None and value not in out:
                out[value] = tuple(need(item) for need in self.needs)
        return out

    async def run(self, req: Any, items: list[Any]) -> None:
        raise NotImplementedError


@dataclass
class ManyBatch(Batch):
    spec: Many | None = None
    rows: RowSet | None = None

    async def run(self, req: Any, items: list[Any]) -> None:
        assert self.spec is not None and self.rows is not None
        keys = list(self.parents(items))
        found: dict[Any, list[Any]] = {}
        req.slots[self.slot] = found
        if not keys:
            return
        built = self.spec.query(req, keys, self.args(req))
        if built is None:
            return
        from_, conditions, order_by = built
        stmt = (
            sa.select(*self.rows.select_list(req))
            .select_from(self.rows.from_clause(req, from_))
            .where(*conditions)
            .order_by(*order_by)
        )
        rows = await fetch_rows(req, stmt)
        for row in rows:
            found.setdefault(row[0], []).append(row)
        await run_batches(req, self.rows.batches, rows)


@dataclass
class OneBatch(Batch):
    """A to-one relation from an object (not a row): the related rows by key."""

    spec: TypeSpec | None = None
    rows: RowSet | None = None

    async def run(self, req: Any, items: list[Any]) -> None:
        assert self.spec is not None and self.spec.table is not None and self.rows is not None
        keys = list(self.parents(items))
        found: dict[Any, Any] = {}
        req.slots[self.slot] = found
        if not keys:
            return
        table = self.spec.table
        stmt = (
            sa.select(*self.rows.select_list(req))
            .select_from(self.rows.from_clause(req))
            .where(table.c[self.spec.key].in_(keys))
        )
        rows = await fetch_rows(req, stmt)
        for row in rows:
            found[row[0]] = row
        await run_batches(req, self.rows.batches, rows)


@dataclass
class PagesBatch(Batch):
    spec: Pages | None = None
    rows: RowSet | None = None
    cursor_index: tuple[int, ...] = ()
    with_total: bool = False

    async def run(self, req: Any, items: list[Any]) -> None:
        assert self.spec is not None and self.rows is not None
        parents = self.parents(items)
        found: dict[Any, PageValue] = {}
        req.slots[self.slot] = found
        if not parents:
            return
        args = self.args(req)
        all_rows: list[Any] = []
        for query in await self.spec.query(req, args, parents):
            ids = [k for k in query.parent_ids]
            if not query.reads_rows:  # the domain's rule for empty pages (NestedQuery)
                rows: list[Any] = []
            else:
                sub = query.subquery(
                    *self.rows.labelled(req), select_from=self.rows.from_clause(req)
                )
                width = len(self.rows.columns)
                rows = await fetch_rows(
                    req, query.outer(sub, *[sub.c[f"c{i}"] for i in range(width)])
                )
            pages = cut_nested(
                [(row[0], row) for row in rows],
                ids,
                limit=query.limit,
                has_previous=query.has_previous,
                cursor=None,
            )
            for parent, page in pages.items():
                found[parent] = PageValue(
                    page.items,
                    page.has_next,
                    page.has_previous,
                    None,
                    query.cursor,
                    self.cursor_index,
                )
                all_rows.extend(page.items)
        if self.with_total and self.spec.count is not None:
            counts = await self.spec.count(req, list(parents), args)
            for parent, value in found.items():
                value.total = counts.get(parent, 0)
        await run_batches(req, self.rows.batches, all_rows)


@dataclass
class CustomBatch(Batch):
    spec: Custom | None = None
    children: list[Batch] = field(default_factory=list)

    async def run(self, req: Any, items: list[Any]) -> None:
        assert self.spec is not None
        parents = self.parents(items)
        if not parents:
            req.slots[self.slot] = {}
            return
        values = await self.spec.fetch(req, parents, self.args(req))
        req.slots[self.slot] = values
        if self.children:
            await run_batches(req, self.children, [v for v in values.values() if v is not None])


@dataclass
class PageValue:
    """A connection's page as the generated code reads it."""

    items: list[Any]
    has_next: bool
    has_previous: bool
    total: int | None
    cursor: Callable[..., str] | None
    cursor_index: tuple[int, ...]
    extra: Any = None

    def cursor_of(self, row: Any) -> str | None:
        if self.cursor is None:
            return None
        return self.cursor(*[row[i] for i in self.cursor_index])

    @property
    def start(self) -> str | None:
        return self.cursor_of(self.items[0]) if self.items else None

    @property
    def end(self) -> str | None:
        return self.cursor_of(self.items[-1]) if self.items else None


# --- scopes: where an input's value comes from in the generated code -------------------------
class Scope:
    spec: TypeSpec
    parent: Scope | None
    var: str = ""
    #: Values given by the enclosing object (``bind`` of the field that made this scope):
    #: name → input of ``parent``.
    extra: dict[str, Input] = {}

    def value(self, name: str) -> str:
        raise NotImplementedError

    def attach(self, batch: Batch) -> None:
        raise NotCompilable(f"{self.spec.name} cannot read lists of its own")


class RowScope(Scope):
    """A row-backed type read from ``table`` (the statement's main table or an alias
    joined to it): values are positions of the row variable."""

    def __init__(
        self, spec: TypeSpec, rows: RowSet, table: sa.FromClause, var: str, parent: Scope | None
    ) -> None:
        self.spec = spec
        self.rows = rows
        self.table = table
        self.var = var
        self.parent = parent

    def position(self, name: str) -> int:
        key = (id(self.table), name)
        derived = self.spec.derived.get(name)
        if derived is not None:
            if derived.base_only and self.table is not self.spec.table:
                raise NotCompilable(f"{self.spec.name}.{name} is read only as a main table")
            table = self.table
            factory = derived.fn
            return self.rows.add(key, Dyn(lambda req: factory(req, table)))
        if name not in self.table.c:
            raise NotCompilable(f"{self.spec.name} has no column {name}")
        return self.rows.add(key, self.table.c[name])

    def value(self, name: str) -> str:
        return f"{self.var}[{self.position(name)}]"

    def attach(self, batch: Batch) -> None:
        self.rows.batches.append(batch)


class ObjScope(Scope):
    """An object-backed type: values are attributes of the variable. ``batches`` (when
    given) receive the lists read for these objects."""

    def __init__(
        self, spec: TypeSpec, var: str, parent: Scope | None, batches: list[Batch] | None = None
    ) -> None:
        self.spec = spec
        self.var = var
        self.parent = parent
        self.batches = batches

    def value(self, name: str) -> str:
        if name == SELF:
            return self.var
        if not name.isidentifier():
            raise NotCompilable(f"bad attribute {name!r}")
        return f"{self.var}.{name}"

    def attach(self, batch: Batch) -> None:
        if self.batches is None:
            super().attach(batch)
        else:
            self.batches.append(batch)


class BoundScope(Scope):
    """An object made of its parent's values (``Obj``): inputs are renamed by ``bind``."""

    def __init__(
        self, spec: TypeSpec, outer: Scope, bind: dict[str, Input], planner: Planner
    ) -> None:
        self.spec = spec
        self.outer = outer
        self.bind = bind
        self.planner = planner
        self.parent = outer.parent
        self.var = outer.var

    def value(self, name: str) -> str:
        return self.planner.input(self.outer, self.bind.get(name, name))

    def attach(self, batch: Batch) -> None:
        self.outer.attach(batch)


class ItemScope(Scope):
    """An item of a list an object holds (``Items``), with extra values of the enclosing
    object (``Items.bind``)."""

    def __init__(
        self, spec: TypeSpec, var: str, outer: Scope, bind: dict[str, Input], planner: Planner
    ) -> None:
        self.spec = spec
        self.var = var
        self.outer = outer
        self.bind = bind
        self.planner = planner
        self.parent = outer

    def value(self, name: str) -> str:
        if name in self.bind:
            return self.planner.input(self.outer, self.bind[name])
        if name == SELF:
            return self.var
        if not name.isidentifier():
            raise NotCompilable(f"bad attribute {name!r}")
        return f"{self.var}.{name}"


class ValueScope(Scope):
    """A scalar computed for the parent (``Custom`` with ``scalar``): its one input."""

    def __init__(self, spec: TypeSpec, code: str, parent: Scope | None) -> None:
        self.spec = spec
        self.code = code
        self.parent = parent

    def value(self, name: str) -> str:
        return self.code


def _has_variable(node: Any) -> bool:
    kind = getattr(node, "kind", "")
    if kind == "variable":
        return True
    if kind == "list_value":
        return any(_has_variable(v) for v in node.values)
    if kind == "object_value":
        return any(_has_variable(f.value) for f in node.fields)
    return False


# --- the planner ----------------------------------------------------------------------------
class Planner:
    """Plans the root fields of one operation (see the module docstring)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        catalog: Catalog,
        fragments: dict[str, FragmentDetails],
        operation: OperationDefinitionNode,
        variables: VariableValues,
        strawberry: tuple[Any, Any],
    ) -> None:
        self.schema = schema
        self.strawberry = strawberry  # (scalar registry, config) to convert arguments
        self.catalog = catalog
        self.fragments = fragments
        self.operation = operation
        self.variables = variables
        self.namespace: dict[str, Any] = {}
        self.sources: list[str] = []
        # From 1: the roots name their value v0 / r0 (app/compiled/roots.py).
        self._names = itertools.count(1)
        self._objects: dict[int, str] = {}
        self.slots = 0

    # names in the generated module ---------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}"

    def ref(self, obj: Any, prefix: str = "_k") -> str:
        """A name for ``obj`` in the generated module (one per object)."""
        name = self._objects.get(id(obj))
        if name is None:
            name = self.fresh(prefix)
            self.namespace[name] = obj
            self._objects[id(obj)] = name
        return name

    def slot(self) -> int:
        self.slots += 1
        return self.slots - 1

    # inputs ----------------------------------------------------------------------------------
    def input(self, scope: Scope, value: Input) -> str:
        if isinstance(value, str):
            if value in scope.extra:
                if scope.parent is None:
                    raise NotCompilable("a bound value without an enclosing object")
                return self.input(scope.parent, scope.extra[value])
            return scope.value(value)
        if isinstance(value, Up):
            if scope.parent is None:
                raise NotCompilable("no enclosing object")
            return self.input(scope.parent, value.input)
        if isinstance(value, Computed):
            args = ", ".join(self.input(scope, i) for i in value.inputs)
            return f"{self.ref(value.fn, '_f')}({args})"
        if isinstance(value, Const):
            return self.ref(value.value, "_c")
        if isinstance(value, _Principal):
            return "req.principal"
        raise NotCompilable(f"unknown input {value!r}")

    def getter(self, scope: Scope, value: Input) -> Callable[[Any], Any]:
        """A function of the scope's variable giving ``value`` (a batch's parent key)."""
        code = self.input(scope, value)
        if not scope.var:
            raise NotCompilable("lists hang from rows and objects only")
        source = f"lambda {scope.var}: {code}"
        return eval(source, self.namespace)  # noqa: S307

    # selections ------------------------------------------------------------------------------
    def subfields(
        self, details: list[FieldDetails], type_: GraphQLObjectType
    ) -> dict[str, list[FieldDetails]]:
        for detail in details:
            _check_directives(detail.node)
        collected = collect_subfields(
            self.schema, self.fragments, self.variables, self.operation, type_, details
        )
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            raise NotCompilable("@defer")
        for field_details in collected.grouped_field_set.values():
            for detail in field_details:
                _check_directives(detail.node)
        return dict(collected.grouped_field_set)

    def arguments(self, definition: GraphQLField, details: list[FieldDetails]) -> Arguments:
        first = details[0]
        field = (definition.extensions or {}).get("strawberry-definition")
        if field is None:
            raise NotCompilable("a field strawberry does not know")
        registry, config = self.strawberry
        strawberry_arguments = list(field.arguments)

        def convert(raw: dict[str, Any]) -> dict[str, Any]:
            return convert_arguments(raw, strawberry_arguments, registry, config)

        arguments = Arguments(definition, first, convert)
        uses_variables = any(_has_variable(a.value) for a in first.node.arguments or ())
        if not uses_variables and first.fragment_variable_values is None:
            try:
                constant = arguments.values(self.variables)
            except Exception as exc:  # refused literals: the normal path says why
                raise NotCompilable(f"arguments: {exc}") from None
            arguments = Arguments(definition, first, convert, constant)
        return arguments

    def object_type(self, name: str) -> GraphQLObjectType:
        found = self.schema.get_type(name)
        if not isinstance(found, GraphQLObjectType):
            raise NotCompilable(f"{name} is not an object type")
        return found

    def spec(self, name: str) -> TypeSpec:
        found = self.catalog.get(name)
        if found is None:
            raise NotCompilable(f"{name} is not declared for compiled reads")
        return found

    # one object ------------------------------------------------------------------------------
    def object(self, scope: Scope, details: list[FieldDetails], type_name: str) -> str:
        """A dict display of ``details``' selection over ``scope`` (a ``type_name``)."""
        gql_type = self.object_type(type_name)
        parts: list[str] = []
        for key, field_details in self.subfields(details, gql_type).items():
            name = field_details[0].node.name.value
            if name == "__typename":
                code = repr(type_name)
            else:
                definition = gql_type.fields.get(name)
                if definition is None:
                    raise NotCompilable(f"{type_name}.{name}")
                code = self.field(scope, field_details, definition, type_name, name)
            parts.append(f"{key!r}: {code}")
        return "{" + ", ".join(parts) + "}"

    def field(
        self,
        scope: Scope,
        details: list[FieldDetails],
        definition: GraphQLField,
        type_name: str,
        name: str,
    ) -> str:
        spec = scope.spec.fields.get(name)
        if spec is None:
            raise NotCompilable(f"{type_name}.{name} is not declared")
        if definition.args and not isinstance(spec, Pages | Custom | Many):
            raise NotCompilable(f"{type_name}.{name} takes arguments")
        if isinstance(spec, Val):
            return self.scalar(scope, spec, definition.type)
        if isinstance(spec, Obj):
            return self.embedded(scope, spec, details, definition.type)
        if isinstance(spec, Items):
            return self.items(scope, spec, details, definition.type)
        if isinstance(spec, Sub):
            return self.sub(scope, spec, details, definition.type)
        if isinstance(spec, One):
            return self.to_one(scope, spec, details, definition.type)
        if isinstance(spec, Many):
            return self.to_many(scope, spec, details, definition)
        if isinstance(spec, Pages):
            return self.pages(scope, spec, details, definition)
        if isinstance(spec, Custom):
            return self.custom(scope, spec, details, definition)
        raise NotCompilable(f"{type_name}.{name}")

    def scalar(self, scope: Scope, spec: Val, type_: GraphQLOutputType) -> str:
        code = self.input(scope, spec.input)
        if spec.out is RAW:
            return code
        inner, nullable = unwrap(type_)
        convert = spec.out if spec.out is not None else self.converter(inner)
        if convert is None:
            return code
        name = self.ref(convert, "_s")
        if not nullable:
            return f"{name}({code})"
        var = self.fresh("_n")
        return f"(None if ({var} := {code}) is None else {name}({var}))"

    def converter(self, type_: GraphQLOutputType) -> Callable[[Any], Any] | None:
        if isinstance(type_, GraphQLEnumType):
            return _enum_names(type_).__getitem__
        if isinstance(type_, GraphQLScalarType):
            if type_.name not in _SCALARS:
                raise NotCompilable(f"scalar {type_.name}")
            return _SCALARS[type_.name]
        if isinstance(type_, GraphQLList):
            inner, nullable = unwrap(type_.of_type)
            convert = self.converter(inner)
            if convert is None:
                return None
            if nullable:
                return lambda values: [None if v is None else convert(v) for v in values]
            return lambda values: [convert(v) for v in values]
        raise NotCompilable(f"{type_} is not a leaf")

    def embedded(
        self, scope: Scope, spec: Obj, details: list[FieldDetails], type_: GraphQLOutputType
    ) -> str:
        inner, _ = unwrap(type_)
        if not isinstance(inner, GraphQLObjectType):
            raise NotCompilable("an embedded object must be an object type")
        bound = BoundScope(self.spec(spec.type), scope, dict(spec.bind), self)
        body = self.object(bound, details, inner.name)
        if spec.null_if is None:
            return body
        test = self.input(scope, spec.null_if)
        return f"(None if {test} is None else {body})"

    def items(
        self, scope: Scope, spec: Items, details: list[FieldDetails], type_: GraphQLOutputType
    ) -> str:
        listed, nullable = unwrap(type_)
        if not isinstance(listed, GraphQLList):
            raise NotCompilable("Items needs a list type")
        item_type, _ = unwrap(listed.of_type)
        if not isinstance(item_type, GraphQLObjectType):
            raise NotCompilable("Items of objects only")
        var = self.fresh("v")
        item = ItemScope(self.spec(spec.type), var, scope, dict(spec.bind), self)
        body = self.object(item, details, item_type.name)
        source = self.input(scope, spec.input)
        if nullable:
            holder = self.fresh("_l")
            return f"(None if ({holder} := {source}) is None else [{body} for {var} in {holder}])"
        return f"[{body} for {var} in {source}]"

    def sub(
        self, scope: Scope, spec: Sub, details: list[FieldDetails], type_: GraphQLOutputType
    ) -> str:
        inner, _ = unwrap(type_)
        if not isinstance(inner, GraphQLObjectType):
            raise NotCompilable("Sub of an object type")
        var = self.fresh("v")
        item = ItemScope(self.spec(spec.type), var, scope, dict(spec.bind), self)
        body = self.object(item, details, inner.name)
        return f"(None if ({var} := {self.input(scope, spec.input)}) is None else {body})"

    def to_one(
        self, scope: Scope, spec: One, details: list[FieldDetails], type_: GraphQLOutputType
    ) -> str:
        target = self.spec(spec.type)
        if target.table is None:
            raise NotCompilable("to-one relations lead to rows")
        inner, _ = unwrap(type_)
        if not isinstance(inner, GraphQLObjectType) or inner.name != target.name:
            raise NotCompilable("to-one relations lead to one object type")
        visible = spec.visible
        if isinstance(scope, RowScope | BoundScope) and isinstance(
            scope if isinstance(scope, RowScope) else scope.outer, RowScope
        ):
            rows_scope = scope if isinstance(scope, RowScope) else scope.outer
            assert isinstance(rows_scope, RowScope)
            alias = sa.alias(target.table)
            fk = rows_scope.table.c[spec.key]

            def on(req: Any, alias: sa.FromClause = alias, fk: Any = fk) -> Any:
                condition = alias.c[target.key] == fk
                if visible is not None:
                    condition = sa.and_(condition, visible(req, alias))
                return condition

            rows_scope.rows.joins.append((alias, on))
            joined = RowScope(target, rows_scope.rows, alias, rows_scope.var, rows_scope)
            present = joined.value(target.key)
            body = self.object(joined, details, target.name)
            return f"(None if {present} is None else {body})"
        # from an object: the related rows by key, one statement for all parents
        rows = RowSet(base=target.table)
        var = self.fresh("r")
        child = RowScope(target, rows, target.table, var, scope)
        child.position(target.key)  # position 0: the key
        body = self.object(child, details, target.name)
        slot = self.slot()
        batch = OneBatch(
            slot=slot, key=self.getter(scope, spec.key), arguments=None, spec=target, rows=rows
        )
        if visible is not None:
            raise NotCompilable("visibility of a related row from an object")
        scope.attach(batch)
        key_code = self.input(scope, spec.key)
        return f"(None if ({var} := B[{slot}].get({key_code})) is None else {body})"

    def to_many(
        self, scope: Scope, spec: Many, details: list[FieldDetails], definition: GraphQLField
    ) -> str:
        target = self.spec(spec.type)
        if target.table is None:
            raise NotCompilable("Many lists rows")
        listed, _ = unwrap(definition.type)
        if not isinstance(listed, GraphQLList):
            raise NotCompilable("Many needs a list type")
        key = self.getter(scope, spec.key)
        key_code = self.input(scope, spec.key)
        rows = RowSet(base=target.table)
        var = self.fresh("r")
        child = RowScope(target, rows, target.table, var, scope)
        child.extra = dict(spec.bind)
        child.position(spec.parent)  # position 0: the parent
        body = self.object(child, details, target.name)
        slot = self.slot()
        arguments = self.arguments(definition, details) if definition.args else None
        scope.attach(ManyBatch(slot=slot, key=key, arguments=arguments, spec=spec, rows=rows))
        condition = ""
        if spec.match is not None:
            mine, theirs = spec.match
            condition = f" if {self.input(child, mine)} == {self.input(scope, theirs)}"
        return f"[{body} for {var} in B[{slot}].get({key_code}, ()){condition}]"

    def pages(
        self, scope: Scope, spec: Pages, details: list[FieldDetails], definition: GraphQLField
    ) -> str:
        target = self.spec(spec.node)
        if target.table is None:
            raise NotCompilable("Pages list rows")
        key = self.getter(scope, spec.key)
        key_code = self.input(scope, spec.key)
        needs = tuple(self.getter(scope, n) for n in spec.needs)
        rows = RowSet(base=target.table)
        var = self.fresh("r")
        child = RowScope(target, rows, target.table, var, scope)
        child.extra = dict(spec.bind)
        child.position(spec.parent)  # position 0: the parent
        page_var = self.fresh("p")
        body, cursor_index, with_total = self.connection(
            page_var, child, details, definition.type, spec.cursor_keys
        )
        slot = self.slot()
        arguments = self.arguments(definition, details) if definition.args else None
        batch = PagesBatch(
            slot=slot,
            key=key,
            arguments=arguments,
            needs=needs,
            spec=spec,
            rows=rows,
            cursor_index=cursor_index,
            with_total=with_total,
        )
        scope.attach(batch)
        return f"(None if ({page_var} := B[{slot}].get({key_code})) is None else {body})"

    def custom(
        self, scope: Scope, spec: Custom, details: list[FieldDetails], definition: GraphQLField
    ) -> str:
        key = self.getter(scope, spec.key)
        key_code = self.input(scope, spec.key)
        needs = tuple(self.getter(scope, n) for n in spec.needs)
        slot = self.slot()
        arguments = self.arguments(definition, details) if definition.args else None
        batch = CustomBatch(slot=slot, key=key, arguments=arguments, needs=needs, spec=spec)
        scope.attach(batch)
        lookup = f"B[{slot}].get({key_code})"
        if spec.type is None:
            return self.scalar(
                ValueScope(scope.spec, lookup, scope), Val("value", spec.scalar), definition.type
            )
        inner, _ = unwrap(definition.type)
        var = self.fresh("v")
        if spec.many:
            if not isinstance(inner, GraphQLList):
                raise NotCompilable("a Custom list needs a list type")
            item_type, _ = unwrap(inner.of_type)
            if not isinstance(item_type, GraphQLObjectType):
                raise NotCompilable("a Custom list of objects")
            item = ObjScope(self.spec(spec.type), var, scope)
            item.extra = dict(spec.bind)
            body = self.object(item, details, item_type.name)
            return f"[{body} for {var} in {lookup} or ()]"
        if not isinstance(inner, GraphQLObjectType):
            raise NotCompilable("Custom object type")
        value = ObjScope(self.spec(spec.type), var, scope, batch.children)
        value.extra = dict(spec.bind)
        body = self.object(value, details, inner.name)
        return f"(None if ({var} := {lookup}) is None else {body})"

    # connections -----------------------------------------------------------------------------
    def connection(
        self,
        page: str,
        node: RowScope,
        details: list[FieldDetails],
        type_: GraphQLOutputType,
        cursor_keys: tuple[str, ...],
    ) -> tuple[str, tuple[int, ...], bool]:
        """A connection's dict display over the page variable ``page`` whose items are
        rows of ``node``; the positions of the rows' ``cursor_keys`` when a cursor is
        selected; whether ``totalCount`` is selected."""
        inner, _ = unwrap(type_)
        if not isinstance(inner, GraphQLObjectType) or "edges" not in inner.fields:
            raise NotCompilable("not a connection")
        conn_spec = self.catalog.get(inner.name)
        parts: list[str] = []
        with_total = False
        uses_cursor = False
        for key, field_details in self.subfields(details, inner).items():
            name = field_details[0].node.name.value
            if name == "__typename":
                code = repr(inner.name)
            elif name == "totalCount":
                code = f"{page}.total"
                with_total = True
            elif name == "pageInfo":
                code, cursors = self.page_info(page, field_details, inner.fields[name].type)
                uses_cursor = uses_cursor or cursors
            elif name == "edges":
                edges_type, _ = unwrap(inner.fields[name].type)
                assert isinstance(edges_type, GraphQLList)
                edge_type, _ = unwrap(edges_type.of_type)
                assert isinstance(edge_type, GraphQLObjectType)
                edge, cursors = self.edge(page, node, field_details, edge_type)
                uses_cursor = uses_cursor or cursors
                code = f"[{edge} for {node.var} in {page}.items]"
            elif conn_spec is not None and name in conn_spec.fields:
                scope = ObjScope(conn_spec, f"{page}.extra", None)
                code = self.field(scope, field_details, inner.fields[name], inner.name, name)
            else:
                raise NotCompilable(f"{inner.name}.{name}")
            parts.append(f"{key!r}: {code}")
        index: tuple[int, ...] = ()
        if uses_cursor:
            index = tuple(node.position(k) for k in cursor_keys)
        return "{" + ", ".join(parts) + "}", index, with_total

    def page_info(
        self, page: str, details: list[FieldDetails], type_: GraphQLOutputType
    ) -> tuple[str, bool]:
        inner, _ = unwrap(type_)
        assert isinstance(inner, GraphQLObjectType)
        values = {
            "hasNextPage": f"{page}.has_next",
            "hasPreviousPage": f"{page}.has_previous",
            "startCursor": f"{page}.start",
            "endCursor": f"{page}.end",
            "__typename": repr(inner.name),
        }
        parts = []
        cursors = False
        for key, field_details in self.subfields(details, inner).items():
            name = field_details[0].node.name.value
            if name not in values:
                raise NotCompilable(f"PageInfo.{name}")
            cursors = cursors or name in ("startCursor", "endCursor")
            parts.append(f"{key!r}: {values[name]}")
        return "{" + ", ".join(parts) + "}", cursors

    def edge(
        self, page: str, node: RowScope, details: list[FieldDetails], edge_type: GraphQLObjectType
    ) -> tuple[str, bool]:
        parts = []
        cursors = False
        for key, field_details in self.subfields(details, edge_type).items():
            name = field_details[0].node.name.value
            if name == "__typename":
                code = repr(edge_type.name)
            elif name == "cursor":
                code = f"{page}.cursor_of({node.var})"
                cursors = True
            elif name == "node":
                node_type, _ = unwrap(edge_type.fields["node"].type)
                if not isinstance(node_type, GraphQLObjectType):
                    raise NotCompilable("edges of objects")
                code = self.object(node, field_details, node_type.name)
            else:
                raise NotCompilable(f"{edge_type.name}.{name}")
            parts.append(f"{key!r}: {code}")
        return "{" + ", ".join(parts) + "}", cursors

    # the generated module --------------------------------------------------------------------
    def function(self, body: str, argument: str = "v0") -> Callable[..., Any]:
        name = self.fresh("_shape")
        source = f"def {name}({argument}, req, B):\n    return {body}\n"
        self.sources.append(source)
        code = compile(source, f"<compiled {name}>", "exec")
        exec(code, self.namespace)  # noqa: S102 - source generated above from declarations
        return self.namespace[name]


def _check_directives(node: Any) -> None:
    for directive in node.directives or ():
        if directive.name.value not in ("include", "skip"):
            raise NotCompilable(f"directive @{directive.name.value}")


_ENUMS: dict[int, dict[Any, str]] = {}


def _enum_names(type_: GraphQLEnumType) -> dict[Any, str]:
    names = _ENUMS.get(id(type_))
    if names is None:
        names = {value.value: name for name, value in type_.values.items()}
        _ENUMS[id(type_)] = names
    return names
