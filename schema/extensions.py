"""Operation-level policies: who may run what, and what errors look like to clients."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from domain.shared.errors import DomainError, ValidationFailed

log = logging.getLogger("trama.graphql")

#: Codes for errors raised before execution.
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL"

#: Codes safe to show the client as they are (raised deliberately with a clear message).
CLIENT_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "VALIDATION",
        "CONFLICT",
        "INVALID_TRANSITION",
        "BAD_REQUEST",
        "RATE_LIMITED",
        "UNAVAILABLE",
        PARSE_FAILED,
        VALIDATION_FAILED,
        BAD_USER_INPUT,
    }
)


def root_field_names(document: Any, operation: OperationDefinitionNode) -> set[str]:
    """Names of the root fields an operation selects, looking through fragments."""
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    names: set[str] = set()
    seen: set[str] = set()

    def walk(selection_set: SelectionSetNode) -> None:
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                names.add(sel.name.value)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                seen.add(sel.name.value)
                fragment = fragments.get(sel.name.value)
                if fragment is not None:
                    walk(fragment.selection_set)

    walk(operation.selection_set)
    return names


def make_auth_gate(public_fields: frozenset[str]) -> type[SchemaExtension]:
    class AuthGate(SchemaExtension):
        """Anonymous callers may only select the public root fields."""

        def on_execute(self) -> Iterator[None]:
            ctx = self.execution_context
            context = ctx.context
            if _is_ambiguous(ctx):
                # Strawberry would silently run the first one; the spec makes it an error.
                raise GraphQLError(
                    "the document has several operations: name one in `operationName`",
                    extensions={"code": "BAD_REQUEST"},
                )
            if getattr(context, "principal", None) is None:
                operation = _operation(ctx)
                if operation is not None:
                    fields = root_field_names(ctx.graphql_document, operation)
                    if not fields <= public_fields:
                        message = getattr(context, "auth_error", None) or (
                            "authentication required: send 'Authorization: Bearer <token>'"
                        )
                        raise GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})
            yield

    return AuthGate


def _is_ambiguous(ctx: Any) -> bool:
    """Several operations and no ``operationName`` to choose one."""
    document = ctx.graphql_document
    # ``ctx.operation_name`` falls back to the first operation's name; we need the request's.
    if document is None or getattr(ctx, "_provided_operation_name", None):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return len(operations) > 1


def _operation(ctx: Any) -> OperationDefinitionNode | None:
    document = ctx.graphql_document
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if ctx.operation_name:
        return next((o for o in operations if o.name and o.name.value == ctx.operation_name), None)
    return operations[0] if len(operations) == 1 else None


def classify(error: GraphQLError, *, phase: str, request_id: str | None) -> GraphQLError:
    """Give every error a code; mask anything unexpected behind the request id."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, DomainError):
        extensions["code"] = original.code
        if isinstance(original, ValidationFailed):
            extensions["field"] = original.problems[0].field
            extensions["problems"] = [
                {"field": p.field, "message": p.message} for p in original.problems
            ]
        return _rebuild(error, original.message, extensions)
    if (
        isinstance(original, GraphQLError)
        and (original.extensions or {}).get("code") in CLIENT_CODES
    ):
        return _rebuild(error, original.message, {**extensions, **(original.extensions or {})})
    if original is None and extensions.get("code") in CLIENT_CODES:
        return error
    if isinstance(original, InvalidOperationTypeError | CannotGetOperationTypeError):
        # The client's choice of operation (over WebSocket: a query sent on the legacy
        # protocol, which streams only subscriptions; an unknown operationName).
        return _rebuild(error, error.message, {**extensions, "code": "BAD_REQUEST"})
    if isinstance(error, GraphQLSyntaxError):
        return _rebuild(error, error.message, {**extensions, "code": PARSE_FAILED})
    if error.path is None and phase == "validate" and original is None:
        return _rebuild(error, error.message, {**extensions, "code": VALIDATION_FAILED})
    if (
        error.path is None
        and phase == "execute"
        and (original is None or error.message.startswith("Variable '$"))
    ):
        # Raised by graphql-core before any resolver ran: variable values that do not
        # coerce, or an operation it cannot pick.
        return _rebuild(error, error.message, {**extensions, "code": BAD_USER_INPUT})
    # Anything else is our fault: it is logged in full; the client sees the request id.
    return _rebuild(
        error,
        f"Internal server error (request id {request_id})",
        {"code": INTERNAL, "requestId": request_id},
    )


def _rebuild(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class PhaseTracker(SchemaExtension):
    """Notes which step an operation reached, so its errors can be coded rightly.

    Registered first, so its hooks enter before the caches that may raise.
    """

    def _set(self, phase: str) -> None:
        context = self.execution_context.context
        if hasattr(context, "graphql_phase"):
            context.graphql_phase = phase

    def on_operation(self) -> Iterator[None]:
        self._set("parse")
        yield

    def on_validate(self) -> Iterator[None]:
        self._set("validate")
        yield

    def on_execute(self) -> Iterator[None]:
        self._set("execute")
        yield
