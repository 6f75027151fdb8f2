"""Customers: the list, one customer, ``node``; masking by the customers' rule."""

from __future__ import annotations

import operator
from typing import Any

import sqlalchemy as sa

from app.compiled.catalog import CATALOG
from app.compiled.plan import global_id
from app.compiled.roots import NODES, ROOTS, ListRoot, NodeRule, OneRoot
from app.compiled.spec import Derived, Input, Obj, One, TypeSpec, Val, computed
from domain.customers import scopes, views
from domain.customers import service as customers
from domain.customers.models import Customer
from domain.shared.models import table_of
from domain.shared.pagination import clamp_page_size
from domain.shared.reads import KeysetQuery
from resolvers.ids import decode_node_id

CUSTOMERS = table_of(Customer)


def pii_visible(req: Any, table: sa.FromClause) -> sa.ColumnElement[bool]:
    """The customers' rule for the row of ``table`` (``customers`` or an alias)."""
    return scopes.pii_visible_to(req.principal, of=table)


#: The masked national ID of a customer row (inputs of the row: ``pii`` decides).
NATIONAL_ID_BIND: dict[str, Input] = {
    "type": "national_id_type",
    "number": computed(views.shown_national_id, "national_id_type", "national_id", "pii"),
    "country": computed(views.national_id_country, "national_id_type"),
}

CUSTOMER = TypeSpec(
    "Customer",
    table=CUSTOMERS,
    derived={"pii": Derived(pii_visible)},
    fields={
        "id": Val("id", global_id("Customer")),
        "nationalId": Obj("NationalId", NATIONAL_ID_BIND),
        "givenNames": Val(computed(views.shown_names, "given_names", "pii")),
        "familyNames": Val(computed(views.shown_names, "family_names", "pii")),
        "email": Val(computed(views.shown_email, "email", "pii")),
        "phone": Val(computed(views.shown_phone, "phone", "pii")),
        "address": Obj("Address", null_if="address_line1"),
        "consents": Obj("Consents"),
        "piiMasked": Val(computed(operator.not_, "pii")),
        "version": Val("version"),
        "createdAt": Val("created_at"),
        "updatedAt": Val("updated_at"),
        "homePartner": One("Partner", key="home_partner_id"),
    },
)

ADDRESS = TypeSpec(
    "Address",
    fields={
        "line1": Val(computed(views.shown_line, "address_line1", "pii")),
        "line2": Val(computed(views.shown_optional_line, "address_line2", "pii")),
        "city": Val(computed(views.shown_line, "city", "pii")),
        "region": Val(computed(views.shown_optional_line, "region", "pii")),
        "postalCode": Val(computed(views.shown_optional_line, "postal_code", "pii")),
        "country": Val(computed(views.address_country, "address_country")),
    },
)

CONSENTS = TypeSpec(
    "Consents",
    fields={
        "marketing": Val("consent_marketing"),
        "dataSharing": Val("consent_data_sharing"),
        "updatedAt": Val("consent_updated_at"),
    },
)

CATALOG.add(CUSTOMER, ADDRESS, CONSENTS)


def _list(req: Any, args: dict[str, Any]) -> KeysetQuery:
    principal = req.principal
    customers.ensure_can_read(principal)  # before any argument is judged (the resolver's order)
    settings = req.settings
    limit = clamp_page_size(
        args.get("first"), default=settings.default_page_size, maximum=settings.max_page_size
    )
    return customers.customer_list(
        principal, text=args.get("search"), limit=limit, after=args.get("after")
    )


def _one(req: Any, args: dict[str, Any]) -> Any:
    customers.ensure_can_read(req.principal)
    return decode_node_id(args["id"], "Customer")


ROOTS["customers"] = ListRoot("Customer", _list, cursor_keys=("sort_name", "id"))
ROOTS["customer"] = OneRoot("Customer", _one)
NODES["Customer"] = NodeRule(check=lambda req: customers.ensure_can_read(req.principal))
