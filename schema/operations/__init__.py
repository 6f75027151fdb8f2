"""Root operation types, merged from each domain's fields."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.tools import merge_types

from resolvers import node as node_resolvers
from schema.operations.credits import PUBLIC_CREDIT_FIELDS, CreditQuery
from schema.operations.customers import CustomerMutation, CustomerQuery
from schema.operations.events import EventMutation, EventQuery, Subscription
from schema.operations.identity import IdentityMutation, IdentityQuery
from schema.operations.partners import PartnerQuery


@strawberry.type
class NodeQuery:
    node: relay.Node | None = strawberry.field(
        resolver=node_resolvers.node, description="Any object by its global id."
    )
    nodes: list[relay.Node | None] = strawberry.field(
        resolver=node_resolvers.nodes, description="Objects by their global ids."
    )


Query = merge_types(
    "Query", (NodeQuery, IdentityQuery, PartnerQuery, CustomerQuery, EventQuery, CreditQuery)
)
Mutation = merge_types("Mutation", (IdentityMutation, CustomerMutation, EventMutation))

#: Root fields an anonymous caller may select.
PUBLIC_ROOT_FIELDS = frozenset({"__typename", "__schema", "__type"}) | PUBLIC_CREDIT_FIELDS

__all__ = ["PUBLIC_ROOT_FIELDS", "Mutation", "Query", "Subscription"]
