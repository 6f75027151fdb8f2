from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.db import read_session
from app.ratelimit import NATIONAL_ID_LOOKUPS
from domain.customers import service as customers
from domain.customers.rules import Address
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import clamp_page_size
from resolvers.context import principal_of
from resolvers.errors import mutate
from resolvers.ids import decode_node_id, require_node_id
from resolvers.pagination import selects, to_connection
from resolvers.ratelimit import throttle
from schema.customers import (
    AddressInput,
    CreateCustomerInput,
    CreateCustomerPayload,
    CreateCustomerSuccess,
    Customer,
    CustomerConnection,
    NationalIdType,
    UpdateCustomerInput,
    UpdateCustomerPayload,
    UpdateCustomerSuccess,
)


def _address(value: AddressInput | None) -> Address | None:
    if value is None:
        return None
    return Address(
        line1=value.line1,
        line2=value.line2,
        city=value.city,
        region=value.region,
        postal_code=value.postal_code,
        country=value.country,
    )


async def customer(info: Info, id: strawberry.ID) -> Customer | None:
    principal = principal_of(info)
    customers.ensure_can_read(principal)  # before the id, so the answer never depends on it
    key = decode_node_id(id, "Customer")
    if key is None:
        return None
    async with read_session() as session:
        try:
            view = await customers.read_customer(session, principal=principal, customer_id=key)
        except NotFound:
            return None
    info.context.loaders.prime_customers(principal, [view])
    return Customer.from_view(view)


async def customers_search(
    info: Info, search: str | None = None, first: int | None = None, after: str | None = None
) -> CustomerConnection:
    principal = principal_of(info)
    customers.ensure_can_read(principal)  # before any argument is judged
    settings = info.context.settings
    limit = clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )
    async with read_session() as session:
        page = await customers.search_customers(
            session,
            principal=principal,
            text=search,
            limit=limit,
            after=after,
            with_total=selects(info, "totalCount"),
        )
        await info.context.loaders.prefetch_partners(
            session, {c.home_partner_id for c in page.items}
        )
    return to_connection(page, Customer.from_view)


async def customer_by_national_id(
    info: Info,
    type: NationalIdType,
    number: str,
) -> Customer | None:
    principal = principal_of(info)
    await throttle(info, NATIONAL_ID_LOOKUPS, cost=1)
    async with read_session() as session:
        view = await customers.look_up_national_id(
            session, principal=principal, id_type=type.value, number=number
        )
    return Customer.from_view(view) if view else None


async def _shown(info: Info, session: Any, principal: Any, model: Any) -> Customer:
    """A customer a mutation wrote, as the caller sees it once the mutation holds (decided
    in the mutation's own transaction)."""
    views = await customers.read_customers(session, principal=principal, ids=[model.id])
    info.context.loaders.prime_customers(principal, views.values())
    return Customer.from_view(views[model.id])


async def create_customer(info: Info, input: CreateCustomerInput) -> CreateCustomerPayload:
    principal = principal_of(info)

    async def work(session: Any) -> CreateCustomerSuccess:
        home = (
            require_node_id(input.home_partner_id, "Partner", "homePartnerId")
            if input.home_partner_id
            else None
        )
        model = await customers.create_customer(
            session,
            principal=principal,
            national_id_type=input.national_id.type.value,
            national_id=input.national_id.number,
            given_names=input.given_names,
            family_names=input.family_names,
            email=input.email,
            phone=input.phone,
            address=_address(input.address),
            consent_marketing=input.consent_marketing,
            consent_data_sharing=input.consent_data_sharing,
            home_partner_id=home,
        )
        return CreateCustomerSuccess(customer=await _shown(info, session, principal, model))

    return await mutate(CreateCustomerPayload, work)


_SIMPLE_FIELDS = {
    "given_names": "given_names",
    "family_names": "family_names",
    "email": "email",
    "phone": "phone",
    "consent_marketing": "consent_marketing",
    "consent_data_sharing": "consent_data_sharing",
}


async def update_customer(info: Info, input: UpdateCustomerInput) -> UpdateCustomerPayload:
    principal = principal_of(info)

    async def work(session: Any) -> UpdateCustomerSuccess:
        key = require_node_id(input.id, "Customer", "id")
        values: dict[str, Any] = {}
        for attr, name in _SIMPLE_FIELDS.items():
            value = getattr(input, attr)
            if value is not strawberry.UNSET:
                values[name] = value
        if input.national_id is not strawberry.UNSET:
            if input.national_id is None:
                raise ValidationFailed.on("nationalId", "cannot be removed")
            values["national_id_type"] = input.national_id.type.value
            values["national_id"] = input.national_id.number
        if input.address is not strawberry.UNSET:
            values["address"] = _address(input.address)
        if input.home_partner_id is not strawberry.UNSET:
            if input.home_partner_id is None:
                raise ValidationFailed.on("homePartnerId", "cannot be removed")
            values["home_partner_id"] = require_node_id(
                input.home_partner_id, "Partner", "homePartnerId"
            )
        for required in ("given_names", "family_names"):
            if required in values and values[required] is None:
                raise ValidationFailed.on(
                    "givenNames" if required == "given_names" else "familyNames",
                    "cannot be removed",
                )
        model = await customers.update_customer(
            session,
            principal=principal,
            customer_id=key,
            expected_version=input.version,
            changes=customers.CustomerChanges(values),
        )
        return UpdateCustomerSuccess(customer=await _shown(info, session, principal, model))

    return await mutate(UpdateCustomerPayload, work)
