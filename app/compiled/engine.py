"""Compiled reads: answer a query operation with the SQL its selection needs and a generated
function that shapes the rows, instead of executing it field by field (DESIGN §10).

``TRAMA_COMPILED_READS``:

- ``on``: a query whose every field is declared (``app/compiled/catalog``) is answered by
  its plan; anything else (mutations, subscriptions, undeclared fields, unknown
  directives, a caller without a token) by the normal path, for the whole operation;
- ``shadow``: every request is answered by the normal path; where a plan exists it runs
  too and both answers are compared byte for byte (the tests run this way: the normal path
  is the oracle of every query the suite sends);
- ``off``: the normal path only.

A plan is made once per (document, operation name, principal shape, values of the
variables ``@include``/``@skip`` read) and kept in a bounded LRU cache
(``TRAMA_COMPILED_READS_CACHE`` plans, as many parsed documents). The principal *shape* is
its roles, scopes, kind and which of partner / customer / investor it acts for — never
their ids, which the domain's expressions bind per request.

A document is planned only after the normal path answered it with data once (so it
parsed, validated and passed the operation policies: the compiled path never judges a
document); the cost limit, which depends on variables, is checked per request where the
worst case could pass it. Any refusal or failure while a plan runs (a domain error, an id
of a type not compiled, a bug) makes the normal path answer the request instead, so
errors always have the normal path's shape.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from graphql.execution.collect_fields import FragmentDetails, collect_fields
from graphql.execution.values import VariableValues, get_variable_values
from graphql.language import Visitor, visit
from graphql.utilities import type_from_ast
from prometheus_client import Counter as Metric

from app.compiled import catalog, compiled_read
from app.compiled.plan import NotCompilable, Planner
from app.compiled.roots import Step, plan_root
from app.db import read_session
from domain.shared.errors import DomainError
from domain.shared.principal import Principal
from schema.cost import CostPolicy, operation_cost

log = logging.getLogger("trama.compiled")

MODES = ("on", "off", "shadow")


class Req:
    """What a plan reads while it runs: the caller, the settings, the read session, the
    coerced variables, and the batches' results (``slots``)."""

    __slots__ = ("principal", "session", "settings", "slots", "variables")

    def __init__(
        self, principal: Principal, settings: Any, session: Any, variables: VariableValues, n: int
    ) -> None:
        self.principal = principal
        self.settings = settings
        self.session = session
        self.variables = variables
        self.slots: list[Any] = [None] * n


@dataclass
class Plan:
    steps: list[tuple[str, Step | None]]
    slots: int
    #: The worst cost any variables could give passes no caller of this shape's limit.
    cost_checked: bool
    sources: list[str] = field(default_factory=list)

    async def execute(self, req: Req) -> dict[str, Any]:
        data: dict[str, Any] = {}
        slots = req.slots
        for key, step in self.steps:
            if step is None:
                data[key] = "Query"  # __typename
                continue
            value = await step.run(req)
            data[key] = step.shape(value, req, slots)
        return data


