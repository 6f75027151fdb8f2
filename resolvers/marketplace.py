"""Marketplace: one function per root field.

``vehicles`` and ``vehicle`` are public (anonymous visitors included) and rate-limited per
caller (``throttle``: per client address when anonymous). ``affordableFor`` needs a
signed-in customer (themself) or lender staff; installments are computed for the page's
rows only. Mutations run in one transaction through ``mutate``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.types import Info

from app.db import read_session
from app.file_checks import ChecksBusy
from domain.marketplace import affordability, feeds, scopes, search, service
from domain.marketplace.models import VehicleFeedImport as FeedModel
from domain.shared.errors import DomainError, Problems, ValidationFailed
from domain.shared.money import Money as DomainMoney
from domain.shared.money import MoneyError
from domain.shared.pagination import clamp_page_size
from domain.shared.principal import Principal
from resolvers.context import principal_of
from resolvers.errors import mutate, to_error_type
from resolvers.ids import decode_node_id, encode_node_id, require_node_id
from resolvers.pagination import selects
from resolvers.ratelimit import throttle
from schema.marketplace import (
    AddVehiclePhotoPayload,
    AddVehiclePhotoSuccess,
    AffordabilityTerms,
    ImportVehicleFeedPayload,
    ImportVehicleFeedSuccess,
    ReleaseVehiclePayload,
    ReleaseVehicleSuccess,
    ReserveVehiclePayload,
    ReserveVehicleSuccess,
    SaveVehicleFeedProfilePayload,
    SaveVehicleFeedProfileSuccess,
    Vehicle,
    VehicleConnection,
    VehicleEdge,
    VehicleFacetCount,
    VehicleFacets,
    VehicleFeedColumn,
    VehicleFeedImport,
    VehicleFeedProblem,
    VehicleFeedProfile,
    VehicleFeedProfileInput,
    VehicleFilter,
    VehicleOrder,
    VehiclePhoto,
    VehiclePriceRange,
    VehicleYearRange,
    money_of,
)

log = logging.getLogger("trama.marketplace")

#: The catalogue's budget per caller (TRAMA_PUBLIC_RATE_LIMIT when anonymous, by client
#: address; TRAMA_AUTHENTICATED_RATE_LIMIT when signed in, by subject).
CATALOGUE = "catalogue"


def _money(value: Decimal | None, currency: str | None, field: str, problems: Problems) -> Any:
    if value is None:
        return None
    if not currency:
        problems.add("filter.currency", "needed with a price bound")
        return None
    try:
        return DomainMoney.parse(value, currency.strip().upper())
    except MoneyError as exc:
        problems.add(field, str(exc))
        return None


def _filter(value: VehicleFilter | None) -> search.VehicleFilter:
    if value is None:
        return search.VehicleFilter()
    problems = Problems()
    price_min = _money(value.price_min, value.currency, "filter.priceMin", problems)
    price_max = _money(value.price_max, value.currency, "filter.priceMax", problems)
    dealer = None
    if value.dealer_id is not None:
        dealer = decode_node_id(value.dealer_id, "Partner")
        if dealer is None:
            problems.add("filter.dealerId", "is not the id of a Partner")
    problems.raise_if_any()
    return search.VehicleFilter(
        makes=tuple(value.makes or ()),
        model=value.model,
        year_min=value.year_min,
        year_max=value.year_max,
        price_min=price_min,
        price_max=price_max,
        kilometres_max=value.kilometres_max,
        fuels=tuple(f.value for f in value.fuels or ()),
        transmissions=tuple(t.value for t in value.transmissions or ()),
        dealer_id=dealer,
        statuses=tuple(s.value for s in value.statuses or ()),
    )


def _terms_type(terms: affordability.PrequalificationTerms) -> AffordabilityTerms:
    return AffordabilityTerms(
        grade=terms.grade,
        annual_rate=terms.annual_rate,
        term_months=terms.term_months,
        max_principal=money_of(terms.max_principal, terms.currency),
        down_payment=money_of(terms.down_payment, terms.currency),
        max_price=money_of(terms.max_principal + terms.down_payment, terms.currency),
        valid_until=terms.valid_until,
    )


def _facets(f: search.Facets) -> VehicleFacets:
    return VehicleFacets(
        makes=[VehicleFacetCount(value=c.value, count=c.count) for c in f.makes],
        fuels=[VehicleFacetCount(value=c.value, count=c.count) for c in f.fuels],
        years=[VehicleYearRange(start=y.start, end=y.end, count=y.count) for y in f.years],
        prices=[
            VehiclePriceRange(
                minimum=money_of(p.minimum, p.currency) if p.minimum is not None else None,
                maximum=money_of(p.maximum, p.currency) if p.maximum is not None else None,
                count=p.count,
            )
            for p in f.prices
        ],
    )


#: Tests replace it with a lookup of their own (origination's is the default).
terms_lookup: affordability.TermsLookup = affordability.current_terms


async def vehicles(
    info: Info,
    filter: VehicleFilter | None = None,
    order_by: VehicleOrder = VehicleOrder.NEWEST,
    first: int | None = None,
    after: str | None = None,
    affordable_for: strawberry.ID | None = None,
) -> VehicleConnection:
    await throttle(info, CATALOGUE, cost=1)
    settings = info.context.settings
    limit = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    flt = _filter(filter)
    principal: Principal | None = info.context.principal
    customer = None
    if affordable_for is not None:
        principal = principal_of(info)  # anonymous callers: UNAUTHENTICATED
        customer = require_node_id(affordable_for, "Customer", "affordableFor")
    async with read_session() as session:
        terms = None
        if customer is not None:
            terms = await affordability.terms_for(
                session, principal=principal, customer_id=customer, lookup=terms_lookup
            )
        page = await search.search(
            session,
            principal=principal,
            flt=flt,
            order=search.VehicleOrder(order_by.value),
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
            terms=terms,
        )
        facets = None
        if selects(info, "facets"):
            facets = await search.facets(session, principal=principal, flt=flt, terms=terms)
    calculator = affordability.InstallmentCalculator(terms) if terms is not None else None
    edges = []
    for vehicle, cursor in zip(page.items, page.cursors, strict=True):
        if calculator is not None:
            node = Vehicle.from_model(
                vehicle,
                monthly=calculator.monthly(vehicle.price),
                financed=calculator.financed(vehicle.price),
            )
        else:
            node = Vehicle.from_model(vehicle)
        edges.append(VehicleEdge(cursor=cursor, node=node))
    from strawberry import relay

    return VehicleConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        total_count=page.total,
        facets=_facets(facets) if facets is not None else None,
        affordability=_terms_type(terms) if terms is not None else None,
    )


async def vehicle(info: Info, id: strawberry.ID) -> Vehicle | None:
    await throttle(info, CATALOGUE, cost=1)
    return (await Vehicle.resolve_nodes(info=info, node_ids=[str(id)]))[0]


# --- feeds --------------------------------------------------------------------------------
def _feed_type(feed: FeedModel, problems: list[Any]) -> VehicleFeedImport:
    return VehicleFeedImport(
        id=strawberry.ID(str(feed.id)),
        dealer_id=strawberry.ID(encode_node_id("Partner", feed.dealer_id)),
        file_name=feed.file_name,
        sha256=feed.sha256,
        kind=feed.kind,
        full=feed.full,
        partial=feed.partial,
        rows=feed.rows,
        created=feed.created,
        updated=feed.updated,
        unchanged=feed.unchanged,
        withdrawn=feed.withdrawn,
        held=feed.held,
        rejected=feed.rejected,
        problems=[
            VehicleFeedProblem(line=p.line, field=p.field, message=p.message) for p in problems
        ],
        imported_at=feed.imported_at,
    )


def _dealer_of(principal: Principal, dealer_id: strawberry.ID | None) -> uuid.UUID:
    if dealer_id is not None:
        return require_node_id(dealer_id, "Partner", "dealerId")
    own = scopes.own_partner(principal)
    if own is None:
        raise ValidationFailed.on("dealerId", "name the dealer (you act for no partner)")
    return own


async def _read_upload(file: Any, max_bytes: int) -> tuple[bytes, str]:
    if not (hasattr(file, "read") and hasattr(file, "filename")):
        raise ValidationFailed.on(
            "file", "send the file as a multipart request (GraphQL multipart request spec)"
        )
    content = await file.read(max_bytes + 1)
    return content, file.filename or "feed"


def _early(exc: DomainError) -> Any:
    error = to_error_type(exc)
    if error is None:
        raise exc
    return error


async def import_vehicle_feed(
    info: Info,
    file: Upload,
    dealer_id: strawberry.ID | None = None,
    full: bool = False,
    partial: bool = False,
) -> ImportVehicleFeedPayload:
    """A dealer's inventory feed (CSV or XLSX) as a GraphQL multipart upload."""
    principal = principal_of(info)
    try:
        dealer = _dealer_of(principal, dealer_id)
        scopes.ensure_can_manage_dealer(principal, dealer)  # before the bytes are read
        content, name = await _read_upload(file, feeds.MAX_FEED_BYTES)
    except DomainError as exc:
        return _early(exc)

    async def work(session: AsyncSession) -> ImportVehicleFeedSuccess:
        result = await feeds.import_feed(
            session,
            principal=principal,
            dealer_id=dealer,
            content=content,
            file_name=name,
            full=full,
            partial=partial,
        )
        return ImportVehicleFeedSuccess(feed=_feed_type(result.feed, result.problems))

    return await mutate(ImportVehicleFeedPayload, work)


