"""DocuSeal's webhook signature, its body and the key a delivery is deduplicated on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.origination import docuseal as hooks

SECRET = b"s3cret-of-the-docuseal-webhook"
NOW = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
BODY = json.dumps(
    {
        "event_type": "form.completed",
        "timestamp": "2026-12-02T18:00:00.123Z",
        "data": {"id": 1002, "submission_id": 1001, "external_id": "x:customer"},
    }
).encode()


def test_a_signature_made_with_the_secret_within_300_seconds_passes() -> None:
    for at in (TS, TS - 300, TS + 300):
        hooks.verify_signature(hooks.sign(SECRET, BODY, at), BODY, secret=SECRET, now=NOW)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "MISSING_SIGNATURE"),
        ("", "MISSING_SIGNATURE"),
        ("abc", "INVALID_SIGNATURE"),
        (f"{TS}", "INVALID_SIGNATURE"),
        (f"x{TS}.00", "INVALID_SIGNATURE"),
        (hooks.sign(b"another secret", BODY, TS), "INVALID_SIGNATURE"),
        (hooks.sign(SECRET, BODY + b" ", TS), "INVALID_SIGNATURE"),  # body changed
        (hooks.sign(SECRET, BODY, TS - 301), "SIGNATURE_EXPIRED"),  # captured, replayed late
        (hooks.sign(SECRET, BODY, TS + 301), "SIGNATURE_EXPIRED"),
        # a valid MAC moved to another timestamp no longer matches
        (f"{TS - 1}." + hooks.sign(SECRET, BODY, TS).partition(".")[2], "INVALID_SIGNATURE"),
    ],
)
def test_anything_else_is_refused(header: str | None, code: str) -> None:
    with pytest.raises(hooks.SignatureInvalid) as caught:
        hooks.verify_signature(header, BODY, secret=SECRET, now=NOW)
    assert caught.value.code == code


def test_older_instances_send_a_custom_header_value() -> None:
    hooks.verify_header_value("the-value", "the-value")
    for wrong in (None, "", "the-valuE", "the-value "):
        with pytest.raises(hooks.SignatureInvalid):
            hooks.verify_header_value(wrong, "the-value")


def test_the_dedup_key_is_event_type_data_id_and_timestamp() -> None:
    event = hooks.parse_event(BODY)
    assert hooks.dedup_key(event) == "form.completed:1002:2026-12-02T18:00:00.123Z"
    assert event.submission_id == 1001 and event.submitter_id == 1002
    assert event.external_id == "x:customer"
    assert event.timestamp == datetime(2026, 12, 2, 18, 0, 0, 123000, tzinfo=UTC)
    submission = hooks.parse_event(
        json.dumps(
            {
                "event_type": "submission.expired",
                "timestamp": "2026-12-02T18:00:00Z",
                "data": {"id": 7},
            }
        ).encode()
    )
    assert submission.submission_id == 7 and submission.submitter_id is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"timestamp": "2026-12-02T18:00:00Z", "data": {"id": 1}}',
        b'{"event_type": "form.viewed", "data": {"id": 1}}',
        b'{"event_type": "form.viewed", "timestamp": "yesterday", "data": {"id": 1}}',
        b'{"event_type": "form.viewed", "timestamp": "2026-12-02T18:00:00Z", "data": {}}',
        b'{"event_type": "form.viewed", "timestamp": "2026-12-02T18:00:00Z", "data": {"id": true}}',
    ],
)
def test_bodies_that_are_not_docuseal_events_are_refused(body: bytes) -> None:
    with pytest.raises(hooks.PayloadInvalid):
        hooks.parse_event(body)
