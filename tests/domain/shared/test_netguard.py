"""The address policy of connectors (domain/shared/netguard.py)."""

from __future__ import annotations

import ipaddress

import pytest

from app.settings import Settings
from domain.shared.netguard import STRICT, AddressPolicy, embedded_ipv4, parse_networks

PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


def test_public_addresses_are_allowed() -> None:
    for text in PUBLIC:
        assert STRICT.refusal(ipaddress.ip_address(text)) is None, text


def test_embedded_ipv4_forms() -> None:
    for text, inner in (
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("::10.0.0.1", "10.0.0.1"),
    ):
        assert embedded_ipv4(ipaddress.ip_address(text)) == ipaddress.ip_address(inner), text
    assert embedded_ipv4(ipaddress.ip_address("::1")) is None
    assert embedded_ipv4(ipaddress.ip_address("10.0.0.1")) is None


def test_an_allowance_covers_its_network_only_and_its_mapped_forms() -> None:
    policy = AddressPolicy.allowing(["127.0.0.0/8"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    refusal = policy.refusal(ipaddress.ip_address("::1"))
    assert refusal is not None and "loopback" in refusal
    assert policy.host_refusal("localhost") is None
    assert STRICT.host_refusal("api.partner.example") is None  # names: at connection time


def test_bad_networks_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a network"):
        parse_networks(["10.0.0.0/33"])
    with pytest.raises(ValueError, match="is not a network"):
        Settings(connector_allowed_networks="10.1.0.0/16, banana")
    settings = Settings(connector_allowed_networks="10.1.2.3/16, ::1")
    assert settings.connector_allowed_networks == ["10.1.0.0/16", "::1/128"]
