"""GET /asyncapi.json: the AsyncAPI 3.0 document of the events and pushes partners receive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.asyncapi import build_document, payload_schema_name
from domain.cases.events import CASE_STATE
from domain.event_catalog import TOPICS
from tests.event_contract import VALIDATOR

SPEC = Path(__file__).resolve().parent.parent / "contracts" / "asyncapi-3.0.0.schema.json"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} points nowhere"
        node = node[part]
    return node


async def test_the_document_is_served_to_anyone_as_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["trama"] == {
        "host": "trama.test",
        "protocol": "ws",
        "title": "Trama",
        "description": document["servers"]["trama"]["description"],
        "security": [{"$ref": "#/components/securitySchemes/bearer"}],
    }
    assert "graphql-transport-ws" in document["channels"]["events"]["description"]


def test_every_topic_is_a_message_of_the_event_channel_with_its_payload_schema() -> None:
    document = build_document("api.example.com", secure=True)
    assert document["servers"]["trama"]["protocol"] == "wss"
    channel = document["channels"]["events"]
    operation = document["operations"]["receiveEvents"]
    assert set(channel["messages"]) == set(TOPICS)
    assert [m["$ref"] for m in operation["messages"]] == [
        f"#/channels/events/messages/{t}" for t in TOPICS
    ]
    for topic, spec in TOPICS.items():
        message = _resolve(document, channel["messages"][topic]["$ref"])
        envelope = message["payload"]
        assert envelope["properties"]["topic"] == {"type": "string", "const": topic}
        payload = _resolve(document, envelope["properties"]["payload"]["$ref"])
        assert payload == spec.payload
        assert envelope["properties"]["payload"]["$ref"].endswith(payload_schema_name(topic))
    push = document["components"]["messages"]["caseState"]
    assert _resolve(document, push["payload"]["$ref"]) == CASE_STATE
    assert document["operations"]["pushCaseState"]["bindings"] == {"http": {"method": "POST"}}


def test_every_reference_in_the_document_resolves() -> None:
    document = build_document("api.example.com", secure=True)
    refs = _refs(document)
    assert len(refs) > len(TOPICS) * 3
    for ref in refs:
        _resolve(document, ref)


def test_the_push_body_schema_is_enforceable() -> None:
    VALIDATOR.check_schema(CASE_STATE)


def test_the_document_is_valid_asyncapi_3() -> None:
    """Against the AsyncAPI 3.0.0 JSON Schema (tests/contracts, from @asyncapi/specs). Needs
    the ``jsonschema`` package (a development dependency)."""
    jsonschema = pytest.importorskip("jsonschema")
    spec = json.loads(SPEC.read_text())
    validator = jsonschema.Draft7Validator(spec)
    document = json.loads(json.dumps(build_document("api.example.com", secure=True)))
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert errors == []
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)
    # and it would notice a broken document
    document["operations"]["receiveEvents"]["action"] = "publish"
    assert list(validator.iter_errors(document))
