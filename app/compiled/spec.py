"""How a GraphQL type is read on the compiled path: the declarations a domain's types opt
in with (DESIGN §10).

A type is either

- **row-backed** (``table=``): its fields are columns of one table, expressions the domain
  builds from the principal (``derived``: masking decisions such as ``pii_visible``), or
  plain functions of those values; or
- **object-backed** (no table): its fields are attributes of a Python value the domain
  computed (a page, a portfolio, a live position), read by name.

A field's *inputs* are named the same way in both: a column or derived name for a row, an
attribute for an object. So one declaration can shape a stored row and a computed one
(``CreditInstallment`` is both). Inputs can also be computed from other inputs
(:class:`Computed`), taken from the enclosing object (:class:`Up`), constant (:class:`Const`)
or the caller (:data:`PRINCIPAL`).

Field kinds: :class:`Val` (a scalar), :class:`Obj` (an object made of the same values),
:class:`One` (a to-one relation: a join for rows, a batch by key otherwise), :class:`Many`
(a to-many list, one batched statement per level), :class:`Pages` (a to-many connection
with keyset pages per parent, one statement), :class:`Custom` (values a domain function
computes for a batch of parents), :class:`Items` (a list held by an object). A field a type
does not declare is not compilable: an operation selecting it runs on the normal path.

Every rule (which rows, masking, ordering, cursors, figures) is a domain function these
declarations call; nothing here decides one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa


# --- inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Up:
    """A value of the enclosing object (a child row's parent credit's currency)."""

    input: Input


@dataclass(frozen=True)
class Computed:
    """``fn(*inputs)``: a domain function of other values (a masked name, a total)."""

    inputs: tuple[Input, ...]
    fn: Callable[..., Any]


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class _Principal:
    pass


#: The calling principal (for rules evaluated per row, like ``viewerCanAct``).
PRINCIPAL = _Principal()

Input = str | Up | Computed | Const | _Principal

#: The input naming an object-backed value itself (``Obj(…, null_if=SELF)``).
SELF = "."


def computed(fn: Callable[..., Any], *inputs: Input) -> Computed:
    return Computed(tuple(inputs), fn)


# --- fields ---------------------------------------------------------------------------------
def RAW(value: Any) -> Any:
    """``Val(…, RAW)``: the value is already what the response holds (no conversion)."""
    return value


@dataclass(frozen=True)
class Val:
    """A scalar: the input, serialised as the field's GraphQL type does (enums by name,
    dates ISO 8601, ``Long`` as a string…), unless ``out`` says how."""

    input: Input
    out: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Obj:
    """An object made of this one's values: ``bind`` maps the inner type's input names to
    inputs here; ``null_if`` (an input) makes it null when that value is None."""

    type: str
    bind: Mapping[str, Input] = field(default_factory=dict)
    null_if: Input | None = None


@dataclass(frozen=True)
class One:
    """A to-one relation: the row of ``type`` whose key equals the input ``key`` here
    (a column); None when there is none."""

    type: str
    key: str
    #: Where the related type's rows are not all visible to everyone, the condition (on the
    #: joined table) under which this relation shows the row.
    visible: Callable[[Any, sa.FromClause], sa.ColumnElement[bool]] | None = None


@dataclass(frozen=True)
class Many:
    """A list of child rows of ``type`` under each parent: the parent's input ``key``
    equals the child's column ``parent``. ``query(req, parent_keys, arguments)`` returns
    the domain's ``(from clause, conditions, order_by)`` for those parents (the from
    clause holds the child type's table); ``None`` for an empty list (a rule on the
    caller, e.g. partner statuses are staff only)."""

    type: str
    key: str
    parent: str
    query: Callable[[Any, list[Any], dict[str, Any]], tuple[Any, list[Any], list[Any]] | None]
    #: Values of the parent the children read (names in the child → inputs of the parent).
    bind: Mapping[str, Input] = field(default_factory=dict)
    #: ``(child input, parent input)``: keep only the children where they are equal (a
    #: schedule's rows among all the credit's rows).
    match: tuple[Input, Input] | None = None


@dataclass(frozen=True)
class Pages:
    """A connection (edges, pageInfo, totalCount) of child rows of ``node`` under each
    parent: the parent's ``key`` equals the child's column ``parent``.

    ``query(req, arguments, parents)`` (async) returns the domain's
    ``domain.shared.reads.NestedQuery`` objects that read them: ``parents`` maps each
    parent key to the values of ``needs`` (parent inputs a rule per parent reads, e.g.
    whether internal entries are shown), and parents a rule treats alike share one query.
    ``count(req, parent_keys, arguments)`` (async) gives ``totalCount``."""

    type: str
    node: str
    key: str
    parent: str
    query: Callable[..., Awaitable[list[Any]]]
    #: The node's columns a cursor is made of, in the order the query's ``cursor`` takes.
    cursor_keys: tuple[str, ...]
    needs: tuple[str, ...] = ()
    count: Callable[..., Awaitable[dict[Any, int]]] | None = None
    bind: Mapping[str, Input] = field(default_factory=dict)


@dataclass(frozen=True)
class Custom:
    """Values a domain function computes for a batch of parents: ``fetch(ctx, parents,
    arguments) -> {key: value}`` where ``parents`` maps each parent key to a row of the
    ``needs`` inputs (in order). The value is shaped as ``type`` (an object-backed type,
    or a list of it with ``many``), or returned as is with ``scalar``."""

    type: str | None
    key: str
    needs: tuple[str, ...]
    fetch: Callable[..., Awaitable[dict[Any, Any]]]
    many: bool = False
    scalar: Callable[[Any], Any] | None = None
    bind: Mapping[str, Input] = field(default_factory=dict)


@dataclass(frozen=True)
class Items:
    """A list of objects held by this object (``input`` is an iterable), each shaped as
    ``type``; ``bind`` adds values of this object to each item's inputs."""

    type: str
    input: Input
    bind: Mapping[str, Input] = field(default_factory=dict)


@dataclass(frozen=True)
class Sub:
    """An object held by this object (``input``: an attribute, a computed value), shaped
    as ``type``; null when it is None. ``bind`` adds values of this object."""

    type: str
    input: Input
    bind: Mapping[str, Input] = field(default_factory=dict)


FieldSpec = Val | Obj | One | Many | Pages | Custom | Items | Sub


@dataclass(frozen=True)
class Derived:
    """A value a row-backed type selects as an expression the domain builds per request
    (``fn(ctx, table)``): a masking decision, a visibility flag."""

    fn: Callable[[Any, sa.FromClause], sa.ColumnElement[Any]]
    #: The expression reads the type's own table (not an alias): the type can then be
    #: read only as the statement's main table (a root), never joined.
    base_only: bool = False


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    table: sa.Table | None = None
    key: str = "id"
    derived: Mapping[str, Derived] = field(default_factory=dict)

    @property
    def row_backed(self) -> bool:
        return self.table is not None


class Catalog:
    """Every declared type, by GraphQL name (each domain module adds its own)."""

    def __init__(self) -> None:
        self.types: dict[str, TypeSpec] = {}

    def add(self, *specs: TypeSpec) -> None:
        for spec in specs:
            if spec.name in self.types and self.types[spec.name] is not spec:
                raise ValueError(f"type {spec.name} is declared twice")
            self.types[spec.name] = spec

    def get(self, name: str) -> TypeSpec | None:
        return self.types.get(name)
