"""Before the migration: every defect of a legacy export is found with its file, line and
column, a clean export has none, and the validation writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.ar import cuit

from app.db import Database, read_session, transaction
from domain.customers import service as customers
from domain.loyalty_migration import validation
from domain.loyalty_migration.generator import DEFECTS, WARNING_DEFECTS, generate
from domain.loyalty_migration.issues import CODES, Severity
from domain.loyalty_migration.mapping import load_mapping
from domain.partners.models import Partner
from domain.shared.principal import SYSTEM
from domain.tables import metadata


async def _check(folder: Path, **kwargs: Any) -> validation.Validation:
    async with transaction() as session:
        return await validation.check_export(
            session, folder=folder, mapping=load_mapping(folder / "mapping.yaml"), **kwargs
        )


async def _row_counts() -> dict[str, int]:
    async with read_session() as session:
        out = {}
        for table in metadata.sorted_tables:
            out[table.name] = (
                await session.execute(sa.select(sa.func.count()).select_from(table))
            ).scalar_one()
        return out


async def test_every_defect_is_found_where_it_is(db: Database, tmp_path: Path) -> None:
    export = generate(
        tmp_path, members=120, transactions=2_400, seed=7, defects=dict.fromkeys(DEFECTS, 1)
    )
    before = await _row_counts()
    found = await _check(tmp_path)

    assert await _row_counts() == before  # nothing written
    where = {(i.code, i.kind, i.line, i.column) for i in found.log.items}
    for expected in export.expected:
        assert (expected.code, expected.kind, expected.line, expected.column) in where, expected
    # Every error is one of the defects written on purpose (no false alarm); the only
    # warnings are balances that disagree with their movements, of members a defect touched.
    defect_lines = {(e.kind, e.line) for e in export.expected}
    for issue in found.log.items:
        if issue.severity == Severity.ERROR:
            assert (issue.kind, issue.line) in defect_lines, issue
        elif issue.severity == Severity.WARNING:
            assert issue.code == "BALANCE_MISMATCH", issue
            assert issue.key in export.touched, issue
    assert not found.ok


@pytest.mark.parametrize("defect", sorted(DEFECTS))
async def test_each_defect_alone(db: Database, tmp_path: Path, defect: str) -> None:
    export = generate(tmp_path, members=12, transactions=150, seed=11, defects={defect: 1})
    found = await _check(tmp_path)
    (expected,) = export.expected[:1]
    hits = [
        i
        for i in found.log.items
        if (i.code, i.kind, i.line, i.column)
        == (expected.code, expected.kind, expected.line, expected.column)
    ]
    assert hits, (expected, found.log.items)
    assert CODES[expected.code] is (
        Severity.WARNING if defect in WARNING_DEFECTS else Severity.ERROR
    )
    assert found.ok is (defect in WARNING_DEFECTS)
    if expected.code == "INVALID_NATIONAL_ID":  # a report shows no whole national ID
        members = export.files["members"].read_text(encoding="latin-1").splitlines()
        number = members[expected.line - 1].split(";")[2]
        assert number not in hits[0].message and number[-3:] in hits[0].message


async def test_a_clean_export_has_nothing_to_report(db: Database, tmp_path: Path) -> None:
    export = generate(tmp_path, members=80, transactions=1_600, seed=21, shuffle_movements=True)
    found = await _check(tmp_path)
    assert found.ok
    assert dict(found.log.counts) == {}
    assert found.counts["members"] == 80
    assert found.counts["movements"] == export.movements
    assert found.movement_points == found.balance_points == export.points_total
    assert found.cutoff == export.cutoff
    assert {f.sha256 for f in found.files.values()}  # every file's digest


async def test_members_who_are_already_customers(db: Database, tmp_path: Path) -> None:
    """A member with a DNI is the Trama customer registered with the CUIL that contains it
    (and the other way round)."""
    async with transaction() as session:
        partner = (await session.execute(sa.select(Partner).limit(1))).scalar_one()
        cuil = "20" + "30111222"
        cuil += cuit.calc_check_digit(cuil)
        await customers.create_customer(
            session,
            principal=SYSTEM,
            national_id_type="AR_CUIL",
            national_id=cuil,
            given_names="Ana",
            family_names="Paz",
            home_partner_id=partner.id,
        )
        await customers.create_customer(
            session,
            principal=SYSTEM,
            national_id_type="AR_DNI",
            national_id="27555666",
            given_names="Juan",
            family_names="Sosa",
            home_partner_id=partner.id,
        )
    generate(
        tmp_path,
        members=10,
        transactions=100,
        seed=3,
        national_ids=[
            ("DNI", "30.111.222"),
            ("CUIL", "20-27555666-" + cuit.calc_check_digit("2027555666")),
        ],
    )
    found = await _check(tmp_path)
    assert found.ok
    matches = [i for i in found.log.items if i.code == "CUSTOMER_MATCH"]
    assert len(matches) == 2 and {m.line for m in matches} == {2, 3}
    assert found.counts["customer_matches"] == 2


async def test_an_unclosed_quote_does_not_swallow_the_rest_silently(
    db: Database, tmp_path: Path
) -> None:
    """A stray quote makes the CSV read the following lines as one field: the record is
    refused where it starts (a field too long, or too many fields), never taken in."""
    export = generate(tmp_path, members=10, transactions=200, seed=4)
    path = export.files["movements"]
    lines = path.read_bytes().split(b"\n")
    fields = lines[5].split(b";")
    fields[7] = b'"PANADERIA LA ESPA' + fields[7]
    lines[5] = b";".join(fields)
    path.write_bytes(b"\n".join(lines))
    found = await _check(tmp_path)
    assert not found.ok
    first = min(
        (i for i in found.log.items if i.severity == Severity.ERROR and i.kind == "movements"),
        key=lambda i: i.line or 0,
    )
    assert (first.kind, first.line) == ("movements", 6)
    assert first.code in {"TOO_LONG", "WRONG_FIELD_COUNT"}
