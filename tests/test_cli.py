"""The ``trama`` console script, run as a user runs it: a subprocess with ``TRAMA_*`` env.

The module shares one fresh database (a new SQLite file, or a new Postgres database beside
``TRAMA_TEST_DATABASE_URL``) that the first commands migrate and seed through the CLI.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app import seed as demo
from app.auth.keys import KeyStore
from domain.shared.principal import ROLE_SCOPES, Role
from domain.shared.time import utcnow

TEST_DB_URL = os.environ.get("TRAMA_TEST_DATABASE_URL", "").strip()
IS_POSTGRES = TEST_DB_URL.startswith("postgresql")
FIRST_SEED = 40


def trama_executable() -> str:
    beside = Path(sys.executable).parent / "trama"
    found = str(beside) if beside.exists() else shutil.which("trama")
    assert found, "the trama console script is not installed (pip install -e .)"
    return found


def _admin_dsn(url: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    url: str
    var_dir: Path
    env: dict[str, str]
    first_seed: Result | None = None

    async def __call__(self, *args: str, timeout: float = 120) -> Result:
        process = await asyncio.create_subprocess_exec(
            trama_executable(),
            *args,
            env=self.env,
            cwd=self.var_dir.parent,  # not the repository: the script must find its own files
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"trama {' '.join(args)} did not finish in {timeout}s") from None
        assert process.returncode is not None
        return Result(process.returncode, out.decode(), err.decode())

    async def ok(self, *args: str) -> str:
        result = await self(*args)
        assert result.code == 0, f"trama {' '.join(args)} failed ({result.code}):\n{result.err}"
        return result.out

    async def scalar(self, sql: str, **params: Any) -> Any:
        engine = create_async_engine(self.url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(sql), params)
                return result.scalar() if result.returns_rows else None
        finally:
            await engine.dispose()


def cli_env(url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAMA_")}
    env.update(
        TRAMA_DATABASE_URL=url,
        TRAMA_VAR_DIR=str(var_dir),
        TRAMA_ENV="test",
        TRAMA_LOG_FORMAT="text",
        TRAMA_CLOCK_START=utcnow().isoformat(),  # the test's business clock (tests/clock.py)
    )
    return env


@pytest.fixture(scope="module")
async def cli(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cli]:
    """A fresh database migrated with ``trama migrate`` and seeded with ``trama seed``."""
    tmp = tmp_path_factory.mktemp("cli")
    var_dir = tmp / "var"
    name = ""
    if IS_POSTGRES:
        base = make_url(TEST_DB_URL)
        name = f"{base.database}_cli_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(_admin_dsn(TEST_DB_URL))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = base.set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'cli.db'}"
    try:
        runner = Cli(url=url, var_dir=var_dir, env=cli_env(url, var_dir))
        out = await runner.ok("migrate")
        assert "database at head" in out
        runner.first_seed = await runner("seed", "--customers", str(FIRST_SEED))
        yield runner
    finally:
        if IS_POSTGRES:
            conn = await asyncpg.connect(_admin_dsn(TEST_DB_URL))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT, read without verifying the signature."""

    def part(segment: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        )
        return data

    assert token.count(".") == 2, f"not a JWT: {token!r}"
    header, payload, _ = token.split(".")
    return part(header), part(payload)


def expected_emails(count: int) -> set[str]:
    """The e-mails ``trama seed --customers count`` creates: the seed is deterministic."""
    homes = [p for p in demo.PARTNERS if p[3] != demo.PartnerKind.LOYALTY]
    return {str(demo._person(i, homes[i % len(homes)][2]).email) for i in range(count)}


# --- migrate and seed -------------------------------------------------------------------
async def test_migrate_is_idempotent(cli: Cli) -> None:
    out = await cli.ok("migrate")
    assert out.startswith("database at head")
    assert await cli.scalar("SELECT count(*) FROM alembic_version") == 1


