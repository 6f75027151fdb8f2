"""Root fields of contracts: one by id, an application's (newest first). Download links
are signed for the caller (``app/contract_files.py``)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.contract_links import contract_signer
from app.db import read_session
from app.hosts import public_base
from domain.origination import contracts
from domain.origination.contracts_models import Contract as ContractModel
from domain.origination.contracts_models import ContractSigner as SignerModel
from domain.shared.errors import NotFound
from domain.shared.ids import parse_uuid
from resolvers.context import principal_of
from resolvers.ids import encode_node_id, require_node_id
from schema.contracts import Contract, ContractDocument, ContractDocumentKind


def _document(info: Info, model: ContractModel, kind: ContractDocumentKind) -> ContractDocument:
    settings = info.context.settings
    path = contract_signer(settings).path(model.id, kind.value, principal_of(info))
    signed = kind is ContractDocumentKind.SIGNED
    return ContractDocument(
        kind=kind,
        file_name=f"{model.reference}{'-firmado' if signed else ''}.pdf",
        size=(model.signed_size or 0) if signed else model.unsigned_size,
        sha256=(model.signed_sha256 or "") if signed else model.unsigned_sha256,
        url=public_base(settings, info.context.request) + path,
    )


def to_contract(info: Info, model: ContractModel, signers: list[SignerModel]) -> Contract:
    return Contract.from_model(
        model,
        signers=signers,
        application_id=encode_node_id("CreditApplication", model.application_id),
        credit_id=encode_node_id("Credit", model.credit_id) if model.credit_id else None,
        unsigned=_document(info, model, ContractDocumentKind.UNSIGNED),
        signed=(
            _document(info, model, ContractDocumentKind.SIGNED)
            if model.signed_sha256 is not None
            else None
        ),
    )


async def contract(info: Info, id: strawberry.ID) -> Contract | None:
    principal = principal_of(info)
    key = parse_uuid(str(id))
    if key is None:
        return None
    async with read_session() as session:
        try:
            model = await contracts.get_contract(session, principal=principal, contract_id=key)
        except NotFound:
            return None
        signers = await contracts.signers_by_contract(session, [model.id])
    return to_contract(info, model, signers[model.id])


async def application_contracts(info: Info, application_id: strawberry.ID) -> list[Contract]:
    principal = principal_of(info)
    key = require_node_id(application_id, "CreditApplication", "applicationId")
    async with read_session() as session:
        models = await contracts.contracts_of_application(
            session, principal=principal, application_id=key
        )
        signers = await contracts.signers_by_contract(session, [m.id for m in models])
    return [to_contract(info, m, signers[m.id]) for m in models]
