"""``GET /asyncapi.json``: the AsyncAPI 3.0 document of what Trama sends partners.

Built from the event catalog (``domain/event_catalog.py``: each topic's payload schema, as
data) and the body of connectors' pushes (``domain.cases.events.CASE_STATE``), so the
document cannot drift from what the services write: the suite checks every event it
produces against the same schemas.

Two channels:

- ``events``: the GraphQL subscription ``events(topics:, after:)`` over WebSocket
  (``graphql-transport-ws``; legacy ``graphql-ws``). One message per topic; each message's
  payload is the ``Event`` object a subscriber selects (``cursor``, ``position``, ``topic``,
  ``key``, ``occurredAt``, ``payload``), which arrives as ``data.events`` of a ``next``
  frame.
- ``caseStatePush``: the signed ``POST`` Trama sends a partner's connector endpoint with a
  case's current state.

The document is public, like the discovery documents: it describes shapes, never data, and
partners' developers and their tools read it before they have credentials.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from domain.cases.events import CASE_STATE
from domain.event_catalog import COMPONENTS, TOPICS
from domain.shared.event_schemas import EventSpec, Schema

ASYNCAPI_VERSION = "3.0.0"
#: The contract's version: bump the major part when a payload changes incompatibly.
CONTRACT_VERSION = "2.0.0"
PATH = "/asyncapi.json"

_SUBSCRIPTION = 'subscription { events(topics: ["cases.*"], after: "1041") { cursor position topic key occurredAt payload } }'  # noqa: E501

_CONVENTIONS = """\
Events Trama sends partners: what changed in the network, in delivery order, as ids and
figures — never personal data (read the objects through the GraphQL API, which applies your
access and masking rules).

