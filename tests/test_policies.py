"""Credit policy from settings: TRAMA_CREDIT_MAX_ANNUAL_RATE, TRAMA_LATE_ANNUAL_RATE,
TRAMA_LATE_ANNUAL_RATE_CAP and the maximum principals (TRAMA_CREDIT_MAX_PRINCIPAL,
TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL) configure the domain at start-up (API lifespan, worker
child)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import ValidationError

from app.main import create_app
from app.policies import configure_policies, credit_policy_from
from app.settings import Settings
from domain.credits import policy
from domain.shared.money import CURRENCY_EXPONENTS, Money


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


def test_the_product_catalogue_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRAMA_CREDIT_MAX_PRINCIPAL and TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL (JSON)."""
    default = policy.CreditPolicy()
    assert set(default.max_principal) == set(CURRENCY_EXPONENTS)  # every currency has one
    assert default.principal_limit("CLP") == Money.parse("2000000000", "CLP")
    assert default.principal_limit("CLP", "AUTO-USADO") == default.principal_limit("CLP")
    monkeypatch.setenv("TRAMA_CREDIT_MAX_PRINCIPAL", '{"CLP": "500000000"}')
    monkeypatch.setenv(
        "TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL", '{"auto-usado": {"CLP": "60000000", "CLF": "1500.5"}}'
    )
    configure_policies(Settings())
    current = policy.get_policy()
    assert current.principal_limit("CLP") == Money.parse("500000000", "CLP")
    assert current.principal_limit("USD") == default.principal_limit("USD")  # left out: default
    assert current.principal_limit("CLP", "AUTO-USADO") == Money.parse("60000000", "CLP")
    assert current.principal_limit("CLF", "AUTO-USADO") == Money.parse("1500.5", "CLF")
    assert current.principal_limit("USD", "AUTO-USADO") == default.principal_limit("USD")
    assert current.principal_limit("CLP", "AUTO-NUEVO") == Money.parse("500000000", "CLP")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TRAMA_CREDIT_MAX_PRINCIPAL", '{"EUR": "100"}', "not a supported currency"),
        ("TRAMA_CREDIT_MAX_PRINCIPAL", '{"CLP": "0"}', "greater than zero"),
        ("TRAMA_CREDIT_MAX_PRINCIPAL", '{"CLP": "10.5"}', "CLP"),
        ("TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL", '{"no spaces": {"CLP": "1"}}', "product"),
        ("TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL", '{"AUTO": {}}', "limits per currency"),
        ("TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL", '{"AUTO": {"XYZ": "1"}}', "supported currency"),
        (
            "TRAMA_CREDIT_PRODUCT_MAX_PRINCIPAL",
            '{"AUTO": {"CLP": "1"}, "auto": {"CLP": "2"}}',
            "twice",
        ),
    ],
)
def test_bad_principal_limits_are_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=says) as caught:
        configure_policies(Settings())
    assert "TRAMA_CREDIT_MAX_PRINCIPAL" in str(caught.value)
    assert policy.get_policy() == policy.CreditPolicy()
