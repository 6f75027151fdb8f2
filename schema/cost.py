"""What an operation costs, computed from its document before anything runs.

The model (README, "Query cost"): every field selected costs 1; a field's selection is
counted once per item the field may return:

- a field with ``first`` (or ``last``): that many items — the argument's value, from the
  document or the variables, the default page size when absent, at most the maximum page
  size (asking for more is refused when it runs anyway);
- ``nodes(ids:)`` and ``_entities(representations:)``: the number of ids or representations
  (at most the maximum page size: more are refused);
- ``edges`` of a connection: once (the connection's ``first`` already counted its items);
- any other list of objects: the default page size.

So ``cases(first: 50) { edges { node { id timeline(first: 10) { edges { node { kind } } } } } }``
costs ``1 + 50 * (1 + (1 + 1 + (1 + 10 * (1 + (1 + 1)))))`` = 1,701. Nested lists multiply;
aliases, repeated fields and repeated fragment spreads are each counted (the limit is an
upper bound of the work, not the response's size); a selection on an interface or a union
costs what its most expensive possible type would. Introspection fields (``__typename``,
``__schema``, ``__type``) are free: their size is the schema's, and production turns them off.

It is GitHub's node-limit calculation (multiply the nested ``first``/``last``) counting every
field rather than only nodes, because Trama's time goes to field-by-field execution (a few
µs a field, DESIGN §10) as much as to rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
)
from strawberry.extensions import SchemaExtension

log = logging.getLogger("trama.graphql")

#: Arguments whose value is a page size.
PAGE_ARGUMENTS = ("first", "last")
#: Arguments of root fields that fetch one item per element of the list they are given.
KEY_LIST_ARGUMENTS = ("ids", "representations")
#: A list field whose length is known whatever the data (``CreditSchemeComparison.simulations``
#: is always three) says so in its metadata: ``strawberry.field(metadata={COST_ITEMS: 3})``.
COST_ITEMS = "cost_items"


@dataclass(frozen=True, slots=True)
class CostPolicy:
    """The limits: one for everyone, higher (or lower) ones per role, and the page sizes
    the cost assumes."""

    limit: int = 50_000
    #: Role name (``admin``, ``partner_system``…, or ``anonymous``) → its limit. A principal
    #: with several roles gets the highest of theirs; one with none listed gets ``limit``.
    role_limits: Mapping[str, int] = field(default_factory=dict)
    default_page_size: int = 20
    max_page_size: int = 100

    def limit_for(self, principal: Any) -> int:
        if principal is None:
            return self.role_limits.get("anonymous", self.limit)
        roles = [str(getattr(r, "value", r)) for r in getattr(principal, "roles", ())]
        found = [self.role_limits[r] for r in roles if r in self.role_limits]
        return max(found) if found else self.limit


@dataclass(frozen=True, slots=True)
class OperationCost:
    total: int
    #: Cost of each root field by its response key (its alias, or its name).
    by_root_field: Mapping[str, int]


#: The cost of the operation this task runs, set once it passed the limit (the public
#: calculators charge their rate budget from it: resolvers/ratelimit.py).
current_cost: ContextVar[OperationCost | None] = ContextVar("trama_operation_cost", default=None)


class CostLimitExceeded(GraphQLError):
    def __init__(self, cost: int, limit: int) -> None:
        super().__init__(
            f"this operation costs {cost:,} and the limit is {limit:,}: ask for smaller pages "
            "(`first`), fewer nested lists or fewer aliases (each field costs 1, times the "
            "items of every list around it)",
            extensions={"code": "GRAPHQL_VALIDATION_FAILED", "cost": cost, "costLimit": limit},
        )


def make_cost_limiter(policy: CostPolicy) -> type[SchemaExtension]:
    class CostLimiter(SchemaExtension):
        """Refuse an operation that costs more than the caller's limit, as a validation error.

        It needs the variables (``first: $n``), so it is not a graphql-core rule (those are
        cached per document): it runs in the validation step, once the document is known to
        be valid, on every transport — queries, mutations and subscriptions alike. Register
        it after ``ValidationCache``.
        """

        def on_validate(self) -> Iterator[None]:
            ctx = self.execution_context
            if ctx.pre_execution_errors is None and ctx.graphql_document is not None:
                from strawberry.schema.schema import validate_document

                ctx.pre_execution_errors = validate_document(
                    ctx.schema._schema, ctx.graphql_document, ctx.validation_rules
                )
            document = ctx.graphql_document
            if not ctx.pre_execution_errors and document is not None:
                operation = get_operation_ast(document, ctx.operation_name)
                if operation is not None:
                    cost = operation_cost(
                        ctx.schema._schema,
                        document,
                        operation,
                        ctx.variables,
                        default_page_size=policy.default_page_size,
                        max_page_size=policy.max_page_size,
                    )
                    limit = policy.limit_for(getattr(ctx.context, "principal", None))
                    if cost.total > limit:
                        log.info("operation refused: it costs %d, limit %d", cost.total, limit)
                        ctx.pre_execution_errors = [CostLimitExceeded(cost.total, limit)]
                    else:
                        current_cost.set(cost)
            yield

        def on_execute(self) -> Iterator[None]:
            try:
                yield
            finally:
                current_cost.set(None)

    return CostLimiter


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    *,
    default_page_size: int,
    max_page_size: int,
) -> OperationCost:
    """The cost of ``operation`` (a validated operation of ``document``) with ``variables``."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return OperationCost(0, {})
    counter = _Counter(schema, document, operation, variables, default_page_size, max_page_size)
    by_root: dict[str, int] = {}
    for key, cost in counter.root_fields(operation.selection_set, root):
        by_root[key] = by_root.get(key, 0) + cost
    return OperationCost(sum(by_root.values()), by_root)


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        default_page_size: int,
        max_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables or {})
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = _literal(definition.default_value, {})
        self.default = default_page_size
        self.maximum = max_page_size
        # (id of a selection set, concrete type) → cost. Every fragment spread points at the
        # same selection set, so however often a fragment is spread it is walked once per
        # type, and computing the cost stays linear in the size of the document.
        self.memo: dict[tuple[int, str], int] = {}

    def root_fields(
        self, selection_set: SelectionSetNode, root: GraphQLObjectType
    ) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                found.append((key, self.field(selection, root)))
                continue
            inner = self._fragment_selection(selection, root)
            if inner is not None:
                found.extend(self.root_fields(inner, root))
        return found

    def selection(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        if is_abstract_type(parent):
            possible = self.schema.get_possible_types(parent)
            return max((self.on_object(selection_set, t) for t in possible), default=0)
        if isinstance(parent, GraphQLObjectType):
            return self.on_object(selection_set, parent)
        return 0

    def on_object(self, selection_set: SelectionSetNode, parent: GraphQLObjectType) -> int:
        key = (id(selection_set), parent.name)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
                continue
            inner = self._fragment_selection(selection, parent)
            if inner is not None:
                total += self.on_object(inner, parent)
        self.memo[key] = total
        return total

    def _fragment_selection(
        self, selection: Any, parent: GraphQLObjectType
    ) -> SelectionSetNode | None:
        """The selection set of a fragment that applies to ``parent``, or None."""
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or self._applies(condition.name.value, parent):
                return selection.selection_set
            return None
        if isinstance(selection, FragmentSpreadNode):
            fragment = self.fragments.get(selection.name.value)
            if fragment is not None and self._applies(fragment.type_condition.name.value, parent):
                return fragment.selection_set
        return None

    def _applies(self, type_name: str, parent: GraphQLObjectType) -> bool:
        condition = self.schema.get_type(type_name)
        if condition is None:
            return False
        if condition is parent:
            return True
        return is_abstract_type(condition) and self.schema.is_sub_type(condition, parent)

    def field(self, node: FieldNode, parent: GraphQLObjectType) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 1  # not in a validated document; counted like any field
        if node.selection_set is None:
            return 1
        items = self.items(node, definition, parent)
        return 1 + items * self.selection(node.selection_set, get_named_type(definition.type))

    def items(self, node: FieldNode, definition: GraphQLField, parent: GraphQLObjectType) -> int:
        """How many times the field's selection may be resolved, for one parent object."""
        arguments = {a.name.value: a.value for a in node.arguments or ()}
        for name in PAGE_ARGUMENTS:
            if name in definition.args:
                size = _int(arguments.get(name), self.variables)
                return self._page(size)
        return_type = definition.type
        if isinstance(return_type, GraphQLNonNull):
            return_type = return_type.of_type
        if not isinstance(return_type, GraphQLList):
            return 1
        if "pageInfo" in parent.fields:
            return 1  # a connection's edges: its first/last counted them
        strawberry_field = (definition.extensions or {}).get("strawberry-definition")
        known = getattr(strawberry_field, "metadata", None) or {}
        if isinstance(known.get(COST_ITEMS), int):
            return int(known[COST_ITEMS])
        for name in KEY_LIST_ARGUMENTS:
            if name in definition.args:
                value = _literal(arguments[name], self.variables) if name in arguments else None
                count = len(value) if isinstance(value, list) else 1
                return min(count, self.maximum)
        return self.default

    def _page(self, size: int | None) -> int:
        if size is None:
            return self.default
        return max(0, min(size, self.maximum))


def _int(node: ValueNode | None, variables: Mapping[str, Any]) -> int | None:
    value = _literal(node, variables) if node is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _literal(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    """The value of an argument as far as its size goes: ints, lists, variables."""
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        try:
            return int(node.value)
        except ValueError:
            return None
    if isinstance(node, ListValueNode):
        return [_literal(v, variables) for v in node.values]
    return node  # any other literal: one value
