"""Resolvers of case synchronization: partner connectors, inbound status reports, sync
state and the review queue of refused reports."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.db import read_session
from domain.cases import connectors, reviews, sync
from domain.cases import service as cases
from domain.cases.errors import CaseNotFound
from domain.cases.models import InboundReportReview as ReviewModel
from domain.cases.reports import ReportResult
from domain.cases.states import CaseStatus
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.ids import parse_uuid
from domain.shared.netguard import AddressPolicy
from domain.shared.pagination import clamp_page_size
from domain.shared.principal import Principal
from resolvers.cases import present_in
from resolvers.context import principal_of
from resolvers.errors import mutate, to_error_type
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import to_connection
from schema.case_sync import (
    CaseSyncStatus,
    CloseInboundReviewInput,
    CloseInboundReviewPayload,
    CloseInboundReviewSuccess,
    ConnectorAuthType,
    InboundReportReview,
    InboundReportReviewConnection,
    InboundReviewReason,
    InboundReviewStatus,
    PartnerConnector,
    PartnerReportOutcome,
    PartnerSyncState,
    ReportPartnerCaseStatusInput,
    ReportPartnerCaseStatusPayload,
    ReportPartnerCaseStatusSuccess,
    UpsertPartnerConnectorInput,
    UpsertPartnerConnectorPayload,
    UpsertPartnerConnectorSuccess,
    case_global_id,
    partner_global_id,
)


# --- connectors -------------------------------------------------------------------------
def _connector(view: connectors.ConnectorView) -> PartnerConnector:
    return PartnerConnector(
        id=strawberry.ID(str(view.id)),
        partner_id=partner_global_id(view.partner_id),
        endpoint_url=view.endpoint_url,
        auth_type=ConnectorAuthType(view.auth_type.value),
        has_credentials=view.has_credentials,
        credentials_fingerprint=view.credentials_fingerprint,
        signing_secret_fingerprint=view.signing_secret_fingerprint,
        enabled=view.enabled,
        timeout_seconds=view.timeout_seconds,
        created_at=view.created_at,
        updated_at=view.updated_at,
        updated_by=view.updated_by,
        version=view.version,
        partner_key=view.partner_id,
    )


async def partner_connector(info: Info, partner_id: strawberry.ID) -> PartnerConnector | None:
    principal = principal_of(info)
    key = decode_node_id(partner_id, "Partner")
    if key is None:
        return None
    async with read_session() as session:
        try:
            view = await connectors.get_connector(session, principal=principal, partner_id=key)
        except NotFound:
            return None
    return _connector(view) if view is not None else None


def _allow_insecure_http(info: Info) -> bool:
    settings = info.context.settings
    return settings is not None and not settings.is_production


def _address_policy(info: Info) -> AddressPolicy:
    """Public internet addresses, and the networks TRAMA_CONNECTOR_ALLOWED_NETWORKS allows."""
    settings = info.context.settings
    return AddressPolicy.allowing(settings.connector_allowed_networks if settings else ())


async def upsert_partner_connector(
    info: Info, input: UpsertPartnerConnectorInput
) -> UpsertPartnerConnectorPayload:
    principal = principal_of(info)
    insecure = _allow_insecure_http(info)
    address_policy = _address_policy(info)

    async def work(session: Any) -> UpsertPartnerConnectorSuccess:
        partner_id = require_node_id(input.partner_id, "Partner", "partnerId")
        view = await connectors.upsert_connector(
            session,
            principal=principal,
            partner_id=partner_id,
            changes=connectors.ConnectorChanges(
                endpoint_url=input.endpoint_url,
                auth_type=input.auth_type.value if input.auth_type is not None else None,
                auth_credentials=input.auth_credentials,
                signing_secret=input.signing_secret,
                enabled=input.enabled,
                timeout_seconds=input.timeout_seconds,
            ),
            expected_version=input.expected_version,
            allow_insecure_http=insecure,
            address_policy=address_policy,
        )
        return UpsertPartnerConnectorSuccess(connector=_connector(view))

    return await mutate(UpsertPartnerConnectorPayload, work)


# --- inbound reports --------------------------------------------------------------------
async def _report_success(
    info: Info, session: Any, principal: Principal, result: ReportResult
) -> ReportPartnerCaseStatusSuccess:
    case = result.case
    return ReportPartnerCaseStatusSuccess(
        outcome=PartnerReportOutcome(result.outcome.value),
        case_id=case_global_id(case.id),
        case_reference=case.reference,
        case_status=CaseStatus(case.status),
        case_version=case.version,
        canonical_status=result.canonical_status,
        case=await present_in(info, session, principal, case),
    )


async def report_partner_case_status(
    info: Info, input: ReportPartnerCaseStatusInput
) -> ReportPartnerCaseStatusPayload:
    """A partner system reports its platform's status. A refused report is answered with
    an error, yet its review record is committed (the domain returns the refusal instead
    of raising it, so the transaction of ``mutate`` commits)."""
    principal = principal_of(info)

    async def work(session: Any) -> Any:
        result = await cases.report_partner_status(
            session,
            principal=principal,
            partner_status=input.partner_status,
            external_version=int(input.external_version),
            occurred_at=input.occurred_at,
            case_reference=input.case_ref,
            external_ref=input.external_ref,
        )
        if result.refused:
            assert result.error is not None
            return to_error_type(result.error)
        return await _report_success(info, session, principal, result)

    return await mutate(ReportPartnerCaseStatusPayload, work)


# --- sync state -------------------------------------------------------------------------
async def case_sync_status(info: Info, case_id: strawberry.ID) -> CaseSyncStatus | None:
    principal = principal_of(info)
    key = decode_node_id(case_id, "Case")
    if key is None:
        return None
    async with read_session() as session:
        try:
            state = await sync.sync_status(session, principal=principal, case_id=key)
        except CaseNotFound:
            return None
    return CaseSyncStatus(
        case_id=case_global_id(state.case_id),
        reference=state.reference,
        version=state.version,
        partners=[
            PartnerSyncState(
                partner_id=partner_global_id(p.partner_id),
                connector_enabled=p.connector_enabled,
                last_synced_version=p.last_synced_version,
                last_synced_at=p.last_synced_at,
                last_sync_attempt_at=p.last_sync_attempt_at,
                last_sync_error=p.last_sync_error,
                in_sync=p.in_sync,
                partner_key=p.partner_id,
            )
            for p in state.partners
        ],
    )


# --- review queue -----------------------------------------------------------------------
def _review(model: ReviewModel) -> InboundReportReview:
    return InboundReportReview(
        id=strawberry.ID(str(model.id)),
        partner_id=partner_global_id(model.partner_id),
        case_id=case_global_id(model.case_id) if model.case_id else None,
        case_reference=model.case_reference,
        external_ref=model.external_ref,
        partner_status=model.partner_status,
        canonical_status=CaseStatus(model.canonical_status) if model.canonical_status else None,
        case_status=CaseStatus(model.case_status) if model.case_status else None,
        external_version=model.external_version,  # type: ignore[arg-type]
        occurred_at=model.occurred_at,
        reason=InboundReviewReason(model.reason),
        message=model.message,
        reported_by=model.reported_by,
        received_at=model.received_at,
        status=InboundReviewStatus(model.status),
        reviewed_by=model.reviewed_by,
        reviewed_at=model.reviewed_at,
        review_note=model.review_note,
        partner_key=model.partner_id,
    )


async def inbound_reviews(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    status: InboundReviewStatus | None = InboundReviewStatus.PENDING,
    partner_id: strawberry.ID | None = None,
) -> InboundReportReviewConnection:
    principal = principal_of(info)
    settings = info.context.settings
    size = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    partner = require_node_id(partner_id, "Partner", "partnerId") if partner_id else None
    async with read_session() as session:
        page = await reviews.list_reviews(
            session,
            principal=principal,
            limit=size,
            after=after,
            status=status.value if status is not None else None,
            partner_id=partner,
        )
    return to_connection(page, _review)


async def close_inbound_review(
    info: Info, input: CloseInboundReviewInput
) -> CloseInboundReviewPayload:
    principal = principal_of(info)

    async def work(session: Any) -> CloseInboundReviewSuccess:
        review_id = parse_uuid(str(input.id))
        if review_id is None:
            raise ValidationFailed.on("id", "is not the id of a review")
        model = await reviews.close_review(
            session,
            principal=principal,
            review_id=review_id,
            status=input.status.value,
            note=input.note,
        )
        return CloseInboundReviewSuccess(review=_review(model))

    return await mutate(CloseInboundReviewPayload, work)
