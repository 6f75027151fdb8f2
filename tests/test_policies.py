"""Credit policy from settings: TRAMA_CREDIT_MAX_ANNUAL_RATE, TRAMA_LATE_ANNUAL_RATE and
TRAMA_LATE_ANNUAL_RATE_CAP configure the domain at start-up (API lifespan, worker child)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import ValidationError

from app.main import create_app
from app.policies import configure_policies, credit_policy_from
from app.settings import Settings
from domain.credits import policy


@pytest.fixture(autouse=True)
def restore_policy() -> Iterator[None]:
    yield
    policy.configure(policy.CreditPolicy())


def test_settings_override_the_domain_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert credit_policy_from(Settings()) == policy.CreditPolicy()
    monkeypatch.setenv("TRAMA_CREDIT_MAX_ANNUAL_RATE", "0.55")
    monkeypatch.setenv("TRAMA_LATE_ANNUAL_RATE", "0.2")
    monkeypatch.setenv("TRAMA_LATE_ANNUAL_RATE_CAP", "0.4")
    configure_policies(Settings())
    current = policy.get_policy()
    assert current.max_annual_rate == Decimal("0.55")
    assert current.late_annual_rate == Decimal("0.2")
    assert current.max_late_annual_rate == Decimal("0.4")
    assert current.max_term_months == policy.CreditPolicy().max_term_months


def test_bad_rates_are_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAMA_LATE_ANNUAL_RATE", "-0.1")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("TRAMA_LATE_ANNUAL_RATE", "0.6")  # above the default cap of 0.5
    with pytest.raises(ValueError, match="TRAMA_LATE_ANNUAL_RATE_CAP"):
        configure_policies(Settings())
    assert policy.get_policy() == policy.CreditPolicy()


async def test_the_api_configures_the_policy_when_it_starts(tmp_path) -> None:
    settings = Settings(
        env="test",
        var_dir=tmp_path,
        credit_max_annual_rate=Decimal("0.3"),
        log_format="text",
    )
    app = create_app(settings, manage_database=False, manage_backbone=False)
    async with app.router.lifespan_context(app):
        assert policy.get_policy().max_annual_rate == Decimal("0.3")
