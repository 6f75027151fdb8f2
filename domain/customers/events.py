"""The customers' events: topics, keys and payload schemas (see domain/shared/event_schemas.py)."""

from __future__ import annotations

from collections.abc import Iterable

from domain.shared.event_schemas import EventSpec, api_fields, array, enum, integer, obj, ref

#: Model attributes as the API names the field they belong to (``changed`` lists these).
CHANGED_FIELDS: dict[str, str] = {
    "national_id_type": "nationalId",
    "national_id": "nationalId",
    "given_names": "givenNames",
    "family_names": "familyNames",
    "email": "email",
    "phone": "phone",
    "address_line1": "address",
    "address_line2": "address",
    "city": "address",
    "region": "address",
    "postal_code": "address",
    "address_country": "address",
    "consent_marketing": "consents",
    "consent_data_sharing": "consents",
    "home_partner_id": "homePartner",
}


def changed_fields(names: Iterable[str]) -> list[str]:
    """The API fields behind changed attributes: names only, never their values. (An
    attribute missing from :data:`CHANGED_FIELDS` comes out camelCased, and the payload
    contract test then asks for it to be added there and to the schema.)"""
    return api_fields(names, CHANGED_FIELDS)


_KEY = "The customer's global id."
_AUDIENCE = "The customer's home partner (before and after a move) and the acting partner."

EVENTS = (
    EventSpec(
        topic="customers.created",
        summary="A customer was registered.",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "A new customer record.",
            {
                "customerId": ref("CustomerId"),
                "homePartnerId": ref("PartnerId"),
                "version": integer("The record's version.", minimum=1),
            },
        ),
    ),
    EventSpec(
        topic="customers.updated",
        summary="A customer's record changed (read it for the new values).",
        key=_KEY,
        audience=_AUDIENCE,
        payload=obj(
            "Which fields changed; their values are personal data and never travel.",
            {
                "customerId": ref("CustomerId"),
                "homePartnerId": ref("PartnerId"),
                "version": integer("The record's version after the change.", minimum=2),
                "changed": array(
                    enum(CHANGED_FIELDS.values()), "The API fields that changed, sorted."
                ),
            },
        ),
    ),
    EventSpec(
        topic="customers.imported",
        summary="A bulk import of a partner's customers inserted records.",
        key="The home partner's global id.",
        audience="The home partner and the acting partner.",
        payload=obj(
            "Counts of one import.",
            {
                "homePartnerId": ref("PartnerId"),
                "inserted": integer(minimum=1),
                "alreadyPresent": integer("Rows whose national id was already known.", minimum=0),
                "rejected": integer("Rows refused as invalid.", minimum=0),
            },
        ),
    ),
)