async def test_seed_adds_only_what_is_missing(cli: Cli) -> None:
    first = cli.first_seed
    assert first is not None and first.code == 0, first
    assert f"6 partners, 15 users, 6 clients, {FIRST_SEED} customers" in first.out
    count = "SELECT count(*) FROM customers"
    assert await cli.scalar(count) == FIRST_SEED
    audit_rows = await cli.scalar("SELECT count(*) FROM audit_records")

    again = await cli.ok("seed", "--if-empty")
    assert "nothing to do" in again
    assert await cli.scalar(count) == FIRST_SEED
    assert await cli.scalar("SELECT count(*) FROM audit_records") == audit_rows

    more = await cli.ok("seed", "--customers", "50")
    assert "added 0 partners, 0 users, 0 clients, 10 customers" in more
    assert await cli.scalar(count) == 50
    engine = create_async_engine(cli.url)
    try:
        async with engine.connect() as conn:
            emails = set((await conn.execute(sa.text("SELECT email FROM customers"))).scalars())
    finally:
        await engine.dispose()
    assert emails == expected_emails(50)  # the same 40 people plus the next 10


# --- tokens -----------------------------------------------------------------------------
TOKEN_CASES = {
    "admin": ("--role", "admin"),
    "agent": ("--role", "agent", "--partner", "banco_andino"),  # codes are case-insensitive
    "agent_without_partner": ("--role", "agent"),
    "agent_unknown_partner": ("--role", "agent", "--partner", "NO_SUCH_BANK"),
    "wizard": ("--role", "wizard"),
}


@pytest.fixture(scope="module")
async def tokens(cli: Cli) -> dict[str, Result]:
    """Every ``trama token`` case. The first creates the signing key; the rest only read,
    so they run side by side."""
    cases = list(TOKEN_CASES.items())
    first = await cli("token", *cases[0][1])
    rest = await asyncio.gather(*(cli("token", *args) for _, args in cases[1:]))
    return dict(zip(TOKEN_CASES, [first, *rest], strict=True))


def issued(result: Result) -> tuple[dict[str, Any], dict[str, Any]]:
    assert result.code == 0, result.err
    return claims_of(result.out.strip())


async def test_token_for_a_partner_agent(tokens: dict[str, Result]) -> None:
    header, claims = issued(tokens["agent"])
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["partner"] == "BANCO_ANDINO"
    assert claims["roles"] == ["agent"]
    assert set(claims["scp"].split()) == {s.value for s in ROLE_SCOPES[Role.AGENT]}
    assert {"customers:read", "customers:write", "partners:read"} <= set(claims["scp"].split())
    assert "pii:read" not in claims["scp"].split()  # administrators only (issue 9)
    assert claims["sub"] == "agent@bancoandino"  # the seeded agent of that partner
    assert claims["exp"] > claims["iat"]


async def test_token_for_a_partner_role_needs_a_partner(tokens: dict[str, Result]) -> None:
    result = tokens["agent_without_partner"]
    assert result.code == 2
    assert result.out == ""
    assert "role agent acts for a partner; name one" in result.err
    assert "Traceback" not in result.err


async def test_token_for_an_unknown_partner_fails_clearly(tokens: dict[str, Result]) -> None:
    result = tokens["agent_unknown_partner"]
    assert result.code == 2
    assert result.out == ""
    assert "no partner with code 'NO_SUCH_BANK'" in result.err
    assert "Traceback" not in result.err


async def test_token_for_admin_needs_no_partner(tokens: dict[str, Result]) -> None:
    _, claims = issued(tokens["admin"])
    assert claims["roles"] == ["admin"]
    assert "partner" not in claims
    assert {"audit:read", "clients:manage"} <= set(claims["scp"].split())


async def test_token_for_an_unknown_role_fails_clearly(tokens: dict[str, Result]) -> None:
    result = tokens["wizard"]
    assert result.code == 2
    assert result.out == ""
    assert "unknown role 'wizard'" in result.err
    assert "agent" in result.err and "admin" in result.err  # it lists the known roles
    assert "Traceback" not in result.err