async def save_vehicle_feed_profile(
    info: Info, input: VehicleFeedProfileInput
) -> SaveVehicleFeedProfilePayload:
    principal = principal_of(info)
    try:
        dealer = _dealer_of(principal, input.dealer_id)
    except DomainError as exc:
        return _early(exc)
    mapping: dict[str, str] = {}
    for column in input.mapping:
        mapping[column.field] = column.header
    fmt = feeds.FeedFormat(
        mapping=mapping,
        decimal_separator=input.decimal_separator,
        thousands_separator=input.thousands_separator,
    )

    async def work(session: AsyncSession) -> SaveVehicleFeedProfileSuccess:
        profile = await feeds.save_format(
            session, principal=principal, dealer_id=dealer, feed_format=fmt
        )
        return SaveVehicleFeedProfileSuccess(
            profile=VehicleFeedProfile(
                dealer_id=strawberry.ID(encode_node_id("Partner", profile.dealer_id)),
                mapping=[VehicleFeedColumn(field=k, header=v) for k, v in profile.mapping.items()],
                decimal_separator=profile.decimal_separator,
                thousands_separator=profile.thousands_separator,
                version=profile.version,
            )
        )

    return await mutate(SaveVehicleFeedProfilePayload, work)


# --- reservations -------------------------------------------------------------------------
async def reserve_vehicle(
    info: Info,
    vehicle_id: strawberry.ID,
    application_id: strawberry.ID,
    until: datetime,
    version: int | None = None,
) -> ReserveVehiclePayload:
    """Hold a vehicle for a credit application until ``until`` (lender staff, admins)."""
    principal = principal_of(info)
    try:
        scopes.ensure_can_reserve(principal)
        vehicle_key = require_node_id(vehicle_id, "Vehicle", "vehicleId")
        application = require_node_id(application_id, "CreditApplication", "applicationId")
        if until.tzinfo is None:
            raise ValidationFailed.on("until", "give the time with its zone")
    except DomainError as exc:
        return _early(exc)

    async def work(session: AsyncSession) -> ReserveVehicleSuccess:
        await service.read_vehicle(session, principal=principal, vehicle_id=vehicle_key)
        hold = await service.reserve_vehicle(
            session,
            vehicle_id=vehicle_key,
            application_id=application,
            hold_until=until,
            principal=principal,
            expected_version=version,
        )
        return ReserveVehicleSuccess(
            vehicle=Vehicle.from_model(hold.vehicle),
            reservation_id=strawberry.ID(str(hold.reservation.id)),
            held_until=hold.reservation.held_until,
            created=hold.created,
        )

    return await mutate(ReserveVehiclePayload, work)


