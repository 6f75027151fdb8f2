"""Inputs, filters and payloads of collection accounts and statements."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from schema.collections import (
    AccountNumberKind,
    BankStatement,
    CollectionAccount,
    StatementIntegrity,
    StatementKind,
    StatementLineDirection,
    StatementLineState,
)
from schema.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UserError,
    ValidationError,
)


@strawberry.input(
    description="Where the fields of an account's CSV/XLSX exports are. A column is its "
    'header text (compared without case or accents) or its position as "#3".'
)
class ColumnMappingInput:
    date: str
    date_format: str = strawberry.field(default="%Y-%m-%d", description='e.g. "%d/%m/%Y".')
    amount: str | None = strawberry.field(default=None, description="One signed amount column…")
    debit: str | None = strawberry.field(default=None, description="… or debit and credit.")
    credit: str | None = None
    direction: str | None = strawberry.field(
        default=None, description="A column telling credits from debits (Cargo/Abono)."
    )
    credit_values: list[str] | None = None
    debit_values: list[str] | None = None
    value_date: str | None = None
    reference: str | None = None
    description: str | None = None
    counterparty: str | None = None
    counterparty_account: str | None = None
    national_id: str | None = None
    bank_reference: str | None = None
    balance: str | None = strawberry.field(
        default=None, description="A running balance column: each row is checked against it."
    )
    decimal_separator: str = strawberry.field(default=".", description='"." or ",".')
    thousands_separator: str = strawberry.field(
        default="", description='"", ".", ",", " " or "\'".'
    )
    delimiter: str | None = strawberry.field(
        default=None, description='",", ";", TAB or "|"; null: guessed.'
    )
    encoding: str = strawberry.field(default="utf-8", description="utf-8, latin-1 or cp1252.")
    header_row: int = strawberry.field(default=1, description="The header's row (from 1).")
    skip_rows_matching: str | None = strawberry.field(
        default=None, description="A pattern: rows that match are skipped (totals…)."
    )
    sheet: str | None = strawberry.field(default=None, description="XLSX: the sheet's name.")


@strawberry.input(description="A collection account of a lender.")
class RegisterBankAccountInput:
    partner_id: strawberry.ID = strawberry.field(
        description="The lender that owns it (your own partner unless you are an admin)."
    )
    country: str
    number_kind: AccountNumberKind
    account_number: str = strawberry.field(
        description="Validated for its kind (IBAN, CBU, CLABE check digits)."
    )
    currency: str
    bank_name: str
    label: str
    bank_code: str | None = strawberry.field(
        default=None, description="Required for LOCAL numbers; read from IBAN/CBU/CLABE/CCI."
    )
    bic: str | None = None
    statement_identifier: str | None = strawberry.field(
        default=None,
        description='How the bank names the account in its files (MT940 :25: "BIC/number").',
    )
    column_mapping: ColumnMappingInput | None = None
    refuse_broken: bool | None = None


@strawberry.input(description="Fields left out stay as they are.")
class UpdateBankAccountInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; a stale one conflicts.")
    label: str | None = strawberry.UNSET
    bank_name: str | None = strawberry.UNSET
    bic: str | None = strawberry.UNSET
    statement_identifier: str | None = strawberry.UNSET
    column_mapping: ColumnMappingInput | None = strawberry.UNSET
    refuse_broken: bool | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.input
class BankAccountFilter:
    partner_id: strawberry.ID | None = None
    currency: str | None = None
    active: bool | None = None


@strawberry.input
class BankStatementFilter:
    account_id: strawberry.ID | None = None
    kind: StatementKind | None = None
    integrity: StatementIntegrity | None = None
    from_date: date | None = strawberry.field(default=None, description="Ending on or after.")
    to_date: date | None = strawberry.field(default=None, description="Starting on or before.")


@strawberry.input
class StatementLineFilter:
    account_id: strawberry.ID | None = None
    statement_id: strawberry.ID | None = strawberry.field(
        default=None, description="The lines it brought and the ones it booked."
    )
    states: list[StatementLineState] | None = None
    direction: StatementLineDirection | None = None
    reversal: bool | None = None
    booked_from: date | None = None
    booked_to: date | None = None
    national_id: str | None = strawberry.field(
        default=None, description="The payer's national ID, compact."
    )


@strawberry.type
class RegisterBankAccountSuccess:
    account: CollectionAccount


RegisterBankAccountPayload = Annotated[
    RegisterBankAccountSuccess | ValidationError | ForbiddenError | ConflictError | NotFoundError,
    strawberry.union("RegisterBankAccountPayload"),
]


@strawberry.type
class UpdateBankAccountSuccess:
    account: CollectionAccount


UpdateBankAccountPayload = Annotated[
    UpdateBankAccountSuccess | ValidationError | ForbiddenError | ConflictError | NotFoundError,
    strawberry.union("UpdateBankAccountPayload"),
]


@strawberry.type(
    description="The file was refused whole: nothing of it was stored. `code` says why: "
    "EMPTY_FILE, FILE_TOO_LARGE, ZIP_BOMB, XML_BOMB, XML_EXTERNAL_ENTITY, XML_FORBIDDEN, "
    "UNSUPPORTED_FORMAT, MALFORMED_STATEMENT, UNKNOWN_ACCOUNT, ACCOUNT_MISMATCH, "
    "UNKNOWN_CURRENCY, CURRENCY_MISMATCH, INTEGRITY_BROKEN, NO_COLUMN_MAPPING."
)
class StatementRefusedError(UserError):
    where: str | None = strawberry.field(
        description='The line or element at fault ("line 12, :61:", "/Document/…/Ntry[3]").'
    )


@strawberry.type(description="The file was read and stored (or had been before).")
class IngestBankStatementSuccess:
    file_name: str
    sha256: str
    kind: StatementKind
    already_received: bool = strawberry.field(
        description="The same file was received before: nothing new was stored."
    )
    skipped_statements: int = strawberry.field(
        description="Statements of the file received before, in another file."
    )
    line_count: int
    new_line_count: int
    statements: list[BankStatement]


IngestBankStatementPayload = Annotated[
    IngestBankStatementSuccess | StatementRefusedError | ValidationError | ForbiddenError,
    strawberry.union("IngestBankStatementPayload"),
]
