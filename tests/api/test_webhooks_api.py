"""POST /webhooks/{source} as a sender sees it: the signature checked on the raw body
(401 with a code, nothing stored), the body size limit (413), an unknown source (404),
a new delivery answered 202 at once and a replay 200 ``duplicate`` — stored once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.datastructures import Headers

from app import webhooks
from app.db import read_session
from app.settings import Settings
from domain.webhooks.models import WebhookDelivery

SOURCE = "tests-hmac"
SECRET = "s3cret-for-tests"


def _factory(settings: Settings) -> webhooks.WebhookSource:
    def verify(headers: Headers, body: bytes) -> None:
        webhooks.check_hex_signature(SECRET, body, headers.get("x-test-signature"))

    def dedup(headers: Headers, body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    return webhooks.WebhookSource(
        SOURCE, verify, dedup, keep_headers=("content-type", "x-test-signature")
    )


@pytest.fixture(autouse=True)
def source() -> Iterator[None]:
    webhooks.register_source(SOURCE, _factory)
    yield
    webhooks.unregister_source(SOURCE)


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-test-signature": webhooks.hmac_sha256_hex(secret, body),
    }


async def _stored() -> list[WebhookDelivery]:
    async with read_session() as session:
        return list((await session.execute(sa.select(WebhookDelivery))).scalars().all())


async def test_a_signed_delivery_is_stored_once(client: httpx.AsyncClient) -> None:
    body = json.dumps({"event": "created", "id": 7}, separators=(",", ":")).encode()
    first = await client.post(f"/webhooks/{SOURCE}", content=body, headers=_signed(body))
    assert first.status_code == 202, first.text
    answer: dict[str, Any] = first.json()
    assert answer["received"] is True and answer["duplicate"] is False
    replay = await client.post(f"/webhooks/{SOURCE}", content=body, headers=_signed(body))
    assert replay.status_code == 200
    assert replay.json() == {**answer, "duplicate": True}
    stored = await _stored()
    assert len(stored) == 1
    assert stored[0].body == body
    assert stored[0].headers["x-test-signature"] == _signed(body)["x-test-signature"]
    # Uppercase hex and a "sha256=" prefix are the same signature.
    other = b'{"event":"created","id":8}'
    upper = {"x-test-signature": "sha256=" + webhooks.hmac_sha256_hex(SECRET, other).upper()}
    assert (
        await client.post(f"/webhooks/{SOURCE}", content=other, headers=upper)
    ).status_code == 202


async def test_bad_signatures_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"event":"created","id":1}'
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "MISSING_SIGNATURE"),
        (_signed(body, secret="another secret"), "INVALID_SIGNATURE"),
        ({"x-test-signature": "not hex at all \u00fc".encode("latin-1")}, "INVALID_SIGNATURE"),
        # Signed for another body: the signature covers the raw bytes (a space more).
        (_signed(b'{"event":"created", "id":1}'), "INVALID_SIGNATURE"),
    ]
    for headers, code in cases:
        response = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == code
    assert await _stored() == []


async def test_unknown_sources_methods_and_big_bodies(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    unknown = await client.post("/webhooks/nobody", content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NOT_FOUND"
    assert (await client.get(f"/webhooks/{SOURCE}")).status_code == 405
    big = b'{"pad":"' + b"x" * settings.webhook_max_body_bytes + b'"}'
    response = await client.post(f"/webhooks/{SOURCE}", content=big, headers=_signed(big))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks() -> Any:  # no Content-Length: counted while read
        for _ in range(4):
            yield b"x" * (settings.webhook_max_body_bytes // 3)

    streamed = await client.post(f"/webhooks/{SOURCE}", content=chunks())
    assert streamed.status_code == 413
    assert await _stored() == []
