from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.customers import service as customers
from domain.customers.views import CustomerView
from domain.shared.national_ids import NationalIdType as NationalIdTypeEnum
from resolvers.context import principal_of
from resolvers.ids import decode_node_id
from schema.common import Connection
from schema.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from schema.partners import Partner

if TYPE_CHECKING:
    from schema.crm import TimelineConnection, TimelineKind
    from schema.loyalty import LoyaltyAccount

strawberry.enum(
    NationalIdTypeEnum,
    name="NationalIdType",
    description="Kinds of national identity or tax numbers, prefixed by country.",
)
NationalIdType: TypeAlias = NationalIdTypeEnum


@strawberry.type(description="A national identity or tax number.")
class NationalId:
    type: NationalIdType
    number: str = strawberry.field(
        description="Printed form, or masked (the last three characters) when the person's "
        "personal data is masked for you."
    )
    country: str


@strawberry.type
class Address:
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str


@strawberry.type
class Consents:
    marketing: bool
    data_sharing: bool = strawberry.field(
        description="May partners of the network share this customer's data?"
    )
    updated_at: datetime | None


@strawberry.federation.type(
    keys=["id"],
    description="A person, one record across the network. Their personal data (national ID, "
    "names, e-mail, phone, address) is in clear for their home partner, partners involved "
    "with them (a case, a credit), any partner when they consented to data sharing, "
    "`pii:read`, and the person themselves; masked for everyone else, on every path.",
)
class Customer(relay.Node):
    id: relay.NodeID[str]
    national_id: NationalId
    given_names: str = strawberry.field(description="Masked: the first name's initial, `M•••`.")
    family_names: str = strawberry.field(description="Masked: the first name's initial.")
    email: str | None
    phone: str | None = strawberry.field(description="E.164, e.g. +56912345678.")
    address: Address | None
    consents: Consents
    pii_masked: bool = strawberry.field(description="True when personal data is masked for you.")
    version: int
    created_at: datetime
    updated_at: datetime
    home_partner_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def home_partner(self, info: Info) -> Partner:
        model = await info.context.loaders.partner.load(self.home_partner_id)
        return Partner.from_model(model)

    @strawberry.field(
        description="The customer's loyalty accounts you may see (their programs' staff, "
        "the customer themselves)."
    )
    async def loyalty_accounts(
        self, info: Info
    ) -> list[Annotated[LoyaltyAccount, strawberry.lazy("schema.loyalty")]]:
        from schema.loyalty import customer_loyalty_accounts

        return await customer_loyalty_accounts(info, uuid.UUID(str(self.id)))

    @strawberry.field(
        description="CRM notes, tasks, appointments, conversations, case, application and "
        "credit events, payments: newest first, what you may see of each."
    )
    async def timeline(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        kinds: list[Annotated[TimelineKind, strawberry.lazy("schema.crm")]] | None = None,
    ) -> Annotated[TimelineConnection, strawberry.lazy("schema.crm")]:
        from resolvers.crm import timeline_of

        return await timeline_of(info, "CUSTOMER", uuid.UUID(str(self.id)), first, after, kinds)

    @classmethod
    def from_view(cls, view: CustomerView) -> Customer:
        id_type = NationalIdTypeEnum(view.national_id_type)
        address = view.address
        return cls(
            id=str(view.id),
            national_id=NationalId(type=id_type, number=view.national_id, country=id_type.country),
            given_names=view.given_names,
            family_names=view.family_names,
            email=view.email,
            phone=view.phone,
            address=Address(
                line1=address.line1,
                line2=address.line2,
                city=address.city,
                region=address.region,
                postal_code=address.postal_code,
                country=address.country,
            )
            if address
            else None,
            consents=Consents(
                marketing=view.consent_marketing,
                data_sharing=view.consent_data_sharing,
                updated_at=view.consent_updated_at,
            ),
            pii_masked=view.pii_masked,
            version=view.version,
            created_at=view.created_at,
            updated_at=view.updated_at,
            home_partner_id=view.home_partner_id,
        )

    @classmethod
    async def load(cls, info: Info, key: uuid.UUID) -> Customer | None:
        """A customer another object names (a case's, a credit's), as the caller sees it."""
        view = await info.context.loaders.customers(principal_of(info)).load(key)
        return cls.from_view(view) if view else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Customer | None]:
        principal = principal_of(info)
        customers.ensure_can_read(principal)
        keys = [decode_node_id(n, "Customer") for n in node_ids]
        found = await info.context.loaders.customers(principal).load_many([k for k in keys if k])
        by_id = {c.id: c for c in found if c is not None}
        return [cls.from_view(by_id[k]) if k in by_id else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> Customer | None:
        key = decode_node_id(representation.get("id"), "Customer")
        if key is None:
            return None
        principal = principal_of(info)
        customers.ensure_can_read(principal)
        return await cls.load(info, key)


CustomerConnection = Connection[Customer]


@strawberry.input
class NationalIdInput:
    type: NationalIdType
    number: str


@strawberry.input
class AddressInput:
    line1: str
    city: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    line2: str | None = None
    region: str | None = None
    postal_code: str | None = None


@strawberry.input
class CreateCustomerInput:
    national_id: NationalIdInput
    given_names: str
    family_names: str
    email: str | None = None
    phone: str | None = None
    address: AddressInput | None = None
    consent_marketing: bool = False
    consent_data_sharing: bool = False
    home_partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to your own partner; only admins may choose another."
    )


@strawberry.input(description="Fields left out stay as they are; `null` clears an optional one.")
class UpdateCustomerInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; a stale one conflicts.")
    national_id: NationalIdInput | None = strawberry.UNSET
    given_names: str | None = strawberry.UNSET
    family_names: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    address: AddressInput | None = strawberry.UNSET
    consent_marketing: bool | None = strawberry.UNSET
    consent_data_sharing: bool | None = strawberry.UNSET
    home_partner_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class CreateCustomerSuccess:
    customer: Customer


@strawberry.type
class UpdateCustomerSuccess:
    customer: Customer


CreateCustomerPayload = Annotated[
    CreateCustomerSuccess | ValidationError | ForbiddenError,
    strawberry.union("CreateCustomerPayload"),
]

UpdateCustomerPayload = Annotated[
    UpdateCustomerSuccess | ValidationError | ForbiddenError | NotFoundError | ConflictError,
    strawberry.union("UpdateCustomerPayload"),
]