class _Refused:
    """A cached decision that an operation is not for the compiled path."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class Document:
    ast: DocumentNode
    fragments: dict[str, FragmentDetails]
    #: Operation name (None: the only one) → the operation, or why it is not compiled.
    operations: dict[str | None, OperationDefinitionNode | _Refused]
    #: Variables that ``@include``/``@skip`` read (their values choose the plan).
    directive_variables: tuple[str, ...]


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_fresh(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def principal_shape(principal: Principal) -> tuple[Any, ...]:
    return (
        principal.roles,
        principal.scopes,
        principal.kind,
        principal.partner_id is None,
        principal.customer_id is None,
        principal.claims.get("investor_id") is None,
    )


@dataclass
class Mismatch:
    """A request both paths answered differently (shadow mode)."""

    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    principal: Principal
    normal: bytes
    compiled: bytes | None
    error: str | None = None


#: Called with every mismatch shadow mode finds (tests fail on them).
MismatchObserver = Callable[[Mismatch], None]
#: In shadow mode, principals to replay a new document for (tests: every role).
Roster = Callable[[Principal], Awaitable[list[Principal]]]

#: Query operations by the path that answered them: "plan", "normal" (not compiled, or
#: refused by a rule so that the normal path gives the error), "failed" (a plan raised
#: unexpectedly: logged, and the normal path answered).
ANSWERS = Metric("trama_compiled_reads_total", "Query operations by answering path", ["path"])
#: The instance made last (tests read its counters and caches).
latest: weakref.ReferenceType[CompiledReads] | None = None

#: What shadow mode compared in this process: "equal", "different", "normal only".
SHADOW_COUNTS: Counter[str] = Counter()
#: Every mismatch of every instance is given to these (the test suite registers one).
OBSERVERS: list[MismatchObserver] = []
#: Shadow mode replays each new document for these principals too (the test suite's roles).
ROSTER: list[Roster] = []


class CompiledReads:
    def __init__(self, strawberry_schema: Any, settings: Any) -> None:
        schema: GraphQLSchema = strawberry_schema._schema
        mode = getattr(settings, "compiled_reads", "on")
        if mode not in MODES:
            raise ValueError(f"TRAMA_COMPILED_READS must be one of {', '.join(MODES)}")
        self.mode: str = mode
        self.schema = schema
        self.strawberry = (
            strawberry_schema.schema_converter.scalar_registry,
            strawberry_schema.config,
        )
        self.settings = settings
        size = int(getattr(settings, "compiled_reads_cache", 1024))
        self.documents = _LRU(size)
        self.plans = _LRU(size)
        self.policy = CostPolicy(
            limit=settings.query_cost_limit,
            role_limits=settings.query_cost_limits,
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
        )
        self._replayed: set[tuple[str, str | None]] = set()
        #: Requests answered by plans, by the normal path, and plans that failed (metrics).
        self.answered = 0
        self.fell_back = 0
        self.failed = 0
        global latest
        latest = weakref.ref(self)

    # --- documents and plans ----------------------------------------------------------------
    def learn(self, params: dict[str, Any]) -> None:
        """The normal path answered ``params`` with data: its document is valid."""
        query = params["query"]
        if query in self.documents:
            return
        try:
            ast = parse(query, no_location=True)
        except GraphQLError:
            return
        fragments: dict[str, FragmentDetails] = {}
        operations: dict[str | None, OperationDefinitionNode | _Refused] = {}
        named: list[OperationDefinitionNode] = []
        for definition in ast.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                if definition.variable_definitions:
                    return  # fragment variables: not for this path
                fragments[definition.name.value] = FragmentDetails(definition)
            elif isinstance(definition, OperationDefinitionNode):
                named.append(definition)
        unknown = _unknown_directives(ast)
        for operation in named:
            name = operation.name.value if operation.name else None
            value: OperationDefinitionNode | _Refused = operation
            if operation.operation is not OperationType.QUERY:
                value = _Refused(f"{operation.operation.value} operations run normally")
            elif unknown:
                value = _Refused(f"directive @{unknown[0]}")
            operations[name] = value
            if len(named) == 1:
                operations[None] = value
        self.documents.put(query, Document(ast, fragments, operations, _directive_vars(ast)))

    def _variables(self, operation: OperationDefinitionNode, raw: Any) -> VariableValues | None:
        coerced = get_variable_values(
            self.schema, operation.variable_definitions or (), raw or {}, max_errors=1
        )
        return None if isinstance(coerced, list) else coerced

    def _plan(
        self,
        params: dict[str, Any],
        principal: Principal,
    ) -> tuple[Plan, Document, OperationDefinitionNode, VariableValues] | str:
        """The plan for this request, or why the normal path answers it."""
        query = params.get("query")
        if not isinstance(query, str):
            return "no query"
        document: Document | None = self.documents.get_fresh(query)
        if document is None:
            return "document not seen yet"
        operation = document.operations.get(params.get("operationName"))
        if operation is None:
            return "no such operation"
        if isinstance(operation, _Refused):
            return operation.reason
        variables = self._variables(operation, params.get("variables"))
        if variables is None:
            return "variables do not coerce"
        directives = tuple(variables.coerced.get(n) for n in document.directive_variables)
        key = (query, params.get("operationName"), principal_shape(principal), directives)
        plan = self.plans.get_fresh(key)
        if plan is None:
            plan = self._compile(document, operation, variables, principal)
            self.plans.put(key, plan)
        if isinstance(plan, _Refused):
            return plan.reason
        return plan, document, operation, variables

    def _compile(
        self,
        document: Document,
        operation: OperationDefinitionNode,
        variables: VariableValues,
        principal: Principal,
    ) -> Plan | _Refused:
        try:
            return self._build(document, operation, variables, principal)
        except NotCompilable as exc:
            log.debug("not compiled: %s", exc)
            SHADOW_COUNTS[f"refused: {exc}"] += 0
            return _Refused(str(exc))
        except Exception as exc:  # a declaration bug must not break the normal path
            log.exception("compiling an operation failed")
            return _Refused(f"compilation failed: {exc}")

    def _build(
        self,
        document: Document,
        operation: OperationDefinitionNode,
        variables: VariableValues,
        principal: Principal,
    ) -> Plan:
        catalog.load()
        query_type = self.schema.query_type
        assert query_type is not None
        collected = collect_fields(
            self.schema, document.fragments, variables, query_type, operation
        )
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            raise NotCompilable("@defer")
        planner = Planner(
            self.schema,
            catalog.CATALOG,
            document.fragments,
            operation,
            variables,
            self.strawberry,
        )
        steps: list[tuple[str, Step | None]] = []
        for key, details in collected.grouped_field_set.items():
            name = details[0].node.name.value
            for detail in details:
                for directive in detail.node.directives or ():
                    if directive.name.value not in ("include", "skip"):
                        raise NotCompilable(f"directive @{directive.name.value}")
            if name == "__typename":
                steps.append((key, None))
                continue
            definition = query_type.fields.get(name)
            if definition is None:
                raise NotCompilable(f"Query.{name}")
            steps.append((key, plan_root(planner, name, list(details), definition)))
        worst = operation_cost(
            self.schema,
            document.ast,
            operation,
            _worst_variables(self.schema, operation, self.policy.max_page_size),
            default_page_size=self.policy.default_page_size,
            max_page_size=self.policy.max_page_size,
        )
        cost_checked = worst.total <= self.policy.limit_for(principal)
        return Plan(steps, planner.slots, cost_checked, planner.sources)

    # --- answering --------------------------------------------------------------------------
    async def answer(self, params: dict[str, Any], principal: Principal | None) -> bytes | None:
        """The response body for ``params``, or None when the normal path must answer."""
        body, _ = await self._answer(params, principal)
        return body

    async def _answer(
        self, params: dict[str, Any], principal: Principal | None
    ) -> tuple[bytes | None, str | None]:
        if principal is None:
            return None, None
        found = self._plan(params, principal)
        if isinstance(found, str):
            self.fell_back += 1
            ANSWERS.labels("normal").inc()
            return None, None
        plan, document, operation, variables = found
        if not plan.cost_checked:
            cost = operation_cost(
                self.schema,
                document.ast,
                operation,
                variables.coerced,
                default_page_size=self.policy.default_page_size,
                max_page_size=self.policy.max_page_size,
            )
            if cost.total > self.policy.limit_for(principal):
                self.fell_back += 1
                ANSWERS.labels("normal").inc()
                return None, None
        token = compiled_read.set(True)
        try:
            async with read_session() as session:
                req = Req(principal, self.settings, session, variables, plan.slots)
                data = await plan.execute(req)
        except (DomainError, NotCompilable, GraphQLError):
            self.fell_back += 1
            ANSWERS.labels("normal").inc()
            return None, None
        except Exception as exc:
            self.failed += 1
            ANSWERS.labels("failed").inc()
            log.exception("a compiled read failed; the normal path answers it")
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            compiled_read.reset(token)
        self.answered += 1
        ANSWERS.labels("plan").inc()
        return orjson.dumps({"data": data}), None

    async def shadow(
        self,
        params: dict[str, Any],
        principal: Principal | None,
        normal: bytes,
        has_data: bool,
        run_normal: Callable[[Principal], Awaitable[tuple[bytes, bool]]],
    ) -> None:
        """Compare the normal answer ``normal`` with the plan's (shadow mode), and, the
        first time a document is seen, the answers for every principal of the roster."""
        if has_data:
            self.learn(params)
        if principal is None:
            return
        token = compiled_read.set(True)
        try:
            await self._shadow(params, principal, normal, run_normal)
        finally:
            compiled_read.reset(token)

    async def _shadow(
        self,
        params: dict[str, Any],
        principal: Principal,
        normal: bytes,
        run_normal: Callable[[Principal], Awaitable[tuple[bytes, bool]]],
    ) -> None:
        await self._compare(params, principal, normal)
        replay_key = (params.get("query", ""), params.get("operationName"))
        if not ROSTER or replay_key in self._replayed:
            return
        if isinstance(self._plan(params, principal), str):
            return  # not compiled for this caller: not for the others either, most likely
        self._replayed.add(replay_key)
        for roster in ROSTER:
            for other in await roster(principal):
                body, _ = await run_normal(other)
                await self._compare(params, other, body)

    async def _compare(self, params: dict[str, Any], principal: Principal, normal: bytes) -> None:
        compiled, error = await self._answer(params, principal)
        if compiled is None and error is None:
            SHADOW_COUNTS["normal only"] += 1
            return  # the normal path's alone (not compiled, or refused as it was)
        if compiled == normal:
            SHADOW_COUNTS["equal"] += 1
            return
        SHADOW_COUNTS["different"] += 1
        mismatch = Mismatch(
            query=params.get("query", ""),
            operation_name=params.get("operationName"),
            variables=params.get("variables"),
            principal=principal,
            normal=normal,
            compiled=compiled,
            error=error,
        )
        log.error(
            "compiled read differs from the normal path",
            extra={"operation": mismatch.operation_name, "subject": principal.subject},
        )
        for observer in OBSERVERS:
            observer(mismatch)


def _directive_vars(ast: DocumentNode) -> tuple[str, ...]:
    names: list[str] = []

    class Finder(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            if node.name.value in ("include", "skip"):
                for argument in node.arguments or ():
                    if argument.value.kind == "variable":
                        name = argument.value.name.value
                        if name not in names:
                            names.append(name)

    visit(ast, Finder())
    return tuple(names)


def _unknown_directives(ast: DocumentNode) -> list[str]:
    """Directives of the document other than ``@include``/``@skip`` (on an operation, a
    field, a fragment or a spread): the compiled path knows no other."""
    names: list[str] = []

    class Finder(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            if node.name.value not in ("include", "skip") and node.name.value not in names:
                names.append(node.name.value)

    visit(ast, Finder())
    return names


def _worst_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, page: int
) -> dict[str, Any]:
    """Variables that make the operation cost the most it can (page sizes at the maximum,
    lists of ids as long as allowed): an upper bound of :func:`operation_cost`."""
    out: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        type_ = type_from_ast(schema, definition.type)
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        name = definition.variable.name.value
        if isinstance(type_, GraphQLList):
            out[name] = [None] * page
        elif getattr(type_, "name", "") == "Int":
            out[name] = page
    return out
