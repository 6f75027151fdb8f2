"""Collection accounts and bank statements: one function per root field.

Reads check the permission first, then call a checked domain service. ``ingestBankStatement``
reads the uploaded file (at most one byte past TRAMA_STATEMENT_MAX_BYTES) and ingests it in
one transaction; a refused file is answered as ``StatementRefusedError`` with nothing written.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.types import Info

from app.db import read_session
from app.settings import Settings
from domain.collections import access, reads
from domain.collections import accounts as account_service
from domain.collections.errors import StatementRefused
from domain.collections.ingestion import IngestPolicy, ingest_file
from domain.collections.models import Channel
from domain.collections.models import StatementKind as StatementKindEnum
from domain.shared.errors import DomainError, ValidationFailed
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.errors import mutate, to_error_type
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import selects, to_connection
from schema.collection_inputs import (
    BankAccountFilter,
    BankStatementFilter,
    ColumnMappingInput,
    IngestBankStatementPayload,
    IngestBankStatementSuccess,
    RegisterBankAccountInput,
    RegisterBankAccountPayload,
    RegisterBankAccountSuccess,
    StatementLineFilter,
    StatementRefusedError,
    UpdateBankAccountInput,
    UpdateBankAccountPayload,
    UpdateBankAccountSuccess,
)
from schema.collections import (
    BankStatement,
    BankStatementConnection,
    CollectionAccount,
    CollectionAccountConnection,
    StatementLineConnection,
)
from schema.collections import StatementLine as StatementLineType

_POSITION = re.compile(r"^#([0-9]{1,3})$")


def policy_of(settings: Settings) -> IngestPolicy:
    return IngestPolicy(
        max_bytes=settings.statement_max_bytes,
        max_unzipped_bytes=settings.statement_max_unzipped_bytes,
        max_zip_ratio=settings.statement_max_zip_ratio,
        refuse_broken=settings.statement_refuse_broken,
    )


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


def mapping_json(value: ColumnMappingInput | None) -> dict[str, Any] | None:
    """The input as the domain's mapping (``"#3"`` is the third column)."""
    if value is None:
        return None
    out: dict[str, Any] = {}
    for name, field_value in vars(value).items():
        if field_value is None:
            continue
        if isinstance(field_value, str) and name not in (
            "date_format",
            "decimal_separator",
            "thousands_separator",
            "delimiter",
            "encoding",
            "skip_rows_matching",
            "sheet",
        ):
            match = _POSITION.match(field_value.strip())
            out[name] = int(match.group(1)) if match else field_value
        else:
            out[name] = list(field_value) if isinstance(field_value, list) else field_value
    return out


