"""Exact national-ID lookups have a budget of their own per subject.

A masked national ID shows its last digits (``•••••678-5``); a partner's agent may find a
walk-in customer by the exact number, so without a limit it could guess the hidden digits
one number at a time. ``TRAMA_NATIONAL_ID_LOOKUP_RATE_LIMIT`` bounds that per subject,
aliases included, and the refusal says when to try again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings
from tests.conftest import GraphQLClient, make_settings

LOOKUP = """
query($number: String!) {
  customerByNationalId(type: CL_RUT, number: $number) { id piiMasked }
}
"""


@pytest.fixture
async def limited(session_tmp: Path, database_url: str, db: Any) -> AsyncIterator[GraphQLClient]:
    settings: Settings = make_settings(
        session_tmp, database_url, national_id_lookup_rate_limit="3/hour"
    )
    runtime = build_runtime(settings)
    app = create_app(settings, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
        yield GraphQLClient(http)
    if runtime.rate_limiter is not None:
        await runtime.rate_limiter.close()


def _guesses(count: int) -> list[str]:
    from stdnum.cl import rut

    return [f"{n}{rut.calc_check_digit(str(n))}" for n in range(12_345_670, 12_345_670 + count)]


async def test_lookups_beyond_the_budget_are_refused(limited: GraphQLClient, token: Any) -> None:
    agent = token("agent", partner="RETAIL_SUR", subject="agent:guesser")
    for number in _guesses(3):
        body = await limited(LOOKUP, {"number": number}, token=agent)
        assert "errors" not in body, body
    body = await limited(LOOKUP, {"number": _guesses(4)[-1]}, token=agent)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] > 0

    # aliases spend one lookup each: a page of guesses in one request is refused too
    other = token("agent", partner="RETAIL_SUR", subject="agent:batcher")
    fields = " ".join(
        f'g{i}: customerByNationalId(type: CL_RUT, number: "{n}") {{ id }}'
        for i, n in enumerate(_guesses(5))
    )
    body = await limited(f"{{ {fields} }}", token=other)
    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    assert codes.count("RATE_LIMITED") == 2, body

    # the budget is per subject: a colleague still looks up a walk-in customer
    colleague = token("agent", partner="RETAIL_SUR", subject="agent:colleague")
    body = await limited(LOOKUP, {"number": _guesses(1)[0]}, token=colleague)
    assert "errors" not in body, body


def test_the_setting_is_checked() -> None:
    with pytest.raises(ValueError):
        Settings(national_id_lookup_rate_limit="many")
    assert Settings(national_id_lookup_rate_limit="off").national_id_lookup_rate_limit == "off"
