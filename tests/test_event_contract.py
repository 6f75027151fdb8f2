"""The event contract: payload schemas, the checker the suite runs on every event, and the
conventions (global ids, exact Money, camelCase, UTC instants, no personal data)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from app.db import transaction
from domain.credits.events import AGING_BUCKETS
from domain.event_catalog import COMPONENTS, TOPICS
from domain.shared import event_schemas as wire
from domain.shared import outbox
from tests.conftest import DatabaseFactory
from tests.event_contract import (
    VALIDATOR,
    OutboxAudit,
    SchemaError,
    Validator,
    check,
)

CASE = uuid.UUID("0190a0b0-0000-7000-8000-000000000001")
PARTNER = uuid.UUID("0190a0b0-0000-7000-8000-000000000002")
CUSTOMER = uuid.UUID("0190a0b0-0000-7000-8000-000000000003")


def customer_created(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customerId": wire.global_id("Customer", CUSTOMER),
        "homePartnerId": wire.global_id("Partner", PARTNER),
        "version": 1,
    }
    payload.update(changes)
    return payload


# --- values -----------------------------------------------------------------------------------
def test_global_ids_are_the_ones_the_api_shows() -> None:
    from resolvers.ids import decode_node_id, encode_node_id

    for name in wire.NODE_TYPES:
        value = wire.global_id(name, CASE)
        assert value == encode_node_id(name, CASE)
        assert decode_node_id(value, name) == CASE
        assert wire.parse_global_id(value, name) == CASE
    assert wire.parse_global_id(wire.global_id("Case", CASE), "Credit") is None
    assert wire.parse_global_id(str(CASE), "Case") is None
    assert wire.parse_global_id("not base64!", "Case") is None
    assert wire.parse_global_id(base64.b64encode(b"Case:nope").decode(), "Case") is None
    with pytest.raises(ValueError, match="not a node type"):
        wire.global_id("Comment", CASE)


def test_node_types_are_nodes_of_the_graphql_schema() -> None:
    from schema import create_schema

    graphql = create_schema()._schema
    for name in wire.NODE_TYPES:
        graphql_type = graphql.get_type(name)
        assert graphql_type is not None, name
        interfaces = {i.name for i in graphql_type.interfaces}  # type: ignore[union-attr]
        # BulkResolution is no Node, but the API shows its id as a global id too.
        assert "Node" in interfaces or name == "BulkResolution", name
        assert "id" in graphql_type.fields, name  # type: ignore[union-attr]


def test_money_is_an_exact_decimal_string_with_the_currency_decimals() -> None:
    assert wire.money(1_500_000, "CLP") == {"amount": "1500000", "currency": "CLP"}
    assert wire.money(123_450, "USD") == {"amount": "1234.50", "currency": "USD"}
    assert wire.money(251_234, "CLF") == {"amount": "25.1234", "currency": "CLF"}
    assert wire.money(-5, "USD") == {"amount": "-0.05", "currency": "USD"}
    assert wire.money(0, "CLF") == {"amount": "0.0000", "currency": "CLF"}


def test_aging_buckets_carry_the_api_enum_names() -> None:
    from schema.credit_ledger import AgingBucket

    assert {b.value: b.name for b in AgingBucket} == AGING_BUCKETS


# --- the schemas ------------------------------------------------------------------------------
def test_every_schema_uses_only_keywords_the_checker_enforces() -> None:
    for name, schema in COMPONENTS.items():
        VALIDATOR.check_schema(schema, name)
    for topic, spec in TOPICS.items():
        VALIDATOR.check_schema(spec.payload, topic)
        assert spec.payload["additionalProperties"] is False, topic


def test_the_checker_refuses_a_schema_it_cannot_enforce() -> None:
    with pytest.raises(SchemaError, match="unsupported keyword 'maxItems'"):
        VALIDATOR.check_schema({"type": "array", "items": {"type": "string"}, "maxItems": 3})
    with pytest.raises(SchemaError, match="missing schema 'Nope'"):
        VALIDATOR.check_schema({"$ref": "#/components/schemas/Nope"})
    with pytest.raises(SchemaError, match="closed"):
        VALIDATOR.check_schema({"type": "object", "additionalProperties": True})


#: Property names that would mean personal data travels in an event.
PERSONAL = {
    "nationalId",
    "givenNames",
    "familyNames",
    "name",
    "legalName",
    "email",
    "phone",
    "address",
    "birthDate",
    "description",
    "note",
    "body",
    "fileName",
    "cardLast4",
    "cardToken",
    "bankAccount",
}


def _property_names(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.get("properties", {}).items():
            found.add(key)
            found |= _property_names(value)
        for option in schema.get("oneOf", []):
            found |= _property_names(option)
        found |= _property_names(schema.get("items"))
    return found


def test_no_payload_has_a_field_for_personal_data() -> None:
    for topic, spec in TOPICS.items():
        assert not _property_names(spec.payload) & PERSONAL, topic


# --- the checker ------------------------------------------------------------------------------
def test_a_payload_in_the_conventions_passes() -> None:
    assert check("customers.created", customer_created()) == []
    funded = {
        "fundingId": wire.global_id("CreditFunding", CASE),
        "creditId": wire.global_id("Credit", CASE),
        "investorId": wire.global_id("Investor", CASE),
        "share": "0.25",
        "servicingFeeRate": "0.01",
        "invested": wire.money(250_000, "CLP"),
        "effectiveOn": None,
        "fundedShare": "0.4",
    }
    assert check("credits.funded", funded) == []


@pytest.mark.parametrize(
    ("topic", "payload", "problem"),
    [
        # the shapes events had before the conventions
        (
            "customers.created",
            {"customer_id": str(CUSTOMER), "home_partner_id": str(PARTNER), "version": 1},
            "'customerId' is missing",
        ),
        ("customers.created", customer_created(customerId=str(CUSTOMER)), "not the global id"),
        (
            "customers.created",
            customer_created(customerId=wire.global_id("Case", CUSTOMER)),
            "not the global id of a Customer",
        ),
        ("customers.created", customer_created(extra=1), "'extra' is not in the schema"),
        ("customers.created", customer_created(version="1"), "expected integer"),
        ("customers.created", customer_created(version=True), "expected integer"),
        ("customers.created", customer_created(version=0), "less than 1"),
        (
            "customers.imported",
            {
                "homePartnerId": wire.global_id("Partner", PARTNER),
                "inserted": 1,
                "already_present": 0,
                "rejected": 0,
            },
            "'already_present' is not in the schema",
        ),
        (
            "settlements.paid",
            {
                "statementId": wire.global_id("SettlementStatement", CASE),
                "runId": wire.global_id("SettlementRun", CASE),
                "investorId": wire.global_id("Investor", CASE),
                "total": {"amount": 1500000, "currency": "CLP"},
                "paidAt": "2026-11-18T18:00:00.000000Z",
            },
            "expected string",
        ),
        (
            "settlements.paid",
            {
                "statementId": wire.global_id("SettlementStatement", CASE),
                "runId": wire.global_id("SettlementRun", CASE),
                "investorId": wire.global_id("Investor", CASE),
                "total": {"amount": "1500000.00", "currency": "CLP"},
                "paidAt": "2026-11-18T18:00:00+00:00",
            },
            "must have exactly 0 decimals",
        ),
        (
            "settlements.paid",
            {
                "statementId": wire.global_id("SettlementStatement", CASE),
                "runId": wire.global_id("SettlementRun", CASE),
                "investorId": wire.global_id("Investor", CASE),
                "total": {"amount": "1500000", "currency": "CLP"},
                "paidAt": "2026-11-18T18:00:00+00:00",
            },
            "does not match",
        ),
        (
            "cases.inbound_review_closed",
            {"reviewId": str(CASE), "caseId": None, "status": "PENDING"},
            "is not one of",
        ),
        (
            "cases.inbound_review_closed",
            {"reviewId": "01902", "caseId": None, "status": "RESOLVED"},
            "does not match",
        ),
        ("customers.renamed", {}, "undocumented topic"),
    ],
)
def test_the_checker_catches_what_breaks_the_conventions(
    topic: str, payload: dict[str, Any], problem: str
) -> None:
    problems = check(topic, payload)
    assert any(problem in p for p in problems), problems


def test_synthetic_topics_of_the_suite_are_not_part_of_the_contract() -> None:
    assert check("tests.happened", {"n": 1}) == []


def test_a_nullable_field_takes_null_or_its_shape_and_nothing_else() -> None:
    validator = Validator(COMPONENTS)
    schema = wire.nullable(wire.ref("Money"))
    assert validator.errors(schema, None) == []
    assert validator.errors(schema, wire.money(1, "USD")) == []
    assert validator.errors(schema, 1) != []


# --- the suite's own events -------------------------------------------------------------------
async def test_the_seeded_template_events_match_the_contract(db_factory: DatabaseFactory) -> None:
    assert db_factory.events.known, "the seed wrote no event: nothing was checked"
    assert db_factory.template_event_problems == []


async def test_the_audit_reports_an_event_a_test_wrote_that_breaks_the_contract(
    db_factory: DatabaseFactory,
) -> None:
    """What tests/conftest.py runs when each test's database goes: events of the template
    are left out, the others are checked, whoever wrote them."""
    from app.db import close_database, init_database

    url = await db_factory.create()
    try:
        init_database(url)
        try:
            async with transaction() as session:
                outbox.add(session, "customers.created", customer_created(), key="k")
                bad = outbox.add(
                    session, "customers.created", {"customer_id": str(CUSTOMER), "version": 1}
                )
                outbox.add(session, "tests.happened", {"n": 1})
        finally:
            await close_database()
        problems = await db_factory.events.problems(url)
    finally:
        await db_factory.drop(url)
    assert problems and all(p.startswith(f"event {bad.id} customers.created") for p in problems)
    assert any("'customer_id' is not in the schema" in p for p in problems)
    assert json.dumps(problems)  # plain text, ready for the report


async def test_a_fresh_audit_checks_every_event_of_a_database(db_factory: DatabaseFactory) -> None:
    audit = OutboxAudit()
    assert await audit.problems(db_factory.template_url) == []
