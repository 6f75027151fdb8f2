from __future__ import annotations

import strawberry

from resolvers import marketplace as r
from schema.marketplace import (
    AddVehiclePhotoPayload,
    ImportVehicleFeedPayload,
    ReleaseVehiclePayload,
    ReserveVehiclePayload,
    SaveVehicleFeedProfilePayload,
    Vehicle,
    VehicleConnection,
)

#: Root fields anonymous visitors may select (rate-limited per client address).
PUBLIC_MARKETPLACE_FIELDS = frozenset({"vehicles", "vehicle"})


@strawberry.type
class MarketplaceQuery:
    vehicles: VehicleConnection = strawberry.field(
        resolver=r.vehicles,
        description="The vehicle catalogue, public: AVAILABLE and RESERVED vehicles (a "
        "dealer's staff also see their own SOLD and WITHDRAWN ones). Keyset pages in "
        "`orderBy` order; `totalCount` and `facets` when selected. `affordableFor` (a "
        "customer's id; the customer themself or lender staff) keeps the AVAILABLE vehicles "
        "whose price less the down payment fits the customer's pre-qualified principal, in "
        "its currency, each with its `monthlyInstallment`; NOT_PREQUALIFIED without terms in "
        "force. Rate-limited per caller (RATE_LIMITED with `retryAfter`).",
    )
    vehicle: Vehicle | None = strawberry.field(
        resolver=r.vehicle, description="A vehicle by id; null if you cannot see it."
    )


@strawberry.type
class MarketplaceMutation:
    import_vehicle_feed: ImportVehicleFeedPayload = strawberry.mutation(
        resolver=r.import_vehicle_feed,
        description="A dealer's inventory feed (CSV or XLSX, multipart upload; "
        "`vehicles:write`, your own partner's). Idempotent by stock id; `full` withdraws the "
        "AVAILABLE vehicles it does not list (RESERVED and SOLD ones stay); one bad row "
        "refuses the file (FEED_REFUSED, problems by line) unless `partial`.",
    )
    save_vehicle_feed_profile: SaveVehicleFeedProfilePayload = strawberry.mutation(
        resolver=r.save_vehicle_feed_profile,
        description="How your feed is read: column names and number separators.",
    )
    reserve_vehicle: ReserveVehiclePayload = strawberry.mutation(
        resolver=r.reserve_vehicle,
        description="Hold a vehicle for a credit application until `until` (at most 7 days; "
        "the same application again moves the end). Held for another: VEHICLE_RESERVED; "
        "sold or withdrawn: VEHICLE_NOT_AVAILABLE. Lender staff and administrators.",
    )
    release_vehicle: ReleaseVehiclePayload = strawberry.mutation(
        resolver=r.release_vehicle,
        description="End an application's hold: the vehicle is AVAILABLE again.",
    )
    add_vehicle_photo: AddVehiclePhotoPayload = strawberry.mutation(
        resolver=r.add_vehicle_photo,
        description="A PNG or JPEG photo of one of your dealer's vehicles (multipart upload, "
        "`vehicles:write`); the same picture again changes nothing.",
    )
