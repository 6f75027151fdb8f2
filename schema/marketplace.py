"""The vehicle marketplace in the API: vehicles (a federation entity) with their photos and
dealer, the catalogue's connection with its facets, feeds and reservations.

Prices are `Money`. `trim` is the model's version ("XEI 2.0 CVT"); `version` is the row's
concurrency counter. `monthlyInstallment` is filled only when the catalogue was asked
with `affordableFor`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.marketplace import scopes
from domain.marketplace.models import Fuel as FuelEnum
from domain.marketplace.models import Transmission as TransmissionEnum
from domain.marketplace.models import Vehicle as VehicleModel
from domain.marketplace.models import VehiclePhoto as PhotoModel
from domain.marketplace.search import VehicleOrder as VehicleOrderEnum
from domain.marketplace.states import VehicleStatus as VehicleStatusEnum
from domain.shared.money import Money as DomainMoney
from resolvers.ids import decode_node_id, encode_node_id
from schema.errors import (
    ConflictError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from schema.money import Money

strawberry.enum(
    VehicleStatusEnum,
    name="VehicleStatus",
    description="AVAILABLE; RESERVED (held for a credit application); SOLD; WITHDRAWN (no "
    "longer in its dealer's feed). The public sees AVAILABLE and RESERVED vehicles.",
)
strawberry.enum(FuelEnum, name="VehicleFuel")
strawberry.enum(TransmissionEnum, name="VehicleTransmission")
strawberry.enum(
    VehicleOrderEnum,
    name="VehicleOrder",
    description="Catalogue orders; ties are broken by the vehicle's id.",
)
VehicleStatus: TypeAlias = VehicleStatusEnum
VehicleFuel: TypeAlias = FuelEnum
VehicleTransmission: TypeAlias = TransmissionEnum
VehicleOrder: TypeAlias = VehicleOrderEnum


def photo_url(info: Info, photo_id: uuid.UUID) -> str:
    from app.hosts import public_base

    return public_base(info.context.settings, info.context.request) + f"/vehicle-photos/{photo_id}"


@strawberry.type(description="A photo of a vehicle, served publicly while it is listed.")
class VehiclePhoto:
    id: strawberry.ID
    position: int
    content_type: str
    size_bytes: int
    sha256: str
    url: str = strawberry.field(description="Where the picture is served (no token needed).")

    @classmethod
    def from_model(cls, info: Info, photo: PhotoModel) -> VehiclePhoto:
        return cls(
            id=strawberry.ID(str(photo.id)),
            position=photo.position,
            content_type=photo.content_type,
            size_bytes=photo.size_bytes,
            sha256=photo.sha256,
            url=photo_url(info, photo.id),
        )


@strawberry.type(description="Who sells a vehicle (public facts of the partner).")
class VehicleDealer:
    id: strawberry.ID = strawberry.field(description="The partner's global id.")
    code: str
    name: str
    country: str


@strawberry.federation.type(keys=["id"], description="A vehicle a dealer offers.")
class Vehicle(relay.Node):
    id: relay.NodeID[str]
    stock_id: str = strawberry.field(description="The dealer's own stock id (unique per dealer).")
    make: str
    model: str
    trim: str | None = strawberry.field(description="The model's version, as the dealer names it.")
    year: int = strawberry.field(description="Model year.")
    kilometres: int
    fuel: VehicleFuel
    transmission: VehicleTransmission
    colour: str | None
    price: Money
    status: VehicleStatus
    reserved_until: datetime | None = strawberry.field(
        description="When a RESERVED vehicle's hold ends (it is available again after)."
    )
    listed_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Rises with every change.")
    monthly_installment: Money | None = strawberry.field(
        default=None,
        description="With `affordableFor`: the level monthly installment of the price less the "
        "down payment at the customer's grade's rate and term (credits schedule engine, French "
        "scheme); null otherwise.",
    )
    financed_amount: Money | None = strawberry.field(
        default=None, description="With `affordableFor`: the price less the down payment."
    )
    dealer_key: strawberry.Private[uuid.UUID]
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The dealer that sells it.")
    async def dealer(self, info: Info) -> VehicleDealer:
        partner = await info.context.loaders.partner.load(self.dealer_key)
        return VehicleDealer(
            id=strawberry.ID(encode_node_id("Partner", partner.id)),
            code=partner.code,
            name=partner.name,
            country=partner.country,
        )

    @strawberry.field(description="Its photos, in order.")
    async def photos(self, info: Info) -> list[VehiclePhoto]:
        rows = await info.context.loaders.marketplace.photos.load(self.key)
        return [VehiclePhoto.from_model(info, p) for p in rows]

    @classmethod
    def from_model(
        cls,
        vehicle: VehicleModel,
        *,
        monthly: Any = None,
        financed: int | None = None,
    ) -> Vehicle:
        return cls(
            id=str(vehicle.id),
            stock_id=vehicle.stock_id,
            make=vehicle.make,
            model=vehicle.model,
            trim=vehicle.trim,
            year=vehicle.year,
            kilometres=vehicle.kilometres,
            fuel=FuelEnum(vehicle.fuel),
            transmission=TransmissionEnum(vehicle.transmission),
            colour=vehicle.colour,
            price=money_of(vehicle.price, vehicle.currency),
            status=VehicleStatusEnum(vehicle.status),
            reserved_until=vehicle.reserved_until,
            listed_at=vehicle.listed_at,
            updated_at=vehicle.updated_at,
            version=vehicle.version,
            monthly_installment=(
                money_of(monthly.amount, monthly.currency) if monthly is not None else None
            ),
            financed_amount=(
                money_of(financed, vehicle.currency) if financed is not None else None
            ),
            dealer_key=vehicle.dealer_id,
            key=vehicle.id,
        )

    @classmethod
    async def _visible(cls, info: Info, keys: list[uuid.UUID | None]) -> dict[uuid.UUID, Any]:
        principal = info.context.principal
        found = await info.context.loaders.marketplace.vehicle.load_many([k for k in keys if k])
        return {v.id: v for v in found if v is not None and scopes.may_see(principal, v)}

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Vehicle | None]:
        keys = [decode_node_id(n, "Vehicle") for n in node_ids]
        found = await cls._visible(info, keys)
        return [cls.from_model(found[k]) if k in found else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> Vehicle | None:
        key = decode_node_id(representation.get("id"), "Vehicle")
        found = await cls._visible(info, [key])
        return cls.from_model(found[key]) if key in found else None


def money_of(amount: int, currency: str) -> Money:
    return Money.from_domain(DomainMoney(amount, currency))


# --- the catalogue ----------------------------------------------------------------------
@strawberry.type(description="A value and how many vehicles of the list have it.")
class VehicleFacetCount:
    value: str
    count: int


@strawberry.type(description="A range of model years (inclusive; null: open).")
class VehicleYearRange:
    start: int | None
    end: int | None
    count: int


@strawberry.type(
    description="A range of prices in one currency: from `minimum` (inclusive) "
    "up to `maximum` (exclusive); null: open."
)
class VehiclePriceRange:
    minimum: Money | None
    maximum: Money | None
    count: int


@strawberry.type(description="Counts over the whole filtered list (not one page).")
class VehicleFacets:
    makes: list[VehicleFacetCount] = strawberry.field(description="Most common first (50).")
    fuels: list[VehicleFacetCount]
    years: list[VehicleYearRange] = strawberry.field(description="Newest first.")
    prices: list[VehiclePriceRange] = strawberry.field(description="Per currency, cheapest first.")


@strawberry.type(description="The pre-qualified terms an `affordableFor` list was made with.")
class AffordabilityTerms:
    grade: str
    annual_rate: Decimal
    term_months: int
    max_principal: Money
    down_payment: Money
    max_price: Money = strawberry.field(description="maxPrincipal + downPayment.")
    valid_until: datetime


@strawberry.type(description="A page of the catalogue, with keyset cursors.")
class VehicleConnection:
    edges: list[VehicleEdge]
    page_info: relay.PageInfo
    total_count: int | None = strawberry.field(
        description="How many vehicles match, counted only when you ask for it."
    )
    facets: VehicleFacets | None = strawberry.field(
        description="Computed only when you ask for it."
    )
    affordability: AffordabilityTerms | None = strawberry.field(
        description="With `affordableFor`: the terms used."
    )


@strawberry.type(description="A vehicle of the list and the cursor that points at it.")
class VehicleEdge:
    cursor: str
    node: Vehicle


@strawberry.input(description="Narrow the catalogue; every condition must hold.")
class VehicleFilter:
    makes: list[str] | None = strawberry.field(default=None, description="Any of (no case).")
    model: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    price_min: Decimal | None = strawberry.field(
        default=None, description="Major units of `currency` (needed with a price bound)."
    )
    price_max: Decimal | None = None
    currency: str | None = None
    kilometres_max: int | None = None
    fuels: list[VehicleFuel] | None = None
    transmissions: list[VehicleTransmission] | None = None
    dealer_id: strawberry.ID | None = strawberry.field(
        default=None, description="One dealer's vehicles (the partner's id)."
    )
    statuses: list[VehicleStatus] | None = strawberry.field(
        default=None,
        description="Within what you may see: a dealer's staff asking for their own SOLD or "
        "WITHDRAWN ones.",
    )


# --- mutations ----------------------------------------------------------------------------
@strawberry.type(description="A bad row of a feed: its line (1 is the header) and field.")
class VehicleFeedProblem:
    line: int
    field: str
    message: str


@strawberry.type(description="What a feed file did.")
class VehicleFeedImport:
    id: strawberry.ID
    dealer_id: strawberry.ID
    file_name: str
    sha256: str
    kind: str = strawberry.field(description="CSV or XLSX.")
    full: bool
    partial: bool
    rows: int = strawberry.field(description="Rows read (blank lines aside).")
    created: int
    updated: int
    unchanged: int
    withdrawn: int = strawberry.field(description="AVAILABLE vehicles missing from a full feed.")
    held: int = strawberry.field(description="RESERVED or SOLD vehicles the feed left as they are.")
    rejected: int = strawberry.field(description="Bad rows (partial imports only).")
    problems: list[VehicleFeedProblem]
    imported_at: datetime


@strawberry.type
class ImportVehicleFeedSuccess:
    feed: VehicleFeedImport


ImportVehicleFeedPayload = Annotated[
    ImportVehicleFeedSuccess | ValidationError | ForbiddenError | NotFoundError,
    strawberry.union("ImportVehicleFeedPayload"),
]


@strawberry.input(description="How a dealer's feed is read.")
class VehicleFeedProfileInput:
    dealer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Your own partner by default."
    )
    mapping: list[VehicleFeedColumnInput] = strawberry.field(
        default_factory=list,
        description="Field → header in the file, for the fields whose header is not one of "
        "the defaults (stock_id, make, model, trim, year, kilometres, fuel, transmission, "
        "colour, price, currency; Spanish names too).",
    )
    decimal_separator: str = ","
    thousands_separator: str = "."


@strawberry.input
class VehicleFeedColumnInput:
    field: str
    header: str


@strawberry.type
class VehicleFeedProfile:
    dealer_id: strawberry.ID
    mapping: list[VehicleFeedColumn]
    decimal_separator: str
    thousands_separator: str
    version: int


@strawberry.type
class VehicleFeedColumn:
    field: str
    header: str


@strawberry.type
class SaveVehicleFeedProfileSuccess:
    profile: VehicleFeedProfile


SaveVehicleFeedProfilePayload = Annotated[
    SaveVehicleFeedProfileSuccess | ValidationError | ForbiddenError | NotFoundError,
    strawberry.union("SaveVehicleFeedProfilePayload"),
]


@strawberry.type
class ReserveVehicleSuccess:
    vehicle: Vehicle
    reservation_id: strawberry.ID
    held_until: datetime
    created: bool = strawberry.field(description="False when the application already held it.")


ReserveVehiclePayload = Annotated[
    ReserveVehicleSuccess
    | ConflictError
    | NotFoundError
    | ValidationError
    | ForbiddenError
    | InvalidTransitionError,
    strawberry.union("ReserveVehiclePayload"),
]


@strawberry.type
class ReleaseVehicleSuccess:
    vehicle: Vehicle


ReleaseVehiclePayload = Annotated[
    ReleaseVehicleSuccess | NotFoundError | ValidationError | ForbiddenError,
    strawberry.union("ReleaseVehiclePayload"),
]


@strawberry.type
class AddVehiclePhotoSuccess:
    vehicle: Vehicle
    photo: VehiclePhoto
    created: bool = strawberry.field(description="False when the same picture was there.")


AddVehiclePhotoPayload = Annotated[
    AddVehiclePhotoSuccess | ValidationError | ForbiddenError | NotFoundError,
    strawberry.union("AddVehiclePhotoPayload"),
]
