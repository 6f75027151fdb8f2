"""POST /webhooks/calcom as Cal.com calls it: signed with X-Cal-Signature-256 over the raw
body; a wrong or missing signature, "no-secret-provided" and an unconfigured secret are
refused with their codes and nothing stored; a replay is acknowledged as a duplicate."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.db import Database, read_session
from app.main import create_app
from app.runtime import build_runtime
from domain.crm import calcom
from domain.webhooks.models import WebhookDelivery
from tests.conftest import make_settings

SECRET = "whsec-calcom-api-test"
BODY = json.dumps(
    {
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": "2026-12-02T18:00:00.000Z",
        "payload": {
            "uid": "bk-api-1",
            "bookingId": 901,
            "eventTypeId": 1234,
            "title": "Asesoría crédito automotriz",
            "startTime": "2026-12-04T14:00:00Z",
            "endTime": "2026-12-04T14:30:00Z",
            "organizer": {"email": "camila@autocredito.example", "timeZone": "America/Santiago"},
            "attendees": [
                {
                    "email": "ana@example.cl",
                    "name": "Ana",
                    "timeZone": "America/Santiago",
                    "phoneNumber": "+56987654321",
                }
            ],
            "responses": {"email": {"label": "email_address", "value": "ana@example.cl"}},
            "metadata": {"videoCallUrl": "https://app.cal.com/video/bk-api-1"},
            "status": "ACCEPTED",
        },
    }
).encode()


async def _client(session_tmp: Path, database_url: str, **overrides: Any) -> httpx.AsyncClient:
    settings = make_settings(session_tmp, database_url, **overrides)
    app = create_app(settings, runtime=build_runtime(settings), manage_database=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://trama.test")


@pytest.fixture
async def calcom_client(
    session_tmp: Path, database_url: str, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(session_tmp, database_url, calcom_webhook_secret=SECRET) as http:
        yield http


async def _stored() -> list[WebhookDelivery]:
    async with read_session() as session:
        return list((await session.execute(sa.select(WebhookDelivery))).scalars().all())


def _headers(signature: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "user-agent": "Cal.com"}
    if signature is not None:
        headers["x-cal-signature-256"] = signature
    return headers


async def test_a_signed_booking_is_stored_once(calcom_client: httpx.AsyncClient) -> None:
    signed = _headers(calcom.sign(SECRET, BODY))
    first = await calcom_client.post("/webhooks/calcom", content=BODY, headers=signed)
    assert first.status_code == 202, first.text
    replay = await calcom_client.post("/webhooks/calcom", content=BODY, headers=signed)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    stored = await _stored()
    assert len(stored) == 1
    assert stored[0].source == "calcom" and stored[0].body == BODY
    assert stored[0].dedup_key.startswith("BOOKING_CREATED:bk-api-1:")
    assert stored[0].headers["x-cal-signature-256"] == signed["x-cal-signature-256"]


async def test_refused_deliveries_store_nothing(calcom_client: httpx.AsyncClient) -> None:
    cases = [
        (None, 401, "MISSING_SIGNATURE"),
        ("no-secret-provided", 401, "INVALID_SIGNATURE"),
        (calcom.sign("another-secret", BODY), 401, "INVALID_SIGNATURE"),
        (calcom.sign(SECRET, BODY.replace(b"bk-api-1", b"bk-api-2")), 401, "INVALID_SIGNATURE"),
    ]
    for signature, status, code in cases:
        response = await calcom_client.post(
            "/webhooks/calcom", content=BODY, headers=_headers(signature)
        )
        assert response.status_code == status, (signature, response.text)
        assert response.json()["error"]["code"] == code
    not_cal = b'{"hello": "world"}'
    response = await calcom_client.post(
        "/webhooks/calcom", content=not_cal, headers=_headers(calcom.sign(SECRET, not_cal))
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PAYLOAD"
    assert await _stored() == []


async def test_without_a_secret_nothing_is_accepted(
    session_tmp: Path, database_url: str, db: Database
) -> None:
    async with await _client(session_tmp, database_url) as http:
        for signature in ("no-secret-provided", calcom.sign(SECRET, BODY)):
            response = await http.post(
                "/webhooks/calcom", content=BODY, headers=_headers(signature)
            )
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "WEBHOOK_NOT_CONFIGURED"
    assert await _stored() == []
