"""The marketplace through the API: feeds uploaded by dealers' systems, the public
catalogue (filters, facets, keyset pages, anonymous and rate-limited), photos, access,
bad input, affordableFor and reservations."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.db import read_session
from app.main import create_app
from app.runtime import build_runtime
from domain.customers.models import Customer
from domain.marketplace.affordability import PrequalificationTerms
from domain.partners.models import Partner
from domain.shared.time import isoformat, utcnow
from resolvers import marketplace as marketplace_resolvers
from tests.api.credit_support import customer_token
from tests.conftest import GraphQLClient, make_settings
from tests.domain.marketplace.conftest import csv_feed, make_dealers, row, snapshot

IMPORT = """
mutation($file: Upload!, $full: Boolean!, $partial: Boolean!, $dealer: ID) {
  importVehicleFeed(file: $file, full: $full, partial: $partial, dealerId: $dealer) {
    __typename
    ... on ImportVehicleFeedSuccess { feed { created updated unchanged withdrawn rejected
                                             problems { line field message } } }
    ... on UserError { code message }
    ... on ValidationError { problems { field message } }
  }
}
"""
VEHICLES = """
query($filter: VehicleFilter, $order: VehicleOrder!, $first: Int, $after: String,
      $for: ID) {
  vehicles(filter: $filter, orderBy: $order, first: $first, after: $after,
           affordableFor: $for) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id stockId make model trim year kilometres fuel transmission status
                   version price { amount currency minorUnits }
                   monthlyInstallment { minorUnits } financedAmount { minorUnits }
                   dealer { code name } photos { url contentType } } }
  }
}
"""
FACETS = """
query($filter: VehicleFilter) {
  vehicles(filter: $filter, first: 1) {
    facets { makes { value count } fuels { value count } years { start end count }
             prices { minimum { amount } maximum { amount } count } }
  }
}
"""
PRICES = ["4.990.000", "7.500.000", "7.500.000", "9.990.000", "12.000.000", "18.500.000"]
MAKES = ["Toyota", "Kia", "Kia", "Hyundai", "Toyota", "Mazda"]


async def upload(
    client: httpx.AsyncClient,
    token: str | None,
    content: bytes,
    *,
    query: str = IMPORT,
    variables: dict[str, Any] | None = None,
    name: str = "stock.csv",
    media: str = "text/csv",
) -> dict[str, Any]:
    values = variables if variables is not None else {"full": False, "partial": False}
    headers = {"apollo-require-preflight": "1"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": {"file": None, **values}}),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": (name, content, media)},
        headers=headers,
    )
    body: dict[str, Any] = response.json()
    return body


def _stock() -> bytes:
    return csv_feed(
        *[
            row(f"A{i}", p, make=m, year=str(2018 + i), fuel="Diesel" if i % 2 else "Bencina")
            for i, (p, m) in enumerate(zip(PRICES, MAKES, strict=True))
        ]
    )


def _gid(kind: str, key: uuid.UUID) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def test_a_dealer_feeds_its_stock_and_anyone_browses_it(
    client: httpx.AsyncClient, gql: GraphQLClient, token: Any, sql_counter: Any
) -> None:
    dealers = await make_dealers()
    dealer = token("dealer", partner="T_AUTOS_NORTE")
    body = await upload(client, dealer, _stock())
    assert body["data"]["importVehicleFeed"]["feed"]["created"] == 6, body
    again = await upload(client, dealer, _stock())
    assert again["data"]["importVehicleFeed"]["feed"]["unchanged"] == 6
    mine = {"dealerId": _gid("Partner", dealers.a)}

    # anonymous: pages by price, stable across ties, with the total
    seen: list[str] = []
    after = None
    while True:
        page = await gql(
            VEHICLES, {"filter": mine, "order": "PRICE_ASC", "first": 4, "after": after}
        )
        assert "errors" not in page, page
        data = page["data"]["vehicles"]
        assert data["totalCount"] == 6
        seen += [e["node"]["stockId"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert seen == ["A0", "A1", "A2", "A3", "A4", "A5"]
    first = (await gql(VEHICLES, {"filter": mine, "order": "YEAR_DESC", "first": 1}))["data"]
    node = first["vehicles"]["edges"][0]["node"]
    assert node["stockId"] == "A5" and node["dealer"]["name"] == "Automotora Norte"
    assert node["price"] == {"amount": "18500000", "currency": "CLP", "minorUnits": "18500000"}
    assert node["monthlyInstallment"] is None and node["photos"] == []

    # a photo, public while the vehicle is listed
    added = await upload(
        client,
        dealer,
        PNG,
        query="""mutation($file: Upload!, $v: ID!) { addVehiclePhoto(vehicleId: $v, file: $file)
                 { __typename ... on AddVehiclePhotoSuccess { created photo { url } vehicle
                 { version } } ... on UserError { code message } } }""",
        variables={"v": node["id"]},
        name="front.png",
        media="image/png",
    )
    photo = added["data"]["addVehiclePhoto"]
    assert photo["created"] and photo["vehicle"]["version"] == 2, added
    served = await client.get(photo["photo"]["url"].removeprefix("http://trama.test"))
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert (await client.get(f"/vehicle-photos/{uuid.uuid4()}")).status_code == 404

    # one page with photos and dealers: a fixed number of statements, not one per vehicle
    counts = []
    for size in (1, 6):
        sql_counter.reset()
        page = await gql(VEHICLES, {"filter": mine, "order": "NEWEST", "first": size})
        assert len(page["data"]["vehicles"]["edges"]) == size
        counts.append(sql_counter.count)
    assert counts[0] == counts[1], sql_counter.statements

    facets = (await gql(FACETS, {"filter": mine}))["data"]["vehicles"]["facets"]
    assert facets["makes"][0] in ({"value": "Kia", "count": 2}, {"value": "Toyota", "count": 2})
    assert {f["value"]: f["count"] for f in facets["fuels"]} == {"DIESEL": 3, "GASOLINE": 3}
    assert sum(p["count"] for p in facets["prices"]) == 6

    # a full feed withdraws A5: gone for the public, still there for its dealer
    await upload(
        client,
        dealer,
        csv_feed(
            *[
                row(f"A{i}", p, make=m)
                for i, (p, m) in enumerate(zip(PRICES[:5], MAKES[:5], strict=True))
            ]
        ),
        variables={"full": True, "partial": False},
    )
    withdrawn = {**mine, "statuses": ["WITHDRAWN"]}
    public = await gql(VEHICLES, {"filter": withdrawn, "order": "NEWEST"})
    assert public["data"]["vehicles"]["edges"] == []
    own = await gql(VEHICLES, {"filter": withdrawn, "order": "NEWEST"}, token=dealer)
    assert [e["node"]["stockId"] for e in own["data"]["vehicles"]["edges"]] == ["A5"]
    one = await gql("query($id: ID!) { vehicle(id: $id) { stockId } }", {"id": node["id"]})
    assert one["data"]["vehicle"] is None
    assert (await client.get(photo["photo"]["url"][len("http://trama.test") :])).status_code == 404


async def test_bad_input_is_refused_with_codes_and_writes_nothing(
    client: httpx.AsyncClient, gql: GraphQLClient, token: Any
) -> None:
    dealers = await make_dealers()
    dealer = token("dealer", partner="T_AUTOS_NORTE")
    before = await snapshot()
    bad = csv_feed(row("A1"), row("A2", "-5"), row("A3", year=str(utcnow().year + 3)))
    body = await upload(client, dealer, bad)
    result = body["data"]["importVehicleFeed"]
    assert result["code"] == "FEED_REFUSED"
    assert {p["field"] for p in result["problems"]} == {"line 3: price", "line 4: year"}
    other = await upload(
        client,
        dealer,
        _stock(),
        variables={"full": False, "partial": False, "dealer": _gid("Partner", dealers.b)},
    )
    assert other["data"]["importVehicleFeed"]["code"] == "FORBIDDEN"
    agent = token("agent", partner="AUTOCREDITO")
    assert (await upload(client, agent, _stock()))["data"]["importVehicleFeed"]["code"] == (
        "FORBIDDEN"
    )
    anonymous = await upload(client, None, _stock())
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    admin = token("admin")
    async with read_session() as session:
        lender = (
            await session.execute(sa.select(Partner.id).where(Partner.code == "AUTOCREDITO"))
        ).scalar_one()
    unknown = await upload(
        client,
        admin,
        _stock(),
        variables={"full": False, "partial": False, "dealer": _gid("Partner", lender)},
    )
    assert unknown["data"]["importVehicleFeed"]["code"] == "UNKNOWN_DEALER"
    assert await snapshot() == before

    for variables, code in (
        ({"order": "NEWEST", "first": 1000}, "VALIDATION"),
        ({"order": "NEWEST", "after": "bm9wZQ"}, "VALIDATION"),
        ({"order": "NEWEST", "filter": {"priceMin": "-1", "currency": "CLP"}}, "VALIDATION"),
        ({"order": "NEWEST", "filter": {"priceMin": "1.5", "currency": "CLP"}}, "VALIDATION"),
        ({"order": "NEWEST", "filter": {"priceMin": "100"}}, "VALIDATION"),
        ({"order": "NEWEST", "filter": {"yearMin": 2030, "yearMax": 2020}}, "VALIDATION"),
        ({"order": "NEWEST", "for": _gid("Customer", uuid.uuid4())}, "UNAUTHENTICATED"),
    ):
        answer = await gql(VEHICLES, variables, expect_status=None)
        assert answer["errors"][0]["extensions"]["code"] == code, (variables, answer)


@pytest.fixture
async def limited(session_tmp: Path, database_url: str, db: Any) -> AsyncIterator[GraphQLClient]:
    settings = make_settings(session_tmp, database_url, public_rate_limit="3/minute")
    runtime = build_runtime(settings)
    app = create_app(settings, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
        yield GraphQLClient(http)
    if runtime.rate_limiter is not None:
        await runtime.rate_limiter.close()


async def test_anonymous_visitors_are_rate_limited_per_address(limited: GraphQLClient) -> None:
    for _ in range(3):
        body = await limited(VEHICLES, {"order": "NEWEST", "first": 1})
        assert "errors" not in body, body
    body = await limited(VEHICLES, {"order": "NEWEST", "first": 1}, expect_status=None)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] > 0


async def test_affordable_for_a_prequalified_customer(
    gql: GraphQLClient, client: httpx.AsyncClient, token: Any, runtime: Any, monkeypatch: Any
) -> None:
    dealers = await make_dealers()
    await upload(client, token("dealer", partner="T_AUTOS_NORTE"), _stock())
    async with read_session() as session:
        customer = (await session.execute(sa.select(Customer.id).limit(1))).scalar_one()
        lender = (
            await session.execute(sa.select(Partner.id).where(Partner.code == "AUTOCREDITO"))
        ).scalar_one()
    terms = PrequalificationTerms(
        customer_id=customer,
        lender_id=lender,
        max_principal=6_000_000,
        down_payment=2_000_000,
        currency="CLP",
        annual_rate=Decimal("0.2"),
        term_months=48,
        grade="B",
        valid_until=utcnow() + timedelta(days=5),
    )

    async def lookup(session: Any, *, customer_id: uuid.UUID) -> PrequalificationTerms | None:
        return terms if customer_id == customer else None

    monkeypatch.setattr(marketplace_resolvers, "terms_lookup", lookup)
    variables = {
        "order": "PRICE_DESC",
        "for": _gid("Customer", customer),
        "filter": {"dealerId": _gid("Partner", dealers.a)},
    }
    me = customer_token(runtime, customer)
    body = await gql(VEHICLES, variables, token=me)
    assert "errors" not in body, body
    nodes = [e["node"] for e in body["data"]["vehicles"]["edges"]]
    # 7.5M, 7.5M (ties by id, descending too), 4.99M: at most 8M
    assert [n["stockId"] for n in nodes] == ["A2", "A1", "A0"]
    assert nodes[0]["financedAmount"]["minorUnits"] == "5500000"
    assert 5_500_000 // 48 < int(nodes[0]["monthlyInstallment"]["minorUnits"]) < 5_500_000 // 30
    staff = await gql(VEHICLES, variables, token=token("agent", partner="AUTOCREDITO"))
    assert [e["node"]["stockId"] for e in staff["data"]["vehicles"]["edges"]] == ["A2", "A1", "A0"]
    for refused, code in (
        (customer_token(runtime, uuid.uuid4()), "FORBIDDEN"),
        (token("dealer", partner="T_AUTOS_NORTE"), "FORBIDDEN"),
        (token("agent", partner="BANCO_ANDINO"), "NOT_PREQUALIFIED"),
    ):
        answer = await gql(VEHICLES, variables, token=refused, expect_status=None)
        assert answer["errors"][0]["extensions"]["code"] == code, answer


RESERVE = """
mutation($v: ID!, $a: ID!, $until: DateTime!) {
  reserveVehicle(vehicleId: $v, applicationId: $a, until: $until) {
    __typename
    ... on ReserveVehicleSuccess { created vehicle { status version reservedUntil } }
    ... on UserError { code message }
  }
}
"""


async def test_reserving_through_the_api(
    gql: GraphQLClient, client: httpx.AsyncClient, token: Any
) -> None:
    dealers = await make_dealers()
    await upload(client, token("dealer", partner="T_AUTOS_NORTE"), _stock())
    mine = {"dealerId": _gid("Partner", dealers.a)}  # the seed's applications hold others
    page = await gql(VEHICLES, {"order": "PRICE_ASC", "first": 1, "filter": mine})
    vehicle = page["data"]["vehicles"]["edges"][0]["node"]["id"]
    agent = token("agent", partner="AUTOCREDITO")
    until = isoformat(utcnow() + timedelta(days=2))
    first, second = _gid("CreditApplication", uuid.uuid4()), _gid("CreditApplication", uuid.uuid4())
    held = await gql(RESERVE, {"v": vehicle, "a": first, "until": until}, token=agent)
    assert held["data"]["reserveVehicle"]["vehicle"]["status"] == "RESERVED", held
    taken = await gql(RESERVE, {"v": vehicle, "a": second, "until": until}, token=agent)
    assert taken["data"]["reserveVehicle"]["code"] == "VEHICLE_RESERVED"
    dealer = await gql(
        RESERVE,
        {"v": vehicle, "a": second, "until": until},
        token=token("dealer", partner="T_AUTOS_NORTE"),
    )
    assert dealer["data"]["reserveVehicle"]["code"] == "FORBIDDEN"
    past = await gql(
        RESERVE,
        {"v": vehicle, "a": second, "until": isoformat(utcnow() - timedelta(hours=1))},
        token=agent,
    )
    assert past["data"]["reserveVehicle"]["code"] == "VALIDATION"
    shown = await gql("query($id: ID!) { vehicle(id: $id) { status } }", {"id": vehicle})
    assert shown["data"]["vehicle"]["status"] == "RESERVED"  # the public sees it held
    released = await gql(
        """mutation($v: ID!, $a: ID!) { releaseVehicle(vehicleId: $v, applicationId: $a) {
             ... on ReleaseVehicleSuccess { vehicle { status } } } }""",
        {"v": vehicle, "a": first},
        token=agent,
    )
    assert released["data"]["releaseVehicle"]["vehicle"]["status"] == "AVAILABLE"
