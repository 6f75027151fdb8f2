"""Changes to one case, and to a partner's homologation table.

Each runs in one transaction through :func:`resolvers.errors.mutate`: an expected failure
rolls back and comes back as a typed error of the payload. The write permission is checked
before any argument is judged; the rest (visibility, who may act, versions) is the domain's.
"""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.cases import homologation, scopes
from domain.cases import service as cases
from domain.cases.homologation import MappingLine
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.principal import Principal
from resolvers.cases import present_in
from resolvers.context import principal_of
from resolvers.credits import money_from_input
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, require_node_id
from schema.case_homologation import (
    StatusMappingTable,
    UpdateStatusMappingInput,
    UpdateStatusMappingPayload,
    UpdateStatusMappingSuccess,
)
from schema.case_inputs import (
    AcceptDerivationInput,
    AcceptDerivationPayload,
    AcceptDerivationSuccess,
    AddCaseCommentInput,
    AddCaseCommentPayload,
    AddCaseCommentSuccess,
    DeriveCaseInput,
    DeriveCasePayload,
    DeriveCaseSuccess,
    OpenCaseInput,
    OpenCasePayload,
    OpenCaseSuccess,
    RejectDerivationInput,
    RejectDerivationPayload,
    RejectDerivationSuccess,
    ResolveCaseInput,
    ResolveCasePayload,
    ResolveCaseSuccess,
    TransitionCaseInput,
    TransitionCasePayload,
    TransitionCaseSuccess,
    UpdateCaseInput,
    UpdateCasePayload,
    UpdateCaseSuccess,
)
from schema.cases import Case, CaseComment


def _writer(info: Info) -> Principal:
    principal = principal_of(info)
    scopes.ensure_can_write(principal)
    return principal


async def _present(info: Info, session: AsyncSession, principal: Principal, model: Any) -> Case:
    return await present_in(info, session, principal, model)


async def open_case(info: Info, input: OpenCaseInput) -> OpenCasePayload:
    principal = principal_of(info)

    async def work(session: AsyncSession) -> OpenCaseSuccess:
        scopes.ensure_can_write(principal)
        problems = Problems()
        customer = decode_node_id(input.customer_id, "Customer")
        if customer is None:
            problems.add("customerId", "is not the id of a Customer")
        origin = None
        if input.originating_partner_id is not None:
            origin = decode_node_id(input.originating_partner_id, "Partner")
            if origin is None:
                problems.add("originatingPartnerId", "is not the id of a Partner")
        amount = money_from_input(input.amount_in_dispute, "amountInDispute", problems)
        problems.raise_if_any()
        assert customer is not None
        model = await cases.open_case(
            session,
            principal=principal,
            customer_id=customer,
            typology_code=input.typology_code,
            channel=input.channel,
            description=input.description,
            priority=input.priority,
            card_last4=input.card_last4,
            card_token=input.card_token,
            amount_in_dispute=amount,
            originating_partner_id=origin,
            external_ref=input.external_ref,
        )
        return OpenCaseSuccess(case=await _present(info, session, principal, model))

    return await mutate(OpenCasePayload, work)


def _changes(input: UpdateCaseInput) -> cases.CaseChanges:
    values: dict[str, Any] = {}
    problems = Problems()
    for name in ("description", "card_last4", "card_token"):
        value = getattr(input, name)
        if value is not strawberry.UNSET:
            values[name] = value
    if input.priority is not strawberry.UNSET:
        if input.priority is None:
            problems.add("priority", "cannot be removed")
        else:
            values["priority"] = input.priority
    if input.typology_code is not strawberry.UNSET:
        if input.typology_code is None:
            problems.add("typologyCode", "cannot be removed")
        else:
            values["typology_code"] = input.typology_code
    if input.amount_in_dispute is not strawberry.UNSET:
        values["amount_in_dispute"] = money_from_input(
            input.amount_in_dispute, "amountInDispute", problems
        )
    problems.raise_if_any()
    return cases.CaseChanges(values)


async def update_case(info: Info, input: UpdateCaseInput) -> UpdateCasePayload:
    async def work(session: AsyncSession) -> UpdateCaseSuccess:
        principal = _writer(info)
        model = await cases.update_case(
            session,
            principal=principal,
            case_id=require_node_id(input.id, "Case", "id"),
            expected_version=input.version,
            changes=_changes(input),
        )
        return UpdateCaseSuccess(case=await _present(info, session, principal, model))

    return await mutate(UpdateCasePayload, work)