Payloads follow the API's conventions: camelCase keys; ids exactly as the API shows them
(Relay global ids for nodes such as `Case` or `Credit`, plain UUIDs for the few objects the
API shows that way); money as `{"amount": "1500000", "currency": "CLP"}` with the exact
major-unit amount as a string with the currency's decimals; instants in ISO 8601 UTC with
`Z`; dates as `YYYY-MM-DD`; rates and shares as decimal strings; enums by their API names.
Fields are only ever added to a payload within a major version of this document; a consumer
should ignore fields it does not know.
"""


def message_name(topic: str) -> str:
    return topic


def payload_schema_name(topic: str) -> str:
    """``cases.derivation_accepted`` → ``CasesDerivationAcceptedPayload``."""
    words = topic.replace(".", "_").split("_")
    return "".join(w[:1].upper() + w[1:] for w in words) + "Payload"


def _envelope(spec: EventSpec) -> Schema:
    return {
        "type": "object",
        "description": (
            "The `Event` a subscriber of `events` selects (here with every field); it "
            "arrives as `payload.data.events` of a `next` frame."
        ),
        "properties": {
            "cursor": {
                "type": "string",
                "description": "The event's delivery position; pass it as `after` to resume.",
            },
            "position": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "The same position as a `Long` (a string of digits).",
            },
            "topic": {"type": "string", "const": spec.topic},
            "key": {
                "type": ["string", "null"],
                "description": spec.key,
            },
            "occurredAt": {"$ref": "#/components/schemas/DateTime"},
            "payload": {"$ref": f"#/components/schemas/{payload_schema_name(spec.topic)}"},
        },
        "required": ["cursor", "topic", "payload"],
        "additionalProperties": False,
    }


def _message(spec: EventSpec) -> dict[str, Any]:
    return {
        "name": message_name(spec.topic),
        "title": spec.topic,
        "summary": spec.summary,
        "description": f"Key: {spec.key} Received by: {spec.audience}",
        "contentType": "application/json",
        "payload": _envelope(spec),
        "x-trama-key": spec.key,
        "x-trama-audience": spec.audience,
    }


_PUSH_HEADERS: Schema = {
    "type": "object",
    "properties": {
        "Content-Type": {"type": "string", "const": "application/json"},
        "Idempotency-Key": {
            "type": "string",
            "description": "`<case id>:<version>:<partner id>`: the same push twice has the "
            "same key.",
        },
        "X-Trama-Timestamp": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Unix seconds when it was signed.",
        },
        "X-Trama-Signature": {
            "type": "string",
            "pattern": "^sha256=[0-9a-f]{64}$",
            "description": "`sha256=` + hex HMAC-SHA256(signing secret, timestamp + '.' + raw "
            "body). Verify it on the raw body, and refuse old timestamps.",
        },
        "X-Trama-Case-Version": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "required": [
        "Content-Type",
        "Idempotency-Key",
        "X-Trama-Timestamp",
        "X-Trama-Signature",
        "X-Trama-Case-Version",
    ],
}


@lru_cache(maxsize=1)
def _static_document() -> dict[str, Any]:
    schemas: dict[str, Schema] = copy.deepcopy(COMPONENTS)
    for topic, spec in TOPICS.items():
        schemas[payload_schema_name(topic)] = copy.deepcopy(spec.payload)
    schemas["CaseState"] = copy.deepcopy(CASE_STATE)
    messages: dict[str, Any] = {message_name(t): _message(s) for t, s in TOPICS.items()}
    messages["caseState"] = {
        "name": "caseState",
        "title": "A case's current state",
        "summary": "What a partner's platform receives when a case it is involved in changes.",
        "description": (
            "State, not a change: repeated, reordered or coalesced pushes end the same way, "
            "and the version a platform is told never goes down. Answer 2xx to acknowledge; "
            "timeouts, connection errors, 5xx, 408, 425 and 429 are retried with backoff, any "
            "other 4xx is not."
        ),
        "contentType": "application/json",
        "headers": _PUSH_HEADERS,
        "payload": {"$ref": "#/components/schemas/CaseState"},
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Trama events",
            "version": CONTRACT_VERSION,
            "description": _CONVENTIONS,
        },
        "defaultContentType": "application/json",
        "channels": {
            "events": {
                "address": "/graphql",
                "title": "The event stream (GraphQL subscription `events`)",
                "servers": [{"$ref": "#/servers/trama"}],
                "description": (
                    "Open a WebSocket to `/graphql` with subprotocol `graphql-transport-ws`, "
                    'send `{"type": "connection_init", "payload": {"Authorization": "Bearer '
                    '<token>"}}`, then subscribe:\n\n'
                    f"    {_SUBSCRIPTION}\n\n"
                    "`topics` takes exact topics or a domain (`cases.*`). You receive your "
                    "partner's events (administrators all). With `after` (a cursor you "
                    "received) the log is replayed and then followed live, with no gap and no "
                    "duplicate."
                ),
                "messages": {
                    name: {"$ref": f"#/components/messages/{name}"}
                    for name in messages
                    if name != "caseState"
                },
            },
            "caseStatePush": {
                "address": None,
                "title": "A partner connector's endpoint",
                "description": (
                    "The `endpointUrl` of the partner's connector (`upsertPartnerConnector`): "
                    "Trama POSTs there the state of every case the partner is involved in, "
                    "each time it changes."
                ),
                "servers": [{"$ref": "#/servers/partnerPlatform"}],
                "messages": {"caseState": {"$ref": "#/components/messages/caseState"}},
            },
        },
        "operations": {
            "receiveEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/events"},
                "title": "Trama sends events to subscribers",
                "messages": [
                    {"$ref": f"#/channels/events/messages/{message_name(t)}"} for t in TOPICS
                ],
            },
            "pushCaseState": {
                "action": "send",
                "channel": {"$ref": "#/channels/caseStatePush"},
                "title": "Trama pushes a case's state to a partner's platform",
                "messages": [{"$ref": "#/channels/caseStatePush/messages/caseState"}],
                "bindings": {"http": {"method": "POST"}},
            },
        },
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A token Trama accepts (`POST /oauth/token` for partner "
                    "systems), sent in `connection_init` as `Authorization`.",
                },
                "signature": {
                    "type": "httpApiKey",
                    "in": "header",
                    "name": "X-Trama-Signature",
                    "description": "Trama signs each push with the connector's signing secret.",
                },
            },
        },
    }


def build_document(host: str, *, secure: bool) -> dict[str, Any]:
    """The document with the servers of this deployment (``host`` is ``name[:port]``)."""
    document = copy.deepcopy(_static_document())
    servers = {
        "trama": {
            "host": host,
            "protocol": "wss" if secure else "ws",
            "title": "Trama",
            "description": "GraphQL over WebSocket (`graphql-transport-ws`; legacy `graphql-ws`).",
            "security": [{"$ref": "#/components/securitySchemes/bearer"}],
        },
        "partnerPlatform": {
            "host": "{host}",
            "protocol": "https",
            "title": "A partner's platform",
            "description": "The host of the partner connector's `endpointUrl`.",
            "variables": {"host": {"description": "The endpoint's host (and port)."}},
            "security": [{"$ref": "#/components/securitySchemes/signature"}],
        },
    }
    return {
        "asyncapi": document.pop("asyncapi"),
        "info": document.pop("info"),
        "servers": servers,
        **document,
    }


async def asyncapi_document(request: Request) -> Response:
    url = request.url
    document = build_document(url.netloc, secure=url.scheme in ("https", "wss"))
    return Response(
        orjson.dumps(document),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )
