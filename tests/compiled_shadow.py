"""The differential oracle of compiled reads, at the moment of each request.

The suite runs with ``TRAMA_COMPILED_READS=shadow`` (``make_settings``): every query the
tests send is answered by the normal path and, where the operation compiles, by its plan
too, and the two response bodies must be the same bytes (``app/compiled/engine.py``). The
first time this process sees a document, it is also replayed for every role of
:func:`roster` — an administrator, a network viewer, partners' agents, a supervisor and a
system of other partners, a customer, an investor — through both paths. So every query
document of the suite is checked, with the data of the test that sent it, for every role,
at the cost of running compilable queries twice (and new ones for eight more callers).

A difference fails the test that caused it, naming the principal and both bodies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app.compiled import engine
from app.db import read_session
from domain.customers.models import Customer
from domain.investors.models import Investor
from domain.partners.models import Partner
from domain.shared.models import table_of
from domain.shared.principal import Principal, Role, allowed_scopes

MISMATCHES: list[engine.Mismatch] = []


def _principal(role: Role, *, partner: uuid.UUID | None = None, **extra: object) -> Principal:
    return Principal(
        subject=f"roster:{role.value}@{partner or 'network'}",
        roles=frozenset({role}),
        scopes=allowed_scopes(frozenset({role})),
        partner_id=partner,
        **extra,  # type: ignore[arg-type]
    )


async def roster(principal: Principal) -> list[Principal]:
    """Every role, acting for the partners (and the customer, the investor) the test's
    database holds first."""
    partners = table_of(Partner)
    customers = table_of(Customer)
    investors = table_of(Investor)
    async with read_session() as session:
        partner_ids = list(
            (await session.execute(sa.select(partners.c.id).order_by(partners.c.code))).scalars()
        )
        customer = (
            await session.execute(sa.select(customers.c.id).order_by(customers.c.id).limit(1))
        ).scalar()
        investor = (
            await session.execute(sa.select(investors.c.id).order_by(investors.c.id).limit(1))
        ).scalar()
    out = [_principal(Role.ADMIN), _principal(Role.NETWORK_VIEWER)]
    for role, index in ((Role.AGENT, 0), (Role.SUPERVISOR, 1), (Role.PARTNER_SYSTEM, 2)):
        if index < len(partner_ids):
            out.append(_principal(role, partner=partner_ids[index]))
    if customer is not None:
        out.append(_principal(Role.CUSTOMER, customer_id=customer))
    if investor is not None:
        out.append(_principal(Role.INVESTOR, claims={"investor_id": str(investor)}))
    return [p for p in out if p != principal]


engine.OBSERVERS.append(MISMATCHES.append)
engine.ROSTER.append(roster)


def _report(mismatch: engine.Mismatch) -> str:
    return (
        f"compiled read differs from the normal path for {mismatch.principal.subject} "
        f"({sorted(r.value for r in mismatch.principal.roles)}):\n"
        f"  operation {mismatch.operation_name!r}, variables {mismatch.variables!r}\n"
        f"  query: {' '.join(mismatch.query.split())[:2000]}\n"
        f"  normal:   {mismatch.normal[:3000]!r}\n"
        f"  compiled: {(mismatch.compiled or b'')[:3000]!r}\n"
        f"  error:    {mismatch.error}"
    )


@pytest.fixture(autouse=True)
def compiled_reads_oracle() -> Iterator[None]:
    MISMATCHES.clear()
    yield
    found = list(MISMATCHES)
    MISMATCHES.clear()
    if found:
        pytest.fail("\n\n".join(_report(m) for m in found[:5]), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands its counts to the controller, which prints them."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["compiled_reads"] = dict(engine.SHADOW_COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    counts = getattr(node, "workeroutput", {}).get("compiled_reads") or {}
    for key, value in counts.items():
        engine.SHADOW_COUNTS[key] += value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = engine.SHADOW_COUNTS
    if counts:
        terminalreporter.write_line(
            "compiled reads (shadow): "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
        )
        terminalreporter.write_line(
            "not compiled: " + "; ".join(k[9:] for k, v in sorted(counts.items()) if not v)
        )
