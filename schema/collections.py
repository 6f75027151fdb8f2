"""Collections in the API, part 1: collection bank accounts, bank statements and their lines.

Only the staff and systems of the partner that owns an account, and administrators, see
it, its statements and its lines (``collections:read``). Amounts are ``Money`` in the
account's currency; a line's amount is signed (a credit to the account is positive).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeAlias

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.db import read_session
from domain.collections import accounts as account_service
from domain.collections import reads
from domain.collections.models import AccountNumberKind as AccountNumberKindEnum
from domain.collections.models import BankAccount as AccountModel
from domain.collections.models import BankStatement as StatementModel
from domain.collections.models import Direction as DirectionEnum
from domain.collections.models import IntegrityStatus as IntegrityStatusEnum
from domain.collections.models import LineState as LineStateEnum
from domain.collections.models import SchemaStatus as SchemaStatusEnum
from domain.collections.models import StatementKind as StatementKindEnum
from domain.collections.models import StatementLine as LineModel
from domain.shared.money import Money as DomainMoney
from resolvers.context import principal_of
from resolvers.ids import decode_node_id, encode_node_id
from schema.common import Connection
from schema.money import Money

strawberry.enum(
    AccountNumberKindEnum,
    name="AccountNumberKind",
    description="IBAN, CBU (Argentina), CLABE (Mexico), CCI (Peru) or LOCAL (the bank's own "
    "number: Chile, Colombia).",
)
strawberry.enum(
    StatementKindEnum,
    name="StatementKind",
    description="CAMT053 (statement), CAMT052 (intraday report), CAMT054 (notification), "
    "MT940, MT942 (interim), CSV, XLSX.",
)
strawberry.enum(
    IntegrityStatusEnum,
    name="StatementIntegrity",
    description="OK; WARNINGS (stored, see problems); BROKEN (balances or sequence do not "
    "hold: stored only when breaks are not refused); UNCHECKED (nothing to check against).",
)
strawberry.enum(
    SchemaStatusEnum,
    name="StatementSchemaStatus",
    description="VALID or INVALID against the official ISO 20022 XSD; NOT_APPLICABLE (not XML).",
)
strawberry.enum(
    DirectionEnum, name="StatementLineDirection", description="CREDIT (money in) or DEBIT."
)
strawberry.enum(
    LineStateEnum,
    name="StatementLineState",
    description="NEW (not reconciled yet), AUTO_MATCHED, SUGGESTED, EXCEPTION, UNMATCHED, IGNORED.",
)
AccountNumberKind: TypeAlias = AccountNumberKindEnum
StatementKind: TypeAlias = StatementKindEnum
StatementIntegrity: TypeAlias = IntegrityStatusEnum
StatementSchemaStatus: TypeAlias = SchemaStatusEnum
StatementLineDirection: TypeAlias = DirectionEnum
StatementLineState: TypeAlias = LineStateEnum


def _money(amount: int | None, currency: str) -> Money | None:
    return None if amount is None else Money.from_domain(DomainMoney(amount, currency))


def _column(value: Any) -> str | None:
    if value is None:
        return None
    return f"#{value}" if isinstance(value, int) else str(value)


@strawberry.type(description="Where the fields of this account's CSV/XLSX exports are.")
class ColumnMapping:
    date: str = strawberry.field(description="Column of the booking date (header or #n).")
    date_format: str = strawberry.field(description='strftime format, e.g. "%d/%m/%Y".')
    amount: str | None = strawberry.field(description="One signed amount column…")
    debit: str | None = strawberry.field(description="… or a debit column …")
    credit: str | None = strawberry.field(description="… and a credit column.")
    direction: str | None
    credit_values: list[str]
    debit_values: list[str]
    value_date: str | None
    reference: str | None
    description: str | None
    counterparty: str | None
    counterparty_account: str | None
    national_id: str | None
    bank_reference: str | None
    balance: str | None = strawberry.field(description="A running balance, checked row by row.")
    decimal_separator: str
    thousands_separator: str
    delimiter: str | None
    encoding: str
    header_row: int
    skip_rows_matching: str | None
    sheet: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnMapping:
        return cls(
            date=_column(data.get("date")) or "",
            date_format=data.get("date_format", "%Y-%m-%d"),
            amount=_column(data.get("amount")),
            debit=_column(data.get("debit")),
            credit=_column(data.get("credit")),
            direction=_column(data.get("direction")),
            credit_values=list(data.get("credit_values") or []),
            debit_values=list(data.get("debit_values") or []),
            value_date=_column(data.get("value_date")),
            reference=_column(data.get("reference")),
            description=_column(data.get("description")),
            counterparty=_column(data.get("counterparty")),
            counterparty_account=_column(data.get("counterparty_account")),
            national_id=_column(data.get("national_id")),
            bank_reference=_column(data.get("bank_reference")),
            balance=_column(data.get("balance")),
            decimal_separator=data.get("decimal_separator", "."),
            thousands_separator=data.get("thousands_separator", ""),
            delimiter=data.get("delimiter"),
            encoding=data.get("encoding", "utf-8"),
            header_row=int(data.get("header_row", 1)),
            skip_rows_matching=data.get("skip_rows_matching"),
            sheet=data.get("sheet"),
        )


@strawberry.type(description="A lender's collection account at a bank.")
class CollectionAccount(relay.Node):
    id: relay.NodeID[str]
    partner_id: strawberry.ID = strawberry.field(description="The owner (a `Partner`).")
    country: str
    bank_code: str
    bank_name: str
    bic: str | None
    number_kind: AccountNumberKind
    account_number: str = strawberry.field(description="Compact (no spaces or dashes).")
    statement_identifier: str | None = strawberry.field(
        description="How the bank names the account in its files, when not the number."
    )
    currency: str
    label: str
    column_mapping: ColumnMapping | None
    refuse_broken: bool | None = strawberry.field(
        description="Refuse statements whose balances or sequence break; null: the "
        "installation's setting (TRAMA_STATEMENT_REFUSE_BROKEN)."
    )
    last_sequence: int | None = strawberry.field(
        description="Number of the last end-of-day statement stored."
    )
    last_closing_balance: Money | None
    last_closing_date: date | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, a: AccountModel) -> CollectionAccount:
        return cls(
            id=str(a.id),
            partner_id=strawberry.ID(encode_node_id("Partner", a.partner_id)),
            country=a.country,
            bank_code=a.bank_code,
            bank_name=a.bank_name,
            bic=a.bic,
            number_kind=AccountNumberKindEnum(a.number_kind),
            account_number=a.account_number,
            statement_identifier=a.statement_identifier,
            currency=a.currency,
            label=a.label,
            column_mapping=ColumnMapping.from_json(a.column_mapping) if a.column_mapping else None,
            refuse_broken=a.refuse_broken,
            last_sequence=a.last_sequence,
            last_closing_balance=_money(a.last_closing_balance, a.currency),
            last_closing_date=a.last_closing_date,
            active=a.active,
            version=a.version,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[CollectionAccount | None]:
        principal = principal_of(info)
        keys = [decode_node_id(n, "CollectionAccount") for n in node_ids]
        async with read_session() as session:
            found = await account_service.get_many(
                session, principal=principal, ids=[k for k in keys if k]
            )
        return [cls.from_model(found[k]) if k in found else None for k in keys]


CollectionAccountConnection = Connection[CollectionAccount]


@strawberry.type(description="Something found in a statement: a break, a deviation, a note.")
class StatementProblem:
    code: str = strawberry.field(
        description="BALANCE_MISMATCH, DECLARED_TOTALS, SEQUENCE_GAP, SEQUENCE_OUT_OF_ORDER, "
        "BALANCE_CONTINUITY, RUNNING_BALANCE (breaks); XSD, XSD_UNAVAILABLE, NOT_BOOKED, "
        "BATCH_NOT_SPLIT, NO_BALANCES, ZERO_ENTRY (warnings)."
    )
    message: str
    where: str | None = strawberry.field(description="The element or line in the file.")


@strawberry.type(description="A statement (or interim report, or notification) of an account.")
class BankStatement(relay.Node):
    id: relay.NodeID[str]
    account_id: strawberry.ID = strawberry.field(description="A `CollectionAccount`.")
    kind: StatementKind
    message_version: str | None = strawberry.field(description='e.g. "camt.053.001.08".')
    statement_ref: str
    sequence: int | None = strawberry.field(description="ElctrncSeqNb / MT940 :28C: number.")
    legal_sequence: int | None
    page: int | None
    created_by_bank_at: datetime | None
    from_date: date | None
    to_date: date | None
    currency: str
    opening_balance: Money | None
    opening_balance_type: str | None = strawberry.field(description="OPBD, PRCD, ITBD…")
    closing_balance: Money | None
    closing_balance_type: str | None = strawberry.field(description="CLBD, ITBD…")
    credit_total: Money
    debit_total: Money = strawberry.field(description="Zero or negative.")
    line_count: int
    new_line_count: int = strawberry.field(
        description="Lines stored for the first time (the others were known: overlaps)."
    )
    interim: bool
    integrity: StatementIntegrity
    schema_status: StatementSchemaStatus
    problems: list[StatementProblem]
    received_at: datetime
    key: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, s: StatementModel) -> BankStatement:
        return cls(
            id=str(s.id),
            account_id=strawberry.ID(encode_node_id("CollectionAccount", s.account_id)),
            kind=StatementKindEnum(s.kind),
            message_version=s.message_version,
            statement_ref=s.statement_ref,
            sequence=s.sequence,
            legal_sequence=s.legal_sequence,
            page=s.page,
            created_by_bank_at=s.created_by_bank_at,
            from_date=s.from_date,
            to_date=s.to_date,
            currency=s.currency,
            opening_balance=_money(s.opening_balance, s.currency),
            opening_balance_type=s.opening_balance_type,
            closing_balance=_money(s.closing_balance, s.currency),
            closing_balance_type=s.closing_balance_type,
            credit_total=Money.from_domain(DomainMoney(s.credit_total, s.currency)),
            debit_total=Money.from_domain(DomainMoney(s.debit_total, s.currency)),
            line_count=s.line_count,
            new_line_count=s.new_line_count,
            interim=s.interim,
            integrity=IntegrityStatusEnum(s.integrity),
            schema_status=SchemaStatusEnum(s.schema_status),
            problems=[
                StatementProblem(
                    code=p.get("code", ""), message=p.get("message", ""), where=p.get("where")
                )
                for p in (s.problems or [])
            ],
            received_at=s.received_at,
            key=s.id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[BankStatement | None]:
        principal = principal_of(info)
        keys = [decode_node_id(n, "BankStatement") for n in node_ids]
        async with read_session() as session:
            found = await reads.get_statements(
                session, principal=principal, ids=[k for k in keys if k]
            )
        return [cls.from_model(found[k]) if k in found else None for k in keys]


BankStatementConnection = Connection[BankStatement]


@strawberry.type(description="A national ID as the payer's bank gave it, validated.")
class CounterpartyNationalId:
    type: str = strawberry.field(description="CL_RUT, AR_CUIT, AR_CUIL, MX_RFC…")
    number: str = strawberry.field(description="Compact.")


@strawberry.type(description="One booked movement of a collection account.")
class StatementLine(relay.Node):
    id: relay.NodeID[str]
    statement_id: strawberry.ID = strawberry.field(
        description="The statement it first arrived in (a `BankStatement`)."
    )
    booked_statement_id: strawberry.ID | None = strawberry.field(
        description="The end-of-day statement that booked it; null while only notified."
    )
    account_id: strawberry.ID
    position: int
    booking_date: date
    value_date: date | None
    amount: Money = strawberry.field(description="Signed: a credit to the account is positive.")
    direction: StatementLineDirection
    instructed_amount: Money | None = strawberry.field(
        description="What the payer instructed, when in another currency."
    )
    is_reversal: bool
    reverses_line_id: strawberry.ID | None = strawberry.field(
        description="The line this reversal gives back, when found."
    )
    bank_reference: str | None
    end_to_end_id: str | None
    transaction_id: str | None
    customer_reference: str | None
    creditor_reference: str | None
    remittance_info: str | None = strawberry.field(description="Whole, as the bank sent it.")
    counterparty_name: str | None
    counterparty_account: str | None
    counterparty_bank: str | None
    counterparty_national_id: CounterpartyNationalId | None
    counterparty_id_raw: str | None
    bank_transaction_code: str | None
    bank_transaction_text: str | None
    batch_key: str | None = strawberry.field(
        description="The booking this line was split from (a batch entry)."
    )
    batch_amount: Money | None
    batch_size: int | None
    state: StatementLineState
    version: int
    identity_key: str = strawberry.field(
        description="What makes the line unique in its account (ingestion is idempotent)."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, line: LineModel) -> StatementLine:
        def gid(type_name: str, key: uuid.UUID | None) -> strawberry.ID | None:
            return None if key is None else strawberry.ID(encode_node_id(type_name, key))

        national = None
        if line.counterparty_national_id and line.counterparty_national_id_type:
            national = CounterpartyNationalId(
                type=line.counterparty_national_id_type, number=line.counterparty_national_id
            )
        return cls(
            id=str(line.id),
            statement_id=strawberry.ID(encode_node_id("BankStatement", line.statement_id)),
            booked_statement_id=gid("BankStatement", line.booked_statement_id),
            account_id=strawberry.ID(encode_node_id("CollectionAccount", line.account_id)),
            position=line.position,
            booking_date=line.booking_date,
            value_date=line.value_date,
            amount=Money.from_domain(DomainMoney(line.amount, line.currency)),
            direction=DirectionEnum(line.direction),
            instructed_amount=(
                _money(line.instructed_amount, line.instructed_currency)
                if line.instructed_currency
                else None
            ),
            is_reversal=line.is_reversal,
            reverses_line_id=gid("StatementLine", line.reverses_line_id),
            bank_reference=line.bank_reference,
            end_to_end_id=line.end_to_end_id,
            transaction_id=line.transaction_id,
            customer_reference=line.customer_reference,
            creditor_reference=line.creditor_reference,
            remittance_info=line.remittance_info,
            counterparty_name=line.counterparty_name,
            counterparty_account=line.counterparty_account,
            counterparty_bank=line.counterparty_bank,
            counterparty_national_id=national,
            counterparty_id_raw=line.counterparty_id_raw,
            bank_transaction_code=line.bank_transaction_code,
            bank_transaction_text=line.bank_transaction_text,
            batch_key=line.batch_key,
            batch_amount=_money(line.batch_amount, line.currency),
            batch_size=line.batch_size,
            state=LineStateEnum(line.state),
            version=line.version,
            identity_key=line.identity_key,
            created_at=line.created_at,
            updated_at=line.updated_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[StatementLine | None]:
        principal = principal_of(info)
        keys = [decode_node_id(n, "StatementLine") for n in node_ids]
        async with read_session() as session:
            found = await reads.get_lines(session, principal=principal, ids=[k for k in keys if k])
        return [cls.from_model(found[k]) if k in found else None for k in keys]


StatementLineConnection = Connection[StatementLine]