# --- OAuth clients ----------------------------------------------------------------------
async def test_client_create_prints_its_credentials(cli: Cli) -> None:
    out = await cli.ok(
        "client", "create", "--name", "X", "--partner", "BANCO_ANDINO", "--role", "partner_system"
    )
    created = json.loads(out)
    assert created["client_id"] and created["client_secret"]
    assert created["roles"] == ["partner_system"]
    engine = create_async_engine(cli.url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text("SELECT * FROM oauth_clients WHERE client_id = :cid"),
                    {"cid": created["client_id"]},
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(rows) == 1
    # Only a hash is kept: the secret appears nowhere in the row.
    assert all(created["client_secret"] not in str(value) for value in rows[0])


async def test_client_create_for_an_unknown_partner_fails(cli: Cli) -> None:
    before = await cli.scalar("SELECT count(*) FROM oauth_clients")
    result = await cli(
        "client", "create", "--name", "Y", "--partner", "NOPE", "--role", "partner_system"
    )
    assert result.code == 2
    assert "no partner 'NOPE'" in result.err
    assert "Traceback" not in result.err
    assert await cli.scalar("SELECT count(*) FROM oauth_clients") == before


# --- audit ------------------------------------------------------------------------------
async def test_audit_verify_detects_tampering(cli: Cli) -> None:
    result = await cli("audit", "verify")
    assert result.code == 0, result.err
    assert result.out.strip() == "ok"
    assert re.search(r"\d+ records checked", result.err)
    assert await cli.scalar("SELECT count(*) FROM audit_records") >= 3

    original = await cli.scalar("SELECT actor FROM audit_records WHERE seq = 2")
    await cli.scalar("UPDATE audit_records SET actor = 'mallory' WHERE seq = 2")
    try:
        tampered = await cli("audit", "verify")
    finally:
        await cli.scalar("UPDATE audit_records SET actor = :a WHERE seq = 2", a=original)
    assert tampered.code == 1
    assert tampered.out.strip() == "broken at seq 2: its content was altered"


async def test_audit_card_numbers_lists_records_that_hold_one(cli: Cli) -> None:
    clean = await cli("audit", "card-numbers")
    assert clean.code == 0, clean.err
    assert clean.out == "" and "0 records hold a card number" in clean.err

    # a record an older writer kept as given (altering it breaks the chain: it is only listed)
    original = await cli.scalar("SELECT actor FROM audit_records WHERE seq = 2")
    await cli.scalar("UPDATE audit_records SET actor = '4111 1111 1111 1111' WHERE seq = 2")
    try:
        found = await cli("audit", "card-numbers")
    finally:
        await cli.scalar("UPDATE audit_records SET actor = :a WHERE seq = 2", a=original)
    assert found.code == 1
    assert found.out.startswith("seq 2\t") and found.out.rstrip().endswith("\tactor")
    assert "4111" not in found.out.replace("seq 2", "")
    assert "1 records hold a card number" in found.err


# --- keys -------------------------------------------------------------------------------
async def test_keys_rotate_adds_a_key(cli: Cli, tokens: dict[str, Result]) -> None:
    keys_dir = cli.var_dir / "keys"
    old_header, _ = issued(tokens["admin"])  # signed before the rotation
    before = KeyStore.load_or_create(keys_dir).public_jwks()["keys"]
    assert [k["kid"] for k in before] == [old_header["kid"]]

    out = await cli.ok("keys", "rotate")
    jwks = KeyStore.load_or_create(keys_dir).public_jwks()["keys"]
    assert len(jwks) == 2
    assert jwks[0]["kid"] == old_header["kid"]  # still published: its tokens stay valid
    new_kid = jwks[1]["kid"]
    assert new_kid != old_header["kid"]
    assert new_kid in out
    assert all("d" not in k for k in jwks), "the JWKS must publish public keys only"

    new_header, _ = issued(await cli("token", "--role", "admin"))
    assert new_header["kid"] == new_kid  # the newest key signs
