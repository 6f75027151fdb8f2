"""``trama uf load`` and customer tokens (``trama token --role customer --customer …``), run
as a user runs them, on a database migrated and seeded through the CLI."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from app import seed as demo
from tests.test_cli import Cli, claims_of
from tests.test_cli import cli as cli  # the module's shared database (a fixture)

UF_COUNT = "SELECT count(*) FROM uf_values"


async def test_seed_reports_its_credits(cli: Cli) -> None:
    assert cli.first_seed is not None and "9 credits" in cli.first_seed.out
    statuses = await cli.scalar(
        "SELECT count(DISTINCT status) FROM credits WHERE vehicle_ref IN ("
        "'BKDR21','CXLT45','DHPS62','FJRW83','GLTV14','HMZB57','JNQF39','KPWX76','AB123CD')"
    )
    assert statuses == 7  # every status a credit can be in


async def test_uf_load_adds_then_leaves_alone(cli: Cli, tmp_path: Path) -> None:
    before = await cli.scalar(UF_COUNT)
    path = tmp_path / "uf.csv"
    path.write_text(
        "fecha;valor\n01-01-2019;27.565,79\n02-01-2019;27.566,68\n2019-01-03;27567.57\n"
    )
    out = await cli.ok("uf", "load", str(path))
    assert out.strip() == "UF values 2019-01-01 to 2019-01-03: 3 added, 0 corrected, 0 unchanged"
    assert await cli.scalar(UF_COUNT) == before + 3
    value = await cli.scalar("SELECT value FROM uf_values WHERE day = '2019-01-02'")
    assert str(value) == "27566.68"
    path.write_text("2019-01-02,27566.70\n2019-01-03,27567.57\n")
    again = await cli.ok("uf", "load", str(path))
    assert "0 added, 1 corrected, 1 unchanged" in again
    assert await cli.scalar(UF_COUNT) == before + 3


async def test_uf_load_refuses_a_bad_file_whole(cli: Cli, tmp_path: Path) -> None:
    before = await cli.scalar(UF_COUNT)
    audit = await cli.scalar("SELECT count(*) FROM audit_records")
    path = tmp_path / "bad.csv"
    path.write_text("2018-01-01,26799.01\n2018-01-02,veinte\n2018-02-30,1\n")
    result = await cli("uf", "load", str(path))
    assert result.code == 2 and result.out == ""
    assert "nothing changed" in result.err
    assert "line 2: 'veinte' is not an amount" in result.err
    assert "line 3: '2018-02-30' is not a date" in result.err
    assert "Traceback" not in result.err
    assert await cli.scalar(UF_COUNT) == before
    assert await cli.scalar("SELECT count(*) FROM audit_records") == audit
    missing = await cli("uf", "load", str(tmp_path / "nope.csv"))
    assert missing.code == 2 and "cannot read" in missing.err


async def test_a_customer_token_names_its_customer(cli: Cli) -> None:
    person = demo._person(12, "CL")  # the customer of the demo credit DHPS62
    customer_id = await cli.scalar(
        "SELECT id FROM customers WHERE national_id_type = 'CL_RUT' AND email = :email",
        email=person.email,
    )
    key = str(uuid.UUID(str(customer_id)))
    by_national_id = await cli.ok("token", "--role", "customer", "--customer", person.national_id)
    _, claims = claims_of(by_national_id.strip())
    assert claims["roles"] == ["customer"] and claims["customer_id"] == key
    # a customer reads its own credits (myCredits), cases (myCases) and points, nothing else
    assert claims["sub"] == f"customer:{key}"
    assert claims["scp"] == (
        "applications:read applications:write cases:read credits:read loyalty:read loyalty:write"
    )
    by_id = await cli.ok("token", "--role", "customer", "--customer", key)
    assert claims_of(by_id.strip())[1]["customer_id"] == key
    typed = await cli.ok(
        "token", "--role", "customer", "--customer", f"CL_RUT:{person.national_id}"
    )
    assert claims_of(typed.strip())[1]["customer_id"] == key

    refusals = {
        ("--role", "customer"): "name one with --customer",
        ("--role", "customer", "--customer", "11.111.111-1"): "no customer",
        ("--role", "customer", "--customer", str(uuid.uuid4())): "no customer with id",
        ("--role", "agent", "--partner", "AUTOCREDITO", "--customer", key): "only a customer",
    }
    for args, message in refusals.items():
        result = await cli("token", *args)
        assert result.code == 2 and result.out == "", (args, result)
        assert message in result.err and "Traceback" not in result.err


async def test_an_investor_token_takes_the_id_the_api_shows(cli: Cli) -> None:
    raw = await cli.scalar("SELECT id FROM investors ORDER BY legal_name LIMIT 1")
    key = str(uuid.UUID(str(raw)))
    # What `investors { id }` shows: the Relay global id, base64 of "Investor:<uuid>".
    global_id = base64.b64encode(f"Investor:{key}".encode()).decode()
    for given in (global_id, key, key.upper(), f" {global_id} "):
        out = await cli.ok("token", "--role", "investor", "--investor", given)
        _, claims = claims_of(out.strip())
        assert claims["investor_id"] == key, given
        assert claims["sub"] == f"investor:{key}" and claims["roles"] == ["investor"]

    customer = base64.b64encode(f"Customer:{key}".encode()).decode()
    unknown = base64.b64encode(f"Investor:{uuid.uuid4()}".encode()).decode()
    refusals = {
        customer: "is the id of a Customer, not of an Investor",
        unknown: "no investor with id",
        "not-an-id": "is not an investor id",
        base64.b64encode(b"Investor:not-a-uuid").decode(): "is not an investor id",
    }
    for given, message in refusals.items():
        result = await cli("token", "--role", "investor", "--investor", given)
        assert result.code == 2 and result.out == "", (given, result)
        assert message in result.err and "Traceback" not in result.err, (given, result.err)


async def test_a_token_cannot_outlive_the_accepted_lifetime(cli: Cli) -> None:
    for ttl in ("86401", "0", "-5"):
        result = await cli("token", "--role", "admin", "--ttl", ttl)
        assert result.code == 2 and result.out == "", (ttl, result)
        assert "TRAMA_MAX_TOKEN_LIFETIME" in result.err and "Traceback" not in result.err
    _, claims = claims_of((await cli.ok("token", "--role", "admin", "--ttl", "86400")).strip())
    assert claims["exp"] - claims["iat"] == 86400
