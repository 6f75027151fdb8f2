"""The HTTP bureau client against a fake bureau on a loopback port: a report, and every way
the bureau can fail (down, slow, 5xx, an answer off its format, a wrong key)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from domain.scoring.bureau import BureauSubject, HttpBureauClient
from domain.scoring.errors import BureauUnavailable
from tests.domain.scoring.fake_bureau import API_KEY, SECRET, FakeBureau

SUBJECT = BureauSubject(country="CL", id_type="RUT", national_id="123456785")


@pytest.fixture(scope="module")
async def bureau() -> AsyncIterator[FakeBureau]:
    fake = await FakeBureau(subjects={"123456785": (742, 2, 1, 3)}).start()
    yield fake
    await fake.stop()


def _client(fake: FakeBureau, **kw: object) -> HttpBureauClient:
    args: dict[str, object] = {"url": fake.url, "api_key": API_KEY, "secret": SECRET}
    args.update(kw)
    return HttpBureauClient(**args)  # type: ignore[arg-type]


async def test_report(bureau: FakeBureau) -> None:
    bureau.mode = "ok"
    report = await _client(bureau).report(SUBJECT)
    assert report.facts() == {
        "bureau_score": 742,
        "bureau_open_debts": 2,
        "bureau_delinquencies": 1,
        "bureau_inquiries": 3,
    }
    assert report.open_debt_balance == 2_500_000 and report.currency == "CLP"
    assert report.worst_days_past_due == 45
    sent = bureau.requests[-1]
    assert sent["subject"] == {"country": "CL", "idType": "RUT", "nationalId": "123456785"}
    assert sent["purpose"] == "CREDIT_APPLICATION"


async def test_failures_are_unavailable(bureau: FakeBureau) -> None:
    bureau.mode = "error"
    with pytest.raises(BureauUnavailable, match="HTTP 503"):
        await _client(bureau).report(SUBJECT)
    bureau.mode = "malformed"
    with pytest.raises(BureauUnavailable, match="malformed"):
        await _client(bureau).report(SUBJECT)
    bureau.mode = "ok"
    refused = bureau.refused
    with pytest.raises(BureauUnavailable, match="HTTP 401"):
        await _client(bureau, secret="wrong").report(SUBJECT)
    assert bureau.refused == refused + 1


async def test_timeout(bureau: FakeBureau) -> None:
    bureau.mode = "hang"
    bureau.release.clear()
    try:
        with pytest.raises(BureauUnavailable, match="timeout"):
            await _client(bureau, timeout=0.3).report(SUBJECT)
    finally:
        bureau.release.set()
        bureau.mode = "ok"


async def test_down() -> None:
    fake = FakeBureau()  # never started: the port refuses connections
    with pytest.raises(BureauUnavailable, match="unreachable"):
        await _client(fake).report(SUBJECT)