async def release_vehicle(
    info: Info, vehicle_id: strawberry.ID, application_id: strawberry.ID
) -> ReleaseVehiclePayload:
    """End an application's hold (nothing changes when it holds none)."""
    principal = principal_of(info)
    try:
        scopes.ensure_can_reserve(principal)
        vehicle_key = require_node_id(vehicle_id, "Vehicle", "vehicleId")
        application = require_node_id(application_id, "CreditApplication", "applicationId")
    except DomainError as exc:
        return _early(exc)

    async def work(session: AsyncSession) -> ReleaseVehicleSuccess:
        await service.read_vehicle(session, principal=principal, vehicle_id=vehicle_key)
        vehicle = await service.release_reservation(
            session, vehicle_id=vehicle_key, application_id=application, principal=principal
        )
        return ReleaseVehicleSuccess(vehicle=Vehicle.from_model(vehicle))

    return await mutate(ReleaseVehiclePayload, work)


# --- photos -------------------------------------------------------------------------------
async def add_vehicle_photo(
    info: Info, vehicle_id: strawberry.ID, file: Upload
) -> AddVehiclePhotoPayload:
    """A photo (PNG or JPEG) of one of your dealer's vehicles, as a multipart upload."""
    principal = principal_of(info)
    services = info.context.attachments
    if services is None:
        raise RuntimeError("file storage is not configured in this process")
    try:
        scopes.ensure_can_write(principal)
        key = require_node_id(vehicle_id, "Vehicle", "vehicleId")
        content, name = await _read_upload(file, service.PHOTO_MAX_BYTES)
        try:
            inspected = await services.checks.inspect(
                content,
                file_name=name,
                declared_type=getattr(file, "content_type", None),
            )
        except ChecksBusy as exc:
            raise GraphQLError(
                f"too many files are being checked: send it again in {exc.retry_after} s",
                extensions={"code": "RATE_LIMITED", "retryAfter": exc.retry_after},
            ) from None
    except DomainError as exc:
        return _early(exc)

    async def work(session: AsyncSession) -> AddVehiclePhotoSuccess:
        result = await service.add_photo(
            session,
            principal=principal,
            store=services.store,
            vehicle_id=key,
            content=content,
            inspected=inspected,
        )
        return AddVehiclePhotoSuccess(
            vehicle=Vehicle.from_model(result.vehicle),
            photo=VehiclePhoto.from_model(info, result.photo),
            created=result.created,
        )

    return await mutate(AddVehiclePhotoPayload, work)
