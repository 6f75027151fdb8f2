"""UF values: CSV parsing (both notations), loading with corrections, lookup, conversion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.db import read_session, transaction
from domain.credits import uf
from domain.shared.audit import AuditRecord
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.money import Money

from .conftest import db_state, events, rows_of


def test_parse_plain_and_chilean_notation():
    text = "\ufefffecha;valor\n01-11-2026;39.643,59\n02/11/2026;39.650\n2026-11-03;39651.2\n\n"
    assert uf.parse_uf_csv(text) == {
        date(2026, 11, 1): Decimal("39643.59"),
        date(2026, 11, 2): Decimal("39650"),
        date(2026, 11, 3): Decimal("39651.2"),
    }
    assert uf.parse_uf_csv("date,value\n2026-11-01,39643.59") == {
        date(2026, 11, 1): Decimal("39643.59")
    }
    same_twice = "2026-11-01,39643.59\n2026-11-01,39643.59\n"
    assert len(uf.parse_uf_csv(same_twice)) == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("date,value\n", "no values"),
        ("2026-02-30,39000\n", "line 1: '2026-02-30' is not a date"),
        ("2026-11-01,39000\n2026-11-02,abc\n", "line 2"),
        ("2026-11-01,39000.123\n", "2 decimals"),
        ("2026-11-01,0\n", "positive"),
        ("2026-11-01,39000\n2026-11-01,39001\n", "twice"),
        ("2026-11-01,39000,extra\n", "expected date"),
        ("2026-11-01;1.2.3\n", "not an amount"),
    ],
)
def test_bad_csv_lines_are_named(text, needle):
    with pytest.raises(ValidationFailed) as info:
        uf.parse_uf_csv(text)
    assert needle in str(info.value)
    assert {p.field for p in info.value.problems} == {"csv"}


async def test_load_inserts_corrects_and_audits(db, admin, agent):
    async with transaction() as session:
        first = await uf.load_uf_csv(
            session, principal=admin, csv_text="2026-11-01,39643.59\n2026-11-02,39650.00\n"
        )
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    (event,) = await events("credits.uf_values_loaded")
    assert event.payload == {
        "inserted": 2,
        "updated": 0,
        "firstDay": "2026-11-01",
        "lastDay": "2026-11-02",
    }
    async with transaction() as session:
        second = await uf.load_uf_csv(
            session,
            principal=admin,
            csv_text="2026-11-02,39650.10\n2026-11-01,39643.59\n2026-11-03,39660\n",
        )
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 1)
    async with read_session() as session:
        assert await uf.get_uf_value(session, date(2026, 11, 2)) == Decimal("39650.10")
        assert await uf.get_uf_values(session, [date(2026, 11, 1), date(2026, 10, 1)]) == {
            date(2026, 11, 1): Decimal("39643.59")
        }
        with pytest.raises(ValidationFailed) as info:
            await uf.get_uf_value(session, date(2026, 10, 31), field="paidAt")
    assert info.value.problems[0].field == "paidAt"
    assert "2026-10-31" in info.value.problems[0].message
    records = [  # the seed's demo UF values have a record of their own
        r
        for r in await rows_of(AuditRecord, action="credits.uf_values_loaded")
        if r.entity_id.startswith("2026-11-01..")
    ]
    assert len(records) == 2 and records[1].before == {"2026-11-02": "39650.00"}
    before = await db_state()
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await uf.load_uf_csv(session, principal=agent, csv_text="2026-11-04,1\n")
    with pytest.raises(ValidationFailed):
        async with transaction() as session:
            await uf.load_uf_csv(
                session, principal=admin, csv_text="2026-11-04,39670\n2026-11-05,oops\n"
            )
    assert await db_state() == before


def test_pesos_to_uf_rounds_half_up_to_four_decimals():
    assert uf.clp_to_uf(Money(1_000_000, "CLP"), Decimal("40000")) == Money(250_000, "CLF")
    # 1 / 39643.59 UF = 0.0000252... -> 0.0000 ; 2 pesos -> 0.0000504 -> 0.0001
    assert uf.clp_to_uf(Money(1, "CLP"), Decimal("39643.59")) == Money(0, "CLF")
    assert uf.clp_to_uf(Money(2, "CLP"), Decimal("39643.59")) == Money(1, "CLF")
    # exactly half a ten-thousandth rounds up: 2 / 40000 = 0.00005
    assert uf.clp_to_uf(Money(2, "CLP"), Decimal("40000")) == Money(1, "CLF")
    with pytest.raises(ValueError):
        uf.clp_to_uf(Money(1, "USD"), Decimal("40000"))
