"""Federation's own fields under Trama's rules: ``_entities`` is bounded and checks what it
is sent; ``_service { sdl }`` is for the router's credentials when introspection is off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSchema, GraphQLUnionType, OperationType, get_operation_ast
from strawberry.extensions import SchemaExtension

from domain.shared.errors import ValidationFailed
from schema.extensions import root_field_names


def entity_type_names(schema: GraphQLSchema) -> frozenset[str]:
    """The types ``_entities`` resolves: the members of the ``_Entity`` union."""
    union = schema.get_type("_Entity")
    if not isinstance(union, GraphQLUnionType):
        return frozenset()
    return frozenset(t.name for t in union.types)


def check_count(representations: list[Any], limit: int) -> None:
    if len(representations) > limit:
        raise ValidationFailed.on(
            "representations", f"at most {limit} representations at once (like `nodes`)"
        )


def representation_problem(representation: Any, entities: frozenset[str]) -> str | None:
    """Why a representation cannot be resolved, or None when it names an entity type."""
    if not isinstance(representation, dict):
        return "a representation is an object with `__typename` and the entity's key"
    type_name = representation.get("__typename")
    if not isinstance(type_name, str) or not type_name:
        return "`__typename` is required"
    if type_name not in entities:
        return f"{type_name[:100]!r} is not an entity type of this subgraph"
    return None


def representation_error(index: int, problem: str) -> ValidationFailed:
    return ValidationFailed.on(f"representations[{index}].__typename", problem)


def is_router(principal: Any, router_clients: frozenset[str]) -> bool:
    """The federation router's credentials: an application token of a listed client."""
    return (
        principal is not None
        and getattr(principal, "kind", None) == "client"
        and getattr(principal, "client_id", None) in router_clients
    )


def make_service_gate(router_clients: frozenset[str]) -> type[SchemaExtension]:
    class ServiceGate(SchemaExtension):
        """``_service { sdl }`` prints the whole schema: with introspection off, only the
        router (TRAMA_FEDERATION_ROUTER_CLIENTS) may read it."""

        def on_execute(self) -> Iterator[None]:
            ctx = self.execution_context
            document = ctx.graphql_document
            operation = (
                get_operation_ast(document, ctx.operation_name) if document is not None else None
            )
            if (
                operation is not None
                and operation.operation == OperationType.QUERY
                and "_service" in root_field_names(document, operation)
                and not is_router(getattr(ctx.context, "principal", None), router_clients)
            ):
                raise GraphQLError(
                    "`_service` is served to the federation router's credentials only",
                    extensions={"code": "FORBIDDEN"},
                )
            yield

    return ServiceGate
