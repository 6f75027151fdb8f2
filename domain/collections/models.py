"""Collections, part 1: the lenders' collection bank accounts, the statement files received,
the statements in them and their lines (issue 10, migration 0008).

Amounts are signed integer minor units of the account's currency (``BigInteger``): a credit
to the account is positive, a debit negative, whatever the file wrote. A line is stored once
per account (``uq_statement_lines_account_id_identity_key``): that unique key is what makes
ingestion idempotent (``docs/collections.md`` and ``domain/collections/identity.py``).

``StatementLine.state`` and ``StatementLine.version`` belong to the reconciliation (C2):
ingestion writes ``NEW`` and never changes a stored line's state afterwards.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.ids import uuid7
from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType

__all__ = [
    "AccountNumberKind",
    "BankAccount",
    "BankStatement",
    "Channel",
    "Direction",
    "IntegrityStatus",
    "LineState",
    "SchemaStatus",
    "StatementFile",
    "StatementKind",
    "StatementLine",
]


class AccountNumberKind(StrEnum):
    IBAN = "IBAN"  # validated with stdnum.iban
    CBU = "CBU"  # Argentina, 22 digits, stdnum.ar.cbu
    CLABE = "CLABE"  # Mexico, 18 digits, check digit (weights 3, 7, 1)
    CCI = "CCI"  # Peru, 20 digits (interbank code)
    LOCAL = "LOCAL"  # the bank's own account number (Chile, Colombia): digits, no check


class StatementKind(StrEnum):
    CAMT053 = "CAMT053"  # ISO 20022 bank-to-customer statement (end of day)
    CAMT052 = "CAMT052"  # ISO 20022 account report (intraday): interim
    CAMT054 = "CAMT054"  # ISO 20022 debit/credit notification: interim, no balances
    MT940 = "MT940"  # SWIFT customer statement
    MT942 = "MT942"  # SWIFT interim transaction report
    CSV = "CSV"
    XLSX = "XLSX"

    @property
    def interim(self) -> bool:
        """Interim reports are confirmed later by an end-of-day statement."""
        return self in {StatementKind.CAMT052, StatementKind.CAMT054, StatementKind.MT942}


class Channel(StrEnum):
    API = "API"  # ingestBankStatement
    CLI = "CLI"  # trama statements ingest
    INBOX = "INBOX"  # TRAMA_STATEMENT_INBOX swept by collections.sweep_statement_inbox
    SEED = "SEED"


class IntegrityStatus(StrEnum):
    OK = "OK"  # balances add up and the sequence follows
    WARNINGS = "WARNINGS"  # stored, with problems worth a look (schema deviations…)
    BROKEN = "BROKEN"  # balances do not add up or the sequence breaks (stored by setting)
    UNCHECKED = "UNCHECKED"  # nothing to check against (camt.054, CSV without balances)


class SchemaStatus(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"  # read, but the file bends the official XSD (problems say where)
    NOT_APPLICABLE = "NOT_APPLICABLE"  # not XML


class Direction(StrEnum):
    CREDIT = "CREDIT"  # money in: amount > 0
    DEBIT = "DEBIT"  # money out: amount < 0


class LineState(StrEnum):
    """Where a line stands in the reconciliation (driven by C2's ``collections.reconcile``)."""

    NEW = "NEW"  # stored by ingestion, not yet looked at
    AUTO_MATCHED = "AUTO_MATCHED"
    SUGGESTED = "SUGGESTED"
    EXCEPTION = "EXCEPTION"
    UNMATCHED = "UNMATCHED"
    IGNORED = "IGNORED"


def _money(**kwargs: Any) -> Any:
    return Field(sa_type=sa.BigInteger, **kwargs)


class BankAccount(SQLModel, table=True):
    """A collection account of a lender (its owner partner) at a bank."""

    __tablename__ = "bank_accounts"
    __table_args__ = (
        sa.UniqueConstraint("country", "bank_code", "account_number"),
        sa.Index("ix_bank_accounts_partner", "partner_id", "id"),
        sa.Index("ix_bank_accounts_statement_identifier", "statement_identifier"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    #: ISO 3166-1 alpha-2 of the bank.
    country: str = Field(max_length=2)
    #: The bank: its national code (Chile "012", the first digits of a CBU/CLABE) or BIC.
    bank_code: str = Field(max_length=11)
    bank_name: str = Field(max_length=140)
    bic: str | None = Field(default=None, max_length=11)
    number_kind: str = Field(max_length=8)  # AccountNumberKind
    #: Compact (no spaces, dots or dashes), validated for its kind.
    account_number: str = Field(max_length=34)
    #: How the bank names the account in its files when that is not the number itself
    #: (the MT940 ``:25:`` "BIC/number", a camt ``Acct/Id/Othr/Id``): compact, upper case.
    statement_identifier: str | None = Field(default=None, max_length=64)
    currency: str = Field(max_length=3)
    label: str = Field(max_length=100)
    #: The saved column mapping of this account's CSV/XLSX exports
    #: (``domain.collections.formats.tabular.ColumnMapping``), or NULL.
    column_mapping: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    #: Refuse statements whose integrity is broken: NULL follows TRAMA_STATEMENT_REFUSE_BROKEN.
    refuse_broken: bool | None = Field(default=None)
    #: The last end-of-day statement stored: its sequence number, closing balance and date
    #: (the next one must follow them).
    last_sequence: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_closing_balance: int | None = _money(default=None)
    last_closing_date: date | None = Field(default=None)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1)


class StatementFile(SQLModel, table=True):
    """A file received (upload, CLI or inbox). Only accepted files are stored: a refused
    file writes nothing, and is reported to whoever sent it."""

    __tablename__ = "statement_files"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "sha256"),
        sa.Index("ix_statement_files_partner_received", "partner_id", "received_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    #: Hex SHA-256 of the bytes received.
    sha256: str = Field(max_length=64)
    file_name: str = Field(max_length=255)
    size: int = Field(sa_type=sa.BigInteger)
    kind: str = Field(max_length=8)  # StatementKind
    channel: str = Field(max_length=8)  # Channel
    received_by: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    statement_count: int = Field(default=0)
    #: Lines in the file, and those new to Trama (the rest were known: overlaps, repeats).
    line_count: int = Field(default=0)
    new_line_count: int = Field(default=0)


class BankStatement(SQLModel, table=True):
    """One statement (or interim report / notification) of one account."""

    __tablename__ = "bank_statements"
    __table_args__ = (
        sa.Index("ix_bank_statements_account", "account_id", "to_date", "id"),
        sa.Index("ix_bank_statements_partner", "partner_id", "received_at", "id"),
        sa.Index("ix_bank_statements_file", "file_id"),
        #: Not unique: some banks repeat their ``:20:``; a statement received again is
        #: recognised by its reference, sequence and balances (``ingestion.py``).
        sa.Index("ix_bank_statements_ref", "account_id", "statement_ref"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    file_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("statement_files.id"), nullable=False)
    )
    account_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("bank_accounts.id"), nullable=False)
    )
    #: The account's owner (denormalised: every scope is one column comparison).
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    kind: str = Field(max_length=8)  # StatementKind
    #: The message and its version, e.g. ``camt.053.001.08``; NULL for MT and tabular files.
    message_version: str | None = Field(default=None, max_length=40)
    #: The bank's id of the statement (camt ``Stmt/Id``, MT ``:20:`` + ``:28C:``) or, when
    #: the file has none, one Trama derives from the file hash and the statement's position.
    statement_ref: str = Field(max_length=100)
    #: ``ElctrncSeqNb`` / MT ``:28C:`` statement number; ``LglSeqNb``; MT page.
    sequence: int | None = Field(default=None, sa_type=sa.BigInteger)
    legal_sequence: int | None = Field(default=None, sa_type=sa.BigInteger)
    page: int | None = Field(default=None)
    created_by_bank_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    from_date: date | None = Field(default=None)
    to_date: date | None = Field(default=None)
    currency: str = Field(max_length=3)
    opening_balance: int | None = _money(default=None)
    opening_balance_type: str | None = Field(default=None, max_length=4)  # OPBD, PRCD, ITBD…
    opening_balance_date: date | None = Field(default=None)
    closing_balance: int | None = _money(default=None)
    closing_balance_type: str | None = Field(default=None, max_length=4)  # CLBD, ITBD…
    closing_balance_date: date | None = Field(default=None)
    #: Sums of the booked entries the statement reports (credits ≥ 0, debits ≤ 0).
    credit_total: int = _money(default=0)
    debit_total: int = _money(default=0)
    line_count: int = Field(default=0)
    new_line_count: int = Field(default=0)
    interim: bool = Field(default=False)
    integrity: str = Field(max_length=10)  # IntegrityStatus
    schema_status: str = Field(max_length=14)  # SchemaStatus
    #: ``[{"code", "message", "where"}]``: every problem found (integrity and schema).
    problems: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StatementLine(SQLModel, table=True):
    """One booked movement of an account: one entry, or one transaction of a batch entry."""

    __tablename__ = "statement_lines"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "identity_key"),
        sa.Index("ix_statement_lines_statement", "statement_id", "position"),
        sa.Index("ix_statement_lines_booked_statement", "booked_statement_id"),
        sa.Index("ix_statement_lines_account_booking", "account_id", "booking_date", "id"),
        sa.Index("ix_statement_lines_partner_state", "partner_id", "state", "id"),
        sa.Index(
            "ix_statement_lines_counterparty_national_id",
            "counterparty_national_id_type",
            "counterparty_national_id",
        ),
        sa.Index("ix_statement_lines_reverses", "reverses_line_id"),
        sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
        sa.CheckConstraint(
            "(direction = 'CREDIT' AND amount > 0) OR (direction = 'DEBIT' AND amount < 0)",
            name="direction_sign",
        ),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True, sa_type=UUIDType)
    #: The statement the line first arrived in.
    statement_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("bank_statements.id"), nullable=False)
    )
    #: The end-of-day statement (camt.053, MT940, CSV/XLSX) that booked it: the same as
    #: ``statement_id`` for lines first seen there; set later for lines first notified by a
    #: camt.054/052 or an MT942; NULL while only notified.
    booked_statement_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("bank_statements.id"), nullable=True),
    )
    account_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("bank_accounts.id"), nullable=False)
    )
    partner_id: uuid.UUID = Field(
        sa_column=sa.Column(UUIDType, sa.ForeignKey("partners.id"), nullable=False)
    )
    #: Idempotency key, unique per account: ``ref:…`` from the bank's own reference, or
    #: ``h:…`` a hash of account, booking date, amount, reference and occurrence.
    identity_key: str = Field(max_length=120)
    #: Order of the line in its statement (from 1).
    position: int
    booking_date: date
    value_date: date | None = Field(default=None)
    amount: int = _money()  # signed: credit > 0, debit < 0
    currency: str = Field(max_length=3)
    direction: str = Field(max_length=6)  # Direction
    #: The amount the payer instructed when another currency (camt ``AmtDtls/InstdAmt``).
    instructed_amount: int | None = _money(default=None)
    instructed_currency: str | None = Field(default=None, max_length=3)
    #: A reversal (camt ``RvslInd``, MT940 ``RC``/``RD``): its sign is the booking's own.
    is_reversal: bool = Field(default=False)
    #: The line it reverses, when found in the account's lines (same references, opposite
    #: amount); NULL for a reversal whose original Trama never received.
    reverses_line_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(UUIDType, sa.ForeignKey("statement_lines.id"), nullable=True),
    )
    #: References: camt ``AcctSvcrRef`` / MT940 reference of the account servicing
    #: institution (after ``//``); ``EndToEndId``; ``TxId``; ``InstrId`` / MT940 reference
    #: for the account owner; the structured creditor reference (``CdtrRefInf/Ref``).
    bank_reference: str | None = Field(default=None, max_length=100)
    end_to_end_id: str | None = Field(default=None, max_length=100)
    transaction_id: str | None = Field(default=None, max_length=100)
    customer_reference: str | None = Field(default=None, max_length=100)
    creditor_reference: str | None = Field(default=None, max_length=100)
    #: Remittance information as the bank sent it, whole (unstructured lines joined by
    #: newlines; MT940 ``:86:`` with its continuation lines); never cut.
    remittance_info: str | None = Field(default=None, sa_type=sa.Text)
    counterparty_name: str | None = Field(default=None, max_length=140)
    counterparty_account: str | None = Field(default=None, max_length=64)
    counterparty_bank: str | None = Field(default=None, max_length=35)
    #: The payer's national ID when the file carries one: type and compact number when valid
    #: (``domain.shared.national_ids``); ``counterparty_id_raw`` keeps what the bank wrote.
    counterparty_national_id_type: str | None = Field(default=None, max_length=16)
    counterparty_national_id: str | None = Field(default=None, max_length=40)
    counterparty_id_raw: str | None = Field(default=None, max_length=64)
    #: ``Domn/Fmly/SubFmly`` (``PMNT/RCDT/ESCT``), a proprietary code, or the MT940 type
    #: (``NTRF``); ``bank_transaction_text`` the bank's words for it (MT940 ``?00``).
    bank_transaction_code: str | None = Field(default=None, max_length=60)
    bank_transaction_text: str | None = Field(default=None, max_length=140)
    #: The booking this line was split from (a batch entry): its key, whole amount and
    #: number of transactions; NULL for a line that is a booking of its own.
    batch_key: str | None = Field(default=None, max_length=120)
    batch_amount: int | None = _money(default=None)
    batch_size: int | None = Field(default=None)
    #: Reconciliation state (``LineState``) and optimistic-concurrency version: C2's.
    state: str = Field(default=LineState.NEW.value, max_length=12)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
