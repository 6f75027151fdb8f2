"""Investors: registration, validation, KYC, masking, access, search."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from stdnum.ar import cbu

from app.db import Database, read_session, transaction
from domain.investors import service, views
from domain.investors.models import Investor
from domain.investors.rules import BankAccount, clabe_check_digit
from domain.shared import outbox
from domain.shared.audit import AuditRecord
from domain.shared.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.principal import Role
from tests.domain.investors.conftest import (
    ADMIN,
    NO_PII,
    cl_account,
    counts,
    investor_principal,
    make_investor,
    new_rut,
    staff,
)


async def create(**overrides: object) -> Investor:
    values: dict[str, object] = {
        "kind": "PERSON",
        "legal_name": "María José Pérez",
        "national_id_type": "CL_RUT",
        "national_id": new_rut(),
        "bank_account": cl_account(),
        "email": "mj@example.cl",
    }
    values.update(overrides)
    principal = values.pop("principal", ADMIN)
    async with transaction() as session:
        return await service.create_investor(session, principal=principal, **values)  # type: ignore[arg-type]


async def test_create_normalises_and_records(db: Database) -> None:
    before = await counts()
    investor = await create(national_id="12.345.678-5", email="MJ@Example.CL")
    assert investor.national_id == "123456785"
    assert investor.country == "CL"
    assert investor.kyc_status == "PENDING"
    assert investor.email == "MJ@example.cl"
    assert investor.bank_code == "012"
    after = await counts()
    assert after["investors"] == before["investors"] + 1
    assert after["audit"] == before["audit"] + 1
    async with read_session() as session:
        event = (
            await session.execute(
                sa.select(outbox.OutboxEvent).where(
                    outbox.OutboxEvent.key == gid("Investor", investor.id)  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
    assert event.topic == "investors.created"
    assert "123456785" not in str(event.payload)  # ids only, no personal data


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"national_id": "12.345.678-9"}, "nationalId"),  # wrong check digit
        ({"national_id_type": "XX_ID"}, "nationalId"),
        ({"national_id": ""}, "nationalId"),
        ({"legal_name": " "}, "legalName"),
        ({"kind": "ROBOT"}, "kind"),
        ({"email": "not-an-email"}, "email"),
        ({"bank_account": None}, "bankAccount"),
        ({"bank_account": BankAccount("12", "VISTA", "123456")}, "bankAccount.bankCode"),
        ({"bank_account": BankAccount("012", "VISTA", "12")}, "bankAccount.number"),
        ({"bank_account": BankAccount("012", "VISTA", "12AB5678")}, "bankAccount.number"),
        ({"bank_account": BankAccount("012", "BROKERAGE", "12345678")}, "bankAccount.accountType"),
        ({"bank_account": BankAccount("012", "VISTA", "0000-0000")}, "bankAccount.number"),
    ],
)
async def test_bad_input_is_refused_and_nothing_written(
    db: Database, overrides: dict[str, object], field: str
) -> None:
    before = await counts()
    with pytest.raises(ValidationFailed) as caught:
        await create(**overrides)
    assert field in {p.field for p in caught.value.problems}, caught.value.problems
    assert await counts() == before


async def test_duplicate_national_id_is_refused(db: Database) -> None:
    number = new_rut()
    await create(national_id=number)
    before = await counts()
    with pytest.raises(ValidationFailed, match="already has this national ID"):
        await create(national_id=number, legal_name="Otra Persona")
    assert await counts() == before


async def test_country_bank_formats(db: Database) -> None:
    first, second = "2850590", "9404181352010"  # bank 285, branch, account
    ar_number = first + cbu.calc_check_digit(first) + second + cbu.calc_check_digit(second)
    assert cbu.is_valid(ar_number)
    investor = await create(
        national_id_type="AR_CUIT",
        national_id="20-26756539-3",
        bank_account=BankAccount(None, "SAVINGS", ar_number),
    )
    assert (investor.bank_code, investor.country) == ("285", "AR")
    with pytest.raises(ValidationFailed, match="CBU"):
        await create(
            national_id_type="AR_CUIT",
            national_id="20-26756539-3",
            bank_account=BankAccount(None, "SAVINGS", ar_number[:-1] + "0"),
        )
    with pytest.raises(ValidationFailed, match="bank code inside"):
        await create(
            national_id_type="AR_CUIT",
            national_id="20-26756539-3",
            bank_account=BankAccount("999", "SAVINGS", ar_number),
        )
    assert clabe_check_digit("03218000011835971") == "9"  # the usual worked example
    clabe = "00201007777777777"
    clabe += clabe_check_digit(clabe)
    assert clabe == "002010077777777771"
    mx = await create(
        national_id_type="MX_RFC",
        national_id="GODE561231GR8",
        bank_account=BankAccount(None, "CHECKING", clabe),
    )
    assert mx.bank_code == "002"
    with pytest.raises(ValidationFailed, match="CLABE"):
        await create(
            national_id_type="MX_RFC",
            national_id="GODE561231GR8",
            bank_account=BankAccount(None, "CHECKING", clabe[:-1] + "0"),
        )
    with pytest.raises(ValidationFailed, match="do not exist in AR"):
        await create(
            national_id_type="AR_CUIT",
            national_id="20-26756539-3",
            bank_account=BankAccount(None, "VISTA", ar_number),
        )


async def test_masking_follows_pii_scope(db: Database) -> None:
    investor = await create(bank_account=cl_account("9876543210"))
    clear = views.present(investor, ADMIN)
    masked = views.present(investor, NO_PII)
    assert clear.bank_account.number == "9876543210"
    assert masked.bank_account.number == "••••••3210"
    assert masked.national_id != clear.national_id
    assert masked.national_id.replace("-", "").endswith(investor.national_id[-2:])
    assert masked.email is not None and "mj@" not in masked.email
    assert masked.pii_masked and not clear.pii_masked


async def test_kyc_transitions(db: Database) -> None:
    investor = await create()
    async with transaction() as session:
        with pytest.raises(ValidationFailed, match="say why"):
            await service.change_kyc_status(
                session, principal=ADMIN, investor_id=investor.id, status="REJECTED"
            )
        rejected = await service.change_kyc_status(
            session,
            principal=ADMIN,
            investor_id=investor.id,
            status="REJECTED",
            note="documents expired",
        )
        assert rejected.kyc_status == "REJECTED"
    async with transaction() as session:
        with pytest.raises(InvalidTransition):
            await service.change_kyc_status(
                session, principal=ADMIN, investor_id=investor.id, status="VERIFIED"
            )
    async with transaction() as session:
        await service.change_kyc_status(
            session, principal=ADMIN, investor_id=investor.id, status="PENDING"
        )
        verified = await service.change_kyc_status(
            session, principal=ADMIN, investor_id=investor.id, status="VERIFIED"
        )
    assert verified.kyc_status == "VERIFIED" and verified.version == 4
    async with transaction() as session:
        with pytest.raises(Conflict):
            await service.change_kyc_status(
                session,
                principal=ADMIN,
                investor_id=investor.id,
                status="PENDING",
                expected_version=1,
            )
        with pytest.raises(ValidationFailed):
            await service.change_kyc_status(
                session, principal=ADMIN, investor_id=investor.id, status="MAYBE"
            )
        with pytest.raises(NotFound):
            await service.change_kyc_status(
                session, principal=ADMIN, investor_id=uuid.uuid4(), status="PENDING"
            )
    async with read_session() as session:
        topics = (
            (
                await session.execute(
                    sa.select(outbox.OutboxEvent.topic).where(  # type: ignore[call-overload]
                        outbox.OutboxEvent.key == gid("Investor", investor.id)  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted(topics) == ["investors.created"] + ["investors.kyc_changed"] * 3


async def test_new_bank_account_sends_verified_investor_back_to_review(db: Database) -> None:
    investor = await make_investor()
    async with transaction() as session:
        same = await service.update_investor(
            session,
            principal=ADMIN,
            investor_id=investor.id,
            expected_version=investor.version,
            changes=service.InvestorChanges({"legal_name": investor.legal_name}),
        )
        assert same.version == investor.version  # nothing changed, nothing recorded
        renamed = await service.update_investor(
            session,
            principal=ADMIN,
            investor_id=investor.id,
            expected_version=investor.version,
            changes=service.InvestorChanges({"legal_name": "Inversiones Andes Limitada"}),
        )
        assert renamed.kyc_status == "VERIFIED"
        moved = await service.update_investor(
            session,
            principal=ADMIN,
            investor_id=investor.id,
            expected_version=renamed.version,
            changes=service.InvestorChanges({"bank_account": cl_account("55556666")}),
        )
    assert moved.kyc_status == "PENDING"
    assert moved.bank_account_number == "55556666"
    before = await counts()
    async with transaction() as session:
        with pytest.raises(ValidationFailed):
            await service.update_investor(
                session,
                principal=ADMIN,
                investor_id=investor.id,
                expected_version=moved.version,
                changes=service.InvestorChanges({"national_id": "1-1"}),
            )
    assert await counts() == before


async def test_access(db: Database) -> None:
    mine = await create()
    other = await create()
    agent = staff(Role.AGENT)
    with pytest.raises(Forbidden):
        await create(principal=agent)
    with pytest.raises(Forbidden):
        await create(principal=investor_principal(mine.id))
    async with read_session() as session:
        me = investor_principal(mine.id)
        assert (
            await service.get_investor(session, principal=me, investor_id=mine.id)
        ).id == mine.id
        with pytest.raises(Forbidden):
            await service.get_investor(session, principal=me, investor_id=other.id)
        with pytest.raises(Forbidden):
            await service.get_investor(session, principal=agent, investor_id=mine.id)
        with pytest.raises(Forbidden):  # an investor role without the claim sees nothing
            await service.search_investors(session, principal=investor_principal(None), limit=5)
        page = await service.search_investors(session, principal=me, limit=50)
        assert [i.id for i in page.items] == [mine.id]
        everyone = await service.search_investors(session, principal=NO_PII, limit=50)
        assert {mine.id, other.id} <= {i.id for i in everyone.items}


async def test_search_pages_by_name_and_id(db: Database) -> None:
    names = ["Ana Zúñiga", "Bruno Zapata", "Carla Zamora", "Diego Alvarez"]
    created = [await create(legal_name=n) for n in names]
    async with read_session() as session:
        found = await service.search_investors(session, principal=ADMIN, text="z", limit=2)
        assert [i.legal_name for i in found.items] == ["Ana Zúñiga", "Bruno Zapata"]
        assert found.has_next
        rest = await service.search_investors(
            session, principal=ADMIN, text="z", limit=2, after=found.cursors[-1]
        )
        assert [i.legal_name for i in rest.items] == ["Carla Zamora", "Diego Alvarez"]
        by_id = await service.search_investors(
            session, principal=ADMIN, text=created[1].national_id[:8], limit=5, with_total=True
        )
        assert created[1].id in {i.id for i in by_id.items}
        pending = await service.search_investors(
            session, principal=ADMIN, kyc_status="PENDING", limit=100, with_total=True
        )
        assert pending.total is not None and pending.total >= 4
        with pytest.raises(ValidationFailed):
            await service.search_investors(session, principal=ADMIN, kyc_status="NOPE", limit=1)
        with pytest.raises(ValidationFailed):
            await service.search_investors(session, principal=ADMIN, limit=1, after="garbage!")


async def test_audit_never_lost(db: Database) -> None:
    investor = await create()
    async with read_session() as session:
        actions = (
            (
                await session.execute(
                    sa.select(AuditRecord.action).where(  # type: ignore[call-overload]
                        AuditRecord.entity_id == str(investor.id)  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["investors.create"]
