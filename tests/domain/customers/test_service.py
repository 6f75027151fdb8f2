"""The customers service on its own: create, update and bulk import, inside ``transaction()``."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cl import rut

from app.db import read_session, transaction
from domain.customers import service
from domain.customers.models import Customer
from domain.customers.rules import Address
from domain.partners.models import Partner
from domain.shared import audit
from domain.shared.audit import AuditRecord
from domain.shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.shared.models import table_of
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role, Scope
from domain.shared.text import fold


def rut_of(body: int, *, dotted: bool = False) -> str:
    dv = rut.calc_check_digit(str(body))
    if dotted:
        return f"{body:,}".replace(",", ".") + f"-{dv}"
    return f"{body}{dv}"


async def partner_ids() -> dict[str, uuid.UUID]:
    async with read_session() as session:
        rows = (await session.execute(sa.select(Partner.code, Partner.id))).all()  # type: ignore[call-overload]
    return {code: key for code, key in rows}


def wrong_check_digit(body: int) -> str:
    right = rut.calc_check_digit(str(body))
    return f"{body}-{'1' if right == '0' else '0'}"


def principal(role: Role, partner: uuid.UUID | None = None, **changes: Any) -> Principal:
    return Principal(
        subject=f"test:{role.value}",
        roles=frozenset({role}),
        scopes=ROLE_SCOPES[role],
        partner_id=partner,
        **changes,
    )


async def state() -> tuple[list[tuple[Any, ...]], int]:
    customers = table_of(Customer)
    async with read_session() as session:
        rows = (await session.execute(sa.select(customers).order_by(customers.c.id))).all()
        audits = (
            await session.execute(sa.select(sa.func.count()).select_from(AuditRecord))
        ).scalar()
    return [tuple(r) for r in rows], int(audits or 0)


async def last_seq() -> int:
    async with read_session() as session:
        return int((await session.execute(sa.select(sa.func.max(AuditRecord.seq)))).scalar() or 0)


async def audit_records(action: str, after: int = 0) -> list[AuditRecord]:
    """Records of ``action`` newer than seq ``after`` (the seed imports customers too)."""
    async with read_session() as session:
        rows = await session.execute(
            sa.select(AuditRecord)
            .where(AuditRecord.action == action, AuditRecord.seq > after)  # type: ignore[arg-type]
            .order_by(AuditRecord.seq)  # type: ignore[arg-type]
        )
        return list(rows.scalars().all())


async def existing_customer() -> Customer:
    async with read_session() as session:
        stmt = (
            sa.select(Customer)
            .where(Customer.national_id_type == "CL_RUT")  # type: ignore[arg-type]
            .order_by(Customer.national_id)  # type: ignore[arg-type]
            .limit(1)
        )
        return (await session.execute(stmt)).scalars().one()


@pytest.fixture
async def ids(db) -> dict[str, uuid.UUID]:
    return await partner_ids()


@pytest.fixture
def agent(ids) -> Principal:
    return principal(Role.AGENT, ids["BANCO_ANDINO"])


@pytest.fixture
def supervisor(ids) -> Principal:
    return principal(Role.SUPERVISOR, ids["BANCO_ANDINO"])


def fields(exc: ValidationFailed) -> list[str]:
    return [p.field for p in exc.problems]


# --- create -----------------------------------------------------------------------------
async def test_create_normalises_and_queues_one_audit_record(agent, ids):
    _, audits = await state()
    async with transaction() as session:
        customer = await service.create_customer(
            session,
            principal=agent,
            national_id_type="CL_RUT",
            national_id=rut_of(12_345_678, dotted=True),
            given_names=" Ana  María ",
            family_names="Pérez",
            email="Ana@EXAMPLE.cl",
            phone="9 6123 4567",
            address=Address("Los Leones 12", None, "Providencia", None, None, "cl"),
        )
        assert audit.has_pending(session)
    assert customer.national_id == rut_of(12_345_678)
    assert customer.given_names == "Ana María"
    assert customer.email == "Ana@example.cl"
    assert customer.phone == "+56961234567"
    assert customer.address_country == "CL"
    assert customer.version == 1
    assert customer.home_partner_id == ids["BANCO_ANDINO"]
    assert customer.sort_name == fold("Pérez Ana María")
    records = await audit_records("customers.create")
    assert [r.entity_id for r in records] == [str(customer.id)]
    assert records[0].actor == "test:agent"
    _, audits_after = await state()
    assert audits_after == audits + 1


async def test_create_for_system_needs_a_home_partner(ids):
    before = await state()
    with pytest.raises(ValidationFailed) as caught:
        async with transaction() as session:
            await service.create_customer(
                session,
                principal=SYSTEM,
                national_id_type="CL_RUT",
                national_id=rut_of(12_345_678),
                given_names="Ana",
                family_names="Pérez",
            )
    assert fields(caught.value) == ["homePartnerId"]
    assert await state() == before

    async with transaction() as session:
        customer = await service.create_customer(
            session,
            principal=SYSTEM,
            national_id_type="CL_RUT",
            national_id=rut_of(12_345_678),
            given_names="Ana",
            family_names="Pérez",
            home_partner_id=ids["RETAIL_SUR"],
        )
    assert customer.home_partner_id == ids["RETAIL_SUR"]
    (record,) = await audit_records("customers.create")
    assert record.actor == "system:trama"
    assert record.actor_kind == "system"


async def test_create_reports_all_problems_and_changes_nothing(agent):
    before = await state()
    with pytest.raises(ValidationFailed) as caught:
        async with transaction() as session:
            await service.create_customer(
                session,
                principal=agent,
                national_id_type="CL_RUT",
                national_id="12.345.678-9",
                given_names="",
                family_names="P3rez",
                email="nope",
                phone="123",
                address=Address("Pago 4111 1111 1111 1111", None, "", None, None, "ZZ"),
            )
    assert fields(caught.value) == [
        "nationalId",
        "givenNames",
        "familyNames",
        "email",
        "phone",
        "address.country",
        "address.line1",
        "address.city",
    ]
    assert await state() == before


async def test_create_refusals(agent, ids):
    existing = await existing_customer()
    before = await state()
    cases: list[tuple[Principal, dict[str, Any], type[Exception]]] = [
        (
            agent,
            {"national_id": rut_of(int(existing.national_id[:-1]), dotted=True)},
            ValidationFailed,
        ),
        (agent, {"home_partner_id": ids["RETAIL_SUR"]}, Forbidden),
        (principal(Role.NETWORK_VIEWER), {}, Forbidden),
        (principal(Role.INVESTOR), {}, Forbidden),
        (replace(agent, scopes=frozenset({Scope.CUSTOMERS_READ})), {}, Forbidden),
        (SYSTEM, {"home_partner_id": uuid.uuid4()}, ValidationFailed),
    ]
    for who, overrides, error in cases:
        arguments: dict[str, Any] = {
            "national_id_type": "CL_RUT",
            "national_id": rut_of(12_345_678),
            "given_names": "Ana",
            "family_names": "Pérez",
            **overrides,
        }
        with pytest.raises(error):
            async with transaction() as session:
                await service.create_customer(session, principal=who, **arguments)
    assert await state() == before


async def test_create_rolls_back_with_the_edge(agent):
    before = await state()
    with pytest.raises(RuntimeError):
        async with transaction() as session:
            await service.create_customer(
                session,
                principal=agent,
                national_id_type="CL_RUT",
                national_id=rut_of(12_345_678),
                given_names="Ana",
                family_names="Pérez",
            )
            raise RuntimeError("something after the service failed")
    assert await state() == before  # neither the customer nor its audit record


async def test_create_refuses_inactive_home_partner(agent, ids):
    async with transaction() as session:
        await session.execute(
            sa.update(table_of(Partner))
            .where(table_of(Partner).c.id == ids["BANCO_ANDINO"])
            .values(active=False)
        )
    before = await state()
    with pytest.raises(ValidationFailed) as caught:
        async with transaction() as session:
            await service.create_customer(
                session,
                principal=agent,
                national_id_type="CL_RUT",
                national_id=rut_of(12_345_678),
                given_names="Ana",
                family_names="Pérez",
            )
    assert fields(caught.value) == ["homePartnerId"]
    assert await state() == before


# --- update -----------------------------------------------------------------------------
async def update(who: Principal, key: uuid.UUID, version: int, **values: Any) -> Customer:
    async with transaction() as session:
        return await service.update_customer(
            session,
            principal=who,
            customer_id=key,
            expected_version=version,
            changes=service.CustomerChanges(values),
        )


async def test_update_changes_only_what_is_given(agent):
    target = await existing_customer()
    updated = await update(agent, target.id, 1, given_names="Renata", email=None)
    assert updated.version == 2
    assert updated.given_names == "Renata"
    assert updated.email is None
    assert updated.phone == target.phone
    assert updated.family_names == target.family_names
    assert updated.sort_name == fold(f"{target.family_names} Renata")
    (record,) = await audit_records("customers.update")
    assert record.before is not None and record.after is not None
    assert record.before["email"] == target.email and record.after["email"] is None
    assert (record.before["version"], record.after["version"]) == (1, 2)


async def test_update_noop_keeps_version_and_writes_nothing(agent):
    target = await existing_customer()
    before = await state()
    async with transaction() as session:
        same = await service.update_customer(
            session,
            principal=agent,
            customer_id=target.id,
            expected_version=1,
            changes=service.CustomerChanges(
                {"given_names": target.given_names, "phone": target.phone}
            ),
        )
        assert not audit.has_pending(session)
    assert same.version == 1
    assert await state() == before


async def test_update_refusals_change_nothing(agent, supervisor, ids):
    target = await existing_customer()
    other = (await another_customer(target)).national_id
    before = await state()

    with pytest.raises(Conflict) as conflict:
        await update(agent, target.id, 7, given_names="X")
    assert conflict.value.current_version == 1

    with pytest.raises(NotFound):
        await update(agent, uuid.uuid4(), 1, given_names="X")

    with pytest.raises(Forbidden):
        await update(agent, target.id, 1, national_id=rut_of(12_345_678))

    with pytest.raises(Forbidden):
        await update(supervisor, target.id, 1, home_partner_id=ids["RETAIL_SUR"])

    with pytest.raises(Forbidden):
        await update(principal(Role.NETWORK_VIEWER), target.id, 1, given_names="X")

    with pytest.raises(ValidationFailed) as duplicate:
        await update(supervisor, target.id, 1, national_id=other)
    assert fields(duplicate.value) == ["nationalId"]

    with pytest.raises(ValidationFailed) as many:
        await update(
            agent,
            target.id,
            1,
            given_names="Ok",
            email="bad",
            phone="1",
            consent_marketing=None,
            consent_data_sharing=None,
        )
    assert fields(many.value) == ["email", "phone", "consentMarketing", "consentDataSharing"]

    assert await state() == before


async def another_customer(target: Customer) -> Customer:
    async with read_session() as session:
        stmt = (
            sa.select(Customer)
            .where(Customer.id != target.id, Customer.national_id_type == "CL_RUT")  # type: ignore[arg-type]
            .limit(1)
        )
        return (await session.execute(stmt)).scalars().one()


async def test_supervisor_corrects_national_id(supervisor):
    target = await existing_customer()
    updated = await update(supervisor, target.id, 1, national_id=rut_of(12_345_678, dotted=True))
    assert updated.national_id == rut_of(12_345_678)
    assert updated.version == 2


async def test_admin_moves_customer(ids):
    target = await existing_customer()
    destination = next(v for k, v in ids.items() if v != target.home_partner_id)
    updated = await update(SYSTEM, target.id, 1, home_partner_id=destination)
    assert updated.home_partner_id == destination
    assert updated.version == 2


# --- import -----------------------------------------------------------------------------
def draft(body: int, **changes: Any) -> service.CustomerDraft:
    base = service.CustomerDraft(
        national_id_type="CL_RUT",
        national_id=rut_of(body),
        given_names="Persona",
        family_names=f"Importada {chr(ord('A') + body % 26)}",
        email=f"p{body}@Example.COM",
        phone="9 6123 4567",
        address=Address("Los Leones 12", None, "Providencia", None, None, "CL"),
    )
    return replace(base, **changes)


def inserts_into_customers(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith("INSERT INTO CUSTOMERS"))


async def test_import_skips_existing_reports_rejects_and_audits_once(ids, sql_counter):
    existing = await existing_customer()
    customers_before, audits_before = await state()
    mark = await last_seq()
    drafts = [
        draft(16_000_001),  # 0 new
        draft(0, national_id=rut_of(int(existing.national_id[:-1]), dotted=True)),  # 1 present
        draft(16_000_002, national_id=wrong_check_digit(16_000_002)),  # 2 rejected
        draft(16_000_003),  # 3 new
        draft(16_000_001, national_id=rut_of(16_000_001, dotted=True)),  # 4 repeats row 0
        draft(16_000_005, email="not-an-email"),  # 5 rejected
        draft(
            16_000_006,
            address=Address("Pago 4111 1111 1111 1111", None, "Providencia", None, None, "CL"),
        ),  # 6 rejected
        draft(16_000_007, given_names=""),  # 7 rejected
        draft(16_000_008, national_id_type="XX"),  # 8 rejected
    ]
    sql_counter.reset()
    async with transaction() as session:
        result = await service.import_customers(
            session, principal=SYSTEM, home_partner_id=ids["AUTOCREDITO"], drafts=drafts
        )
    assert result.inserted == 2
    assert result.already_present == 2
    assert [index for index, _ in result.rejected] == [2, 5, 6, 7, 8]
    reasons = dict(result.rejected)
    assert reasons[2].startswith("nationalId")
    assert reasons[5].startswith("email")
    assert "address.line1" in reasons[6] and "card number" in reasons[6]
    assert "4111" not in reasons[6]
    assert reasons[7].startswith("givenNames")
    assert reasons[8].startswith("nationalId")
    assert inserts_into_customers(sql_counter.statements) == 1  # set-wise, one statement

    customers_after, audits_after = await state()
    assert len(customers_after) == len(customers_before) + 2
    assert audits_after == audits_before + 1
    (record,) = await audit_records("customers.import", after=mark)
    assert record.entity_type == "Partner"
    assert record.entity_id == str(ids["AUTOCREDITO"])
    assert record.after == {"inserted": 2, "already_present": 2, "rejected": 5}

    async with read_session() as session:
        rows = await session.execute(
            sa.select(Customer).where(
                Customer.national_id.in_([rut_of(16_000_001), rut_of(16_000_003)])  # type: ignore[attr-defined]
            )
        )
        imported = {c.national_id: c for c in rows.scalars().all()}
    assert set(imported) == {rut_of(16_000_001), rut_of(16_000_003)}
    for customer in imported.values():
        assert customer.home_partner_id == ids["AUTOCREDITO"]
        assert customer.phone == "+56961234567"
        assert customer.email is not None and customer.email.endswith("@example.com")
        assert customer.version == 1
        assert customer.sort_name == fold(f"{customer.family_names} {customer.given_names}")


async def test_import_again_inserts_nothing_and_audits_nothing(ids):
    drafts = [draft(16_100_000 + n) for n in range(3)]
    async with transaction() as session:
        first = await service.import_customers(
            session, principal=SYSTEM, home_partner_id=ids["RETAIL_SUR"], drafts=drafts
        )
    assert first.inserted == 3
    before = await state()
    async with transaction() as session:
        again = await service.import_customers(
            session, principal=SYSTEM, home_partner_id=ids["RETAIL_SUR"], drafts=drafts
        )
    assert (again.inserted, again.already_present, again.rejected) == (0, 3, [])
    assert await state() == before


async def test_import_in_batches_keeps_indexes_of_the_whole_list(ids, sql_counter):
    drafts = [draft(16_200_000 + n) for n in range(7)]
    drafts[4] = replace(drafts[4], phone="12")
    drafts[5] = replace(drafts[5], national_id=drafts[1].national_id)  # repeats an earlier batch
    mark = await last_seq()
    sql_counter.reset()
    async with transaction() as session:
        result = await service.import_customers(
            session,
            principal=SYSTEM,
            home_partner_id=ids["BANCO_PAMPA"],
            drafts=drafts,
            batch_size=2,
        )
    assert result.inserted == 5
    assert result.already_present == 1
    assert [index for index, _ in result.rejected] == [4]
    assert result.rejected[0][1].startswith("phone")
    # batches [0 1] [2 3] [4 5] [6]: the third has no new row, so three INSERTs
    assert inserts_into_customers(sql_counter.statements) == 3
    assert len(await audit_records("customers.import", after=mark)) == 1


async def test_import_access(agent, ids):
    before = await state()
    mark = await last_seq()
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await service.import_customers(
                session, principal=agent, home_partner_id=ids["RETAIL_SUR"], drafts=[draft(1)]
            )
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await service.import_customers(
                session,
                principal=principal(Role.NETWORK_VIEWER),
                home_partner_id=ids["RETAIL_SUR"],
                drafts=[draft(16_300_000)],
            )
    with pytest.raises(ValidationFailed) as unknown:
        async with transaction() as session:
            await service.import_customers(
                session, principal=SYSTEM, home_partner_id=uuid.uuid4(), drafts=[draft(16_300_000)]
            )
    assert fields(unknown.value) == ["homePartnerId"]
    assert await state() == before

    async with transaction() as session:
        own = await service.import_customers(
            session,
            principal=agent,
            home_partner_id=ids["BANCO_ANDINO"],
            drafts=[draft(16_300_000)],
        )
    assert own.inserted == 1
    (record,) = await audit_records("customers.import", after=mark)
    assert record.actor == "test:agent"


async def test_import_with_only_rejects_writes_nothing(ids):
    before = await state()
    async with transaction() as session:
        result = await service.import_customers(
            session,
            principal=SYSTEM,
            home_partner_id=ids["BANCO_ANDINO"],
            drafts=[draft(16_400_000, email="x"), draft(16_400_001, national_id="1")],
        )
    assert result.inserted == 0
    assert [index for index, _ in result.rejected] == [0, 1]
    assert await state() == before