async def transition_case(info: Info, input: TransitionCaseInput) -> TransitionCasePayload:
    async def work(session: AsyncSession) -> TransitionCaseSuccess:
        principal = _writer(info)
        model = await cases.transition_case(
            session,
            principal=principal,
            case_id=require_node_id(input.id, "Case", "id"),
            expected_version=input.version,
            to_status=input.to_status,
            note=input.note,
        )
        return TransitionCaseSuccess(case=await _present(info, session, principal, model))

    return await mutate(TransitionCasePayload, work)


async def resolve_case(info: Info, input: ResolveCaseInput) -> ResolveCasePayload:
    async def work(session: AsyncSession) -> ResolveCaseSuccess:
        principal = _writer(info)
        key = require_node_id(input.id, "Case", "id")
        problems = Problems()
        refund = money_from_input(input.amount_refunded, "amountRefunded", problems)
        problems.raise_if_any()
        model = await cases.resolve_case(
            session,
            principal=principal,
            case_id=key,
            expected_version=input.version,
            code=input.code,
            note=input.note,
            amount_refunded=refund,
        )
        return ResolveCaseSuccess(case=await _present(info, session, principal, model))

    return await mutate(ResolveCasePayload, work)


async def add_case_comment(info: Info, input: AddCaseCommentInput) -> AddCaseCommentPayload:
    async def work(session: AsyncSession) -> AddCaseCommentSuccess:
        principal = _writer(info)
        key = require_node_id(input.case_id, "Case", "caseId")
        comment = await cases.add_comment(
            session,
            principal=principal,
            case_id=key,
            expected_version=input.version,
            body=input.body,
            visibility=input.visibility,
        )
        model = await cases.get_case(session, principal=principal, case_id=key)
        shown = await _present(info, session, principal, model)
        return AddCaseCommentSuccess(
            comment=CaseComment.from_model(comment, shown.masked), case=shown
        )

    return await mutate(AddCaseCommentPayload, work)


async def derive_case(info: Info, input: DeriveCaseInput) -> DeriveCasePayload:
    async def work(session: AsyncSession) -> DeriveCaseSuccess:
        principal = _writer(info)
        key = require_node_id(input.id, "Case", "id")
        target = require_node_id(input.to, "Partner", "to")
        model = await cases.derive_case(
            session,
            principal=principal,
            case_id=key,
            expected_version=input.version,
            to_partner_id=target,
            reason=input.reason,
        )
        return DeriveCaseSuccess(case=await _present(info, session, principal, model))

    return await mutate(DeriveCasePayload, work)


async def accept_derivation(info: Info, input: AcceptDerivationInput) -> AcceptDerivationPayload:
    async def work(session: AsyncSession) -> AcceptDerivationSuccess:
        principal = _writer(info)
        model = await cases.accept_derivation(
            session,
            principal=principal,
            case_id=require_node_id(input.id, "Case", "id"),
            expected_version=input.version,
            note=input.note,
        )
        return AcceptDerivationSuccess(case=await _present(info, session, principal, model))

    return await mutate(AcceptDerivationPayload, work)


async def reject_derivation(info: Info, input: RejectDerivationInput) -> RejectDerivationPayload:
    async def work(session: AsyncSession) -> RejectDerivationSuccess:
        principal = _writer(info)
        model = await cases.reject_derivation(
            session,
            principal=principal,
            case_id=require_node_id(input.id, "Case", "id"),
            expected_version=input.version,
            reason=input.reason,
        )
        return RejectDerivationSuccess(case=await _present(info, session, principal, model))

    return await mutate(RejectDerivationPayload, work)


async def update_status_mapping(
    info: Info, input: UpdateStatusMappingInput
) -> UpdateStatusMappingPayload:
    async def work(session: AsyncSession) -> UpdateStatusMappingSuccess:
        principal = principal_of(info)
        scopes.ensure_can_administer(principal)
        partner = require_node_id(input.partner_id, "Partner", "partnerId")
        if input.version < 0:
            raise ValidationFailed.on("version", "must not be negative")
        table = await homologation.update_mapping(
            session,
            principal=principal,
            partner_id=partner,
            lines=[
                MappingLine(line.partner_code, line.canonical_status, line.direction)
                for line in input.lines
            ],
            expected_version=input.version,
            active_from=input.active_from,
        )
        return UpdateStatusMappingSuccess(mapping=StatusMappingTable.from_domain(table))

    return await mutate(UpdateStatusMappingPayload, work)