def _optional_id(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return None if value is None else require_node_id(value, type_name, field)


# --- reads ----------------------------------------------------------------------------------
async def bank_accounts(
    info: Info,
    filter: BankAccountFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CollectionAccountConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    f = filter or BankAccountFilter()
    limit = _limit(info, first)
    async with read_session() as session:
        page = await account_service.list_accounts(
            session,
            principal=principal,
            partner_id=_optional_id(f.partner_id, "Partner", "filter.partnerId"),
            active=f.active,
            currency=f.currency,
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
    return to_connection(page, CollectionAccount.from_model)


async def bank_account(info: Info, id: strawberry.ID) -> CollectionAccount | None:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    key = decode_node_id(id, "CollectionAccount")
    if key is None:
        return None
    async with read_session() as session:
        found = await account_service.get_many(session, principal=principal, ids=[key])
    return CollectionAccount.from_model(found[key]) if key in found else None


async def bank_statements(
    info: Info,
    filter: BankStatementFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> BankStatementConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    f = filter or BankStatementFilter()
    limit = _limit(info, first)
    async with read_session() as session:
        page = await reads.list_statements(
            session,
            principal=principal,
            filter=reads.StatementFilter(
                account_id=_optional_id(f.account_id, "CollectionAccount", "filter.accountId"),
                kind=f.kind.value if f.kind else None,
                integrity=f.integrity.value if f.integrity else None,
                from_date=f.from_date,
                to_date=f.to_date,
            ),
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
    return to_connection(page, BankStatement.from_model)


async def bank_statement(info: Info, id: strawberry.ID) -> BankStatement | None:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    key = decode_node_id(id, "BankStatement")
    if key is None:
        return None
    async with read_session() as session:
        found = await reads.get_statements(session, principal=principal, ids=[key])
    return BankStatement.from_model(found[key]) if key in found else None


async def statement_lines(
    info: Info,
    filter: StatementLineFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> StatementLineConnection:
    principal = principal_of(info)
    access.ensure_can_read(principal)
    f = filter or StatementLineFilter()
    limit = _limit(info, first)
    async with read_session() as session:
        page = await reads.list_lines(
            session,
            principal=principal,
            filter=reads.LineFilter(
                account_id=_optional_id(f.account_id, "CollectionAccount", "filter.accountId"),
                statement_id=_optional_id(f.statement_id, "BankStatement", "filter.statementId"),
                states=[s.value for s in (f.states or [])],
                direction=f.direction.value if f.direction else None,
                reversal=f.reversal,
                booked_from=f.booked_from,
                booked_to=f.booked_to,
                national_id=re.sub(r"[\s.\-]", "", f.national_id).upper()
                if f.national_id
                else None,
            ),
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
    return to_connection(page, StatementLineType.from_model)


# --- mutations ------------------------------------------------------------------------------
async def register_bank_account(
    info: Info, input: RegisterBankAccountInput
) -> RegisterBankAccountPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> RegisterBankAccountSuccess:
        access.ensure_can_manage_accounts(principal)
        partner = require_node_id(input.partner_id, "Partner", "partnerId")
        account = await account_service.register_bank_account(
            session,
            principal=principal,
            partner_id=partner,
            data=account_service.AccountInput(
                country=input.country,
                bank_code=input.bank_code,
                bank_name=input.bank_name,
                number_kind=input.number_kind.value,
                account_number=input.account_number,
                currency=input.currency,
                label=input.label,
                bic=input.bic,
                statement_identifier=input.statement_identifier,
                column_mapping=mapping_json(input.column_mapping),
                refuse_broken=input.refuse_broken,
            ),
        )
        return RegisterBankAccountSuccess(account=CollectionAccount.from_model(account))

    return await mutate(RegisterBankAccountPayload, work)


async def update_bank_account(
    info: Info, input: UpdateBankAccountInput
) -> UpdateBankAccountPayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> UpdateBankAccountSuccess:
        access.ensure_can_manage_accounts(principal)
        key = require_node_id(input.id, "CollectionAccount", "id")
        changes: dict[str, Any] = {}
        for name in (
            "label",
            "bank_name",
            "bic",
            "statement_identifier",
            "refuse_broken",
            "active",
        ):
            value = getattr(input, name)
            if value is not strawberry.UNSET:
                if name in ("label", "bank_name", "active") and value is None:
                    raise ValidationFailed.on(name, "cannot be null")
                changes[name] = value
        if input.column_mapping is not strawberry.UNSET:
            changes["column_mapping"] = mapping_json(input.column_mapping)
        account = await account_service.update_bank_account(
            session, principal=principal, account_id=key, version=input.version, changes=changes
        )
        return UpdateBankAccountSuccess(account=CollectionAccount.from_model(account))

    return await mutate(UpdateBankAccountPayload, work)


async def _read_upload(file: Any, max_bytes: int) -> tuple[bytes, str]:
    if not (hasattr(file, "read") and hasattr(file, "filename")):
        raise ValidationFailed.on(
            "file", "send the file as a multipart request (GraphQL multipart request spec)"
        )
    content = await file.read(max_bytes + 1)
    return content, file.filename or "statement"


def _refused(exc: StatementRefused) -> StatementRefusedError:
    return StatementRefusedError(message=exc.reason, code=exc.code, where=exc.where)


async def ingest_bank_statement(
    info: Info, file: Upload, account_id: strawberry.ID | None = None
) -> IngestBankStatementPayload:
    """Load a statement file (camt.052/053/054, MT940/MT942, CSV or XLSX, or a zip of them)."""
    principal = principal_of(info)
    settings: Settings = info.context.settings
    try:
        access.ensure_can_ingest(principal)  # before any argument is judged
        account = _optional_id(account_id, "CollectionAccount", "accountId")
        content, name = await _read_upload(file, settings.statement_max_bytes)
    except DomainError as exc:
        error = to_error_type(exc)
        if error is None:
            raise
        return error

    async def work(session: AsyncSession) -> IngestBankStatementSuccess:
        result = await ingest_file(
            session,
            principal=principal,
            content=content,
            file_name=name,
            channel=Channel.API,
            account_id=account,
            policy=policy_of(settings),
        )
        return IngestBankStatementSuccess(
            file_name=result.file.file_name,
            sha256=result.file.sha256,
            kind=StatementKindEnum(result.file.kind),
            already_received=result.already_received,
            skipped_statements=result.skipped_statements,
            line_count=result.line_count,
            new_line_count=result.new_line_count,
            statements=[BankStatement.from_model(s) for s in result.statements],
        )

    try:
        return await mutate(IngestBankStatementPayload, work)
    except StatementRefused as exc:
        return _refused(exc)
