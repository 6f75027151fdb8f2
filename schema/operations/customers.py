from __future__ import annotations

import strawberry

from resolvers import customers as r
from schema.customers import (
    CreateCustomerPayload,
    Customer,
    CustomerConnection,
    UpdateCustomerPayload,
)


@strawberry.type
class CustomerQuery:
    customer: Customer | None = strawberry.field(
        resolver=r.customer, description="A customer by id; null if it does not exist."
    )
    customers: CustomerConnection = strawberry.field(
        resolver=r.customers_search,
        description="Customers by name words or national ID (or a prefix of it), by name.",
    )
    customer_by_national_id: Customer | None = strawberry.field(
        resolver=r.customer_by_national_id,
        description="The customer with this national ID; the number is validated first.",
    )


@strawberry.type
class CustomerMutation:
    create_customer: CreateCustomerPayload = strawberry.mutation(resolver=r.create_customer)
    update_customer: UpdateCustomerPayload = strawberry.mutation(
        resolver=r.update_customer,
        description="Change a customer; `version` must be the one you read.",
    )
