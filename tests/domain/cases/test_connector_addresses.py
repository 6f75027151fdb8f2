"""Connector endpoints and OAuth token URLs must name a partner's platform on the public
internet: every class of internal address is refused when the connector is registered
(with nothing written), unless the operator allows the network."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.db import transaction
from domain.cases import connectors
from domain.cases.connectors import ConnectorChanges
from domain.shared.errors import ValidationFailed
from domain.shared.netguard import STRICT, AddressPolicy
from tests.domain.cases.conftest import ADMIN, Network
from tests.domain.cases.test_connectors import SECRET, written

#: (host as written in a URL, what the refusal says)
INTERNAL_HOSTS = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("[::1]", "loopback"),
    ("localhost", "loopback"),
    ("trama.localhost", "loopback"),
    ("169.254.169.254", "link-local (cloud metadata"),
    ("[fe80::1]", "link-local"),
    ("10.0.0.5", "private"),
    ("172.16.3.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("[fc00::1]", "private"),
    ("[fd12:3456::1]", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("[::]", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "not a public internet address"),  # documentation range
    # IPv6 forms that carry an internal IPv4 address.
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[::ffff:169.254.169.254]", "link-local"),
    ("[::ffff:10.1.2.3]", "private"),
    ("[::ffff:a9fe:a9fe]", "link-local"),
    ("[2002:a9fe:a9fe::1]", "link-local"),  # 6to4 of 169.254.169.254
    ("[64:ff9b::a00:1]", "private"),  # NAT64 of 10.0.0.1
]


async def upsert(
    partner_id: Any, *, policy: AddressPolicy = STRICT, insecure: bool = False, **changes: Any
) -> connectors.ConnectorView:
    async with transaction() as session:
        return await connectors.upsert_connector(
            session,
            principal=ADMIN,
            partner_id=partner_id,
            changes=ConnectorChanges(**changes),
            allow_insecure_http=insecure,
            address_policy=policy,
        )


async def refused(partner_id: Any, **kwargs: Any) -> ValidationFailed:
    before = await written()
    with pytest.raises(ValidationFailed) as caught:
        await upsert(partner_id, **kwargs)
    assert await written() == before
    return caught.value


def oauth(token_url: str) -> dict[str, str]:
    credentials = {"token_url": token_url, "client_id": "trama", "client_secret": "s3cret"}
    return {"auth_type": "OAUTH2_CLIENT_CREDENTIALS", "auth_credentials": json.dumps(credentials)}


@pytest.mark.parametrize(("host", "words"), INTERNAL_HOSTS)
async def test_internal_endpoints_are_refused(net: Network, host: str, words: str) -> None:
    for insecure in (False, True):  # outside production too
        error = await refused(
            net.ids["BANCO_ANDINO"],
            insecure=insecure,
            endpoint_url=f"https://{host}:8443/trama/cases",
            signing_secret=SECRET,
        )
        [problem] = error.problems
        assert problem.field == "endpointUrl"
        assert words in problem.message, problem.message
        assert "TRAMA_CONNECTOR_ALLOWED_NETWORKS" in problem.message


@pytest.mark.parametrize(("host", "words"), INTERNAL_HOSTS[::3])
async def test_internal_token_urls_are_refused(net: Network, host: str, words: str) -> None:
    error = await refused(
        net.ids["BANCO_ANDINO"],
        endpoint_url="https://api.bancoandino.example/trama/cases",
        signing_secret=SECRET,
        **oauth(f"https://{host}/oauth2/token"),
    )
    [problem] = error.problems
    assert problem.field == "authCredentials"
    assert "token_url" in problem.message and words in problem.message, problem.message


async def test_token_urls_must_use_https(net: Network) -> None:
    base = {"endpoint_url": "https://api.bancoandino.example/c", "signing_secret": SECRET}
    error = await refused(
        net.ids["BANCO_ANDINO"], **base, **oauth("http://login.bancoandino.example/token")
    )
    assert "token_url must use https" in error.problems[0].message
    error = await refused(net.ids["BANCO_ANDINO"], **base, **oauth("https://x.example:99999/t"))
    assert "token_url is not a valid URL" in error.problems[0].message
    # Outside production a loopback simulator may use http, when its network is allowed.
    view = await upsert(
        net.ids["BANCO_ANDINO"],
        policy=AddressPolicy.allowing(["127.0.0.0/8"]),
        insecure=True,
        **base,
        **oauth("http://127.0.0.1:9000/token"),
    )
    assert view.has_credentials


async def test_an_allowed_network_is_accepted(net: Network) -> None:
    private_link = AddressPolicy.allowing(["10.40.0.0/16", "fd00:40::/32"])
    view = await upsert(
        net.ids["BANCO_ANDINO"],
        policy=private_link,
        endpoint_url="https://10.40.3.7/trama/cases",
        signing_secret=SECRET,
        **oauth("https://[fd00:40::5]/oauth2/token"),
    )
    assert view.endpoint_url == "https://10.40.3.7/trama/cases"
    # Only that network: the rest stays refused.
    error = await refused(
        net.ids["RETAIL_SUR"],
        policy=private_link,
        endpoint_url="https://10.41.0.1/trama/cases",
        signing_secret=SECRET,
    )
    assert "private" in error.problems[0].message


async def test_public_addresses_and_names_are_accepted(net: Network) -> None:
    for code, url in (
        ("BANCO_ANDINO", "https://api.bancoandino.example/trama/cases"),
        ("RETAIL_SUR", "https://93.184.216.34/trama"),
        ("TARJETA_PLATA", "https://[2606:4700:4700::1111]/trama"),
    ):
        view = await upsert(net.ids[code], endpoint_url=url, signing_secret=SECRET)
        assert view.endpoint_url == url


async def test_plain_http_to_an_allowed_loopback_platform_outside_production(
    net: Network,
) -> None:
    view = await upsert(
        net.ids["BANCO_ANDINO"],
        policy=AddressPolicy.allowing(["127.0.0.0/8", "::1"]),
        insecure=True,
        endpoint_url="http://127.0.0.1:8123/trama/cases",
        signing_secret=SECRET,
    )
    assert view.endpoint_url == "http://127.0.0.1:8123/trama/cases"
    # In production (no insecure http) the same allowance still needs https.
    error = await refused(
        net.ids["RETAIL_SUR"],
        policy=AddressPolicy.allowing(["127.0.0.0/8"]),
        endpoint_url="http://127.0.0.1:8123/trama/cases",
        signing_secret=SECRET,
    )
    assert "must use https" in error.problems[0].message
