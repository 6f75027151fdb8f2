"""Customers: one record per person across the network."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.customers import events as customer_events
from domain.customers import rules, scopes
from domain.customers.models import Customer
from domain.customers.rules import Address
from domain.customers.views import CustomerView, present
from domain.partners.models import Partner
from domain.shared import audit, national_ids, outbox
from domain.shared import event_schemas as wire
from domain.shared.errors import Conflict, Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.pagination import Page, decode_cursor, encode_cursor
from domain.shared.principal import Principal, Role, Scope
from domain.shared.reads import KeysetQuery
from domain.shared.text import fold, like_escape
from domain.shared.time import utcnow
from domain.shared.types import UUIDType

_CURSOR_TAG = "customers.v1"


# --- access ---------------------------------------------------------------------------------
def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.CUSTOMERS_READ):
        raise Forbidden("you cannot read customers")


def ensure_can_write(principal: Principal) -> None:
    if not principal.has_scope(Scope.CUSTOMERS_WRITE):
        raise Forbidden("you cannot change customers")


def _may_rehome(principal: Principal) -> bool:
    return principal.is_admin


def _may_correct_identity(principal: Principal) -> bool:
    return principal.has_role(Role.ADMIN, Role.SUPERVISOR)


def _audience(*partners: uuid.UUID | Principal | None) -> list[uuid.UUID]:
    """Partners an event concerns: the customer's home partner(s) and the actor's."""
    out: list[uuid.UUID] = []
    for item in partners:
        value = item.partner_id if isinstance(item, Principal) else item
        if value is not None and value not in out:
            out.append(value)
    return out


# --- snapshots ------------------------------------------------------------------------------
_SNAPSHOT_FIELDS = (
    "national_id_type",
    "national_id",
    "given_names",
    "family_names",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "address_country",
    "consent_marketing",
    "consent_data_sharing",
    "home_partner_id",
    "version",
)


def snapshot(customer: Customer) -> dict[str, Any]:
    return {name: getattr(customer, name) for name in _SNAPSHOT_FIELDS}


def _sort_name(given: str, family: str) -> str:
    return fold(f"{family} {given}")[:210]


# --- reads ----------------------------------------------------------------------------------
async def get_many(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    """The rows themselves, for the domain's own work (no masking: never shown as is)."""
    if not ids:
        return {}
    rows = await session.execute(sa.select(Customer).where(col(Customer.id).in_(ids)))
    return {c.id: c for c in rows.scalars().all()}


def _shown(principal: Principal) -> Any:
    """Customers with the rule's decision beside each row (``pii_visible``)."""
    visible = scopes.pii_visible_to(principal).label("pii_visible")
    return sa.select(Customer, visible)


def _present(row: Any) -> CustomerView:
    customer, visible = row
    return present(customer, visible=bool(visible))


async def read_customers(
    session: AsyncSession, *, principal: Principal, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CustomerView]:
    """Customers by id as ``principal`` sees them, in one statement. Checks no permission:
    for paths that already decided the caller may see these customers (a case's or a
    credit's customer, ``node`` after :func:`ensure_can_read`)."""
    if not ids:
        return {}
    rows = await session.execute(_shown(principal).where(col(Customer.id).in_(list(ids))))
    return {view.id: view for view in map(_present, rows.all())}


async def read_customer(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID
) -> CustomerView:
    """One customer as ``principal`` sees it (any reader of customers may read any one:
    masked unless :func:`scopes.pii_visible_to`)."""
    ensure_can_read(principal)
    found = await read_customers(session, principal=principal, ids=[customer_id])
    if customer_id not in found:
        raise NotFound("Customer", customer_id)
    return found[customer_id]


def _national_id(id_type: str, number: str) -> national_ids.NationalId:
    try:
        return national_ids.parse(id_type, number)
    except national_ids.InvalidNationalId as exc:
        raise ValidationFailed.on("number", str(exc)) from None


async def find_by_national_id(
    session: AsyncSession, *, principal: Principal, id_type: str, number: str
) -> Customer | None:
    """The row with this exact national ID, for the domain's own work (seeds, tokens)."""
    ensure_can_read(principal)
    nid = _national_id(id_type, number)
    rows = await session.execute(
        sa.select(Customer).where(
            col(Customer.national_id_type) == nid.type.value,
            col(Customer.national_id) == nid.number,
        )
    )
    return rows.scalars().first()


async def look_up_national_id(
    session: AsyncSession, *, principal: Principal, id_type: str, number: str
) -> CustomerView | None:
    """A walk-in customer found by the exact national ID, as ``principal`` sees them
    (masked unless visible). Partners' staff and systems only
    (:func:`scopes.ensure_can_look_up`); the number is validated first."""
    scopes.ensure_can_look_up(principal)
    nid = _national_id(id_type, number)
    rows = await session.execute(
        _shown(principal).where(
            col(Customer.national_id_type) == nid.type.value,
            col(Customer.national_id) == nid.number,
        )
    )
    row = rows.first()
    return _present(row) if row is not None else None


def _search_filter(text: str | None) -> list[sa.ColumnElement[bool]]:
    """Partial text: a prefix of the national ID when it reads as one, an e-mail (or part
    of one) when it holds an ``@``, otherwise every word in the name. Applied only within
    :func:`scopes.related_to`, whose customers the caller sees in clear."""
    if not text or not text.strip():
        return []
    text = text.strip()[:100]
    if national_ids.looks_like_national_id(text):
        compact = "".join(ch for ch in text if ch.isalnum()).upper()
        return [col(Customer.national_id).like(like_escape(compact) + "%", escape="\\")]
    if "@" in text:
        wanted = like_escape(text.lower())
        return [sa.func.lower(col(Customer.email)).like(f"%{wanted}%", escape="\\")]
    words = [w for w in fold(text).split(" ") if w][:6]
    return [col(Customer.sort_name).like("%" + like_escape(w) + "%", escape="\\") for w in words]


def customer_cursor(sort_name: str, customer_id: uuid.UUID) -> str:
    """The cursor of a customer in the list's order (name, then id)."""
    return encode_cursor(_CURSOR_TAG, sort_name, str(customer_id))


def customer_list(
    principal: Principal, *, text: str | None, limit: int, after: str | None = None
) -> KeysetQuery:
    """The customers related to ``principal`` (:func:`scopes.related_to`), by name words,
    e-mail or a prefix of the national ID, in name order: the list every read path
    selects from (:func:`search_customers`, compiled reads)."""
    ensure_can_read(principal)
    table = table_of(Customer)
    conditions = (scopes.related_to(principal), *_search_filter(text))
    keyset: tuple[sa.ColumnElement[bool], ...] = ()
    if after:
        sort_name, raw_id = decode_cursor(after, _CURSOR_TAG, 2)
        try:
            last_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.on("after", "this cursor is not valid") from None
        if not isinstance(sort_name, str):
            raise ValidationFailed.on("after", "this cursor is not valid")
        keyset = (
            sa.tuple_(table.c.sort_name, table.c.id)
            > sa.tuple_(sa.literal(sort_name), sa.literal(last_id, type_=UUIDType)),
        )
    return KeysetQuery(
        table=table,
        conditions=conditions,
        keyset=keyset,
        order_by=(table.c.sort_name, table.c.id),
        limit=limit,
        after=after,
        cursor_keys=("sort_name", "id"),
        cursor=customer_cursor,
    )


async def search_customers(
    session: AsyncSession,
    *,
    principal: Principal,
    text: str | None,
    limit: int,
    after: str | None = None,
    with_total: bool = False,
) -> Page[CustomerView]:
    """:func:`customer_list` read whole and presented."""
    query = customer_list(principal, text=text, limit=limit, after=after)
    visible = scopes.pii_visible_to(principal).label("pii_visible")
    rows: list[Any] = list((await session.execute(query.statement(Customer, visible))).all())
    items, has_next = query.cut(rows)
    total = None
    if with_total:
        total = int((await session.execute(query.count_statement())).scalar_one())
    return Page(
        items=[_present(r) for r in items],
        cursors=[query.cursor_of(c) for c, _ in items],
        has_next=has_next,
        has_previous=query.has_previous,
        total=total,
    )


# --- writes ---------------------------------------------------------------------------------
@dataclass
class CustomerChanges:
    """Fields to change; a field absent from ``values`` is left as it is."""

    values: dict[str, Any] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.values


async def _home_partner(
    session: AsyncSession, principal: Principal, requested: uuid.UUID | None, problems: Problems
) -> uuid.UUID | None:
    partner_id = requested or principal.partner_id
    if partner_id is None:
        problems.add("homePartnerId", "is required for a principal without a partner")
        return None
    if requested and requested != principal.partner_id and not _may_rehome(principal):
        raise Forbidden("you can only register customers for your own partner")
    partner = await session.get(Partner, partner_id)
    if partner is None or not partner.active:
        problems.add("homePartnerId", "is not an active partner")
        return None
    return partner_id


async def _ensure_unique_national_id(
    session: AsyncSession, id_type: str, number: str, exclude: uuid.UUID | None = None
) -> None:
    stmt = sa.select(col(Customer.id)).where(
        col(Customer.national_id_type) == id_type,
        col(Customer.national_id) == number,
    )
    existing = (await session.execute(stmt)).scalar()
    if existing is not None and existing != exclude:
        raise ValidationFailed.on("nationalId", "another customer already has this national ID")


def _apply_address(customer: Customer, value: Address | None) -> None:
    customer.address_line1 = value.line1 if value else None
    customer.address_line2 = value.line2 if value else None
    customer.city = value.city if value else None
    customer.region = value.region if value else None
    customer.postal_code = value.postal_code if value else None
    customer.address_country = value.country if value else None


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        # A concurrent writer took the same national ID between our check and our insert.
        raise ValidationFailed.on(
            "nationalId", "another customer already has this national ID"
        ) from exc


async def create_customer(
    session: AsyncSession,
    *,
    principal: Principal,
    national_id_type: str,
    national_id: str,
    given_names: str,
    family_names: str,
    email: str | None = None,
    phone: str | None = None,
    address: Address | None = None,
    consent_marketing: bool = False,
    consent_data_sharing: bool = False,
    home_partner_id: uuid.UUID | None = None,
) -> Customer:
    ensure_can_write(principal)
    problems = Problems()
    nid = None
    try:
        nid = national_ids.parse(national_id_type, national_id)
    except national_ids.InvalidNationalId as exc:
        problems.add("nationalId", str(exc))
    given = rules.name(problems, "givenNames", given_names)
    family = rules.name(problems, "familyNames", family_names)
    country = nid.type.country if nid else "CL"
    clean_email = rules.email(problems, "email", email)
    clean_phone = rules.phone(problems, "phone", phone, country)
    clean_address = rules.address(problems, "address", address)
    partner_id = await _home_partner(session, principal, home_partner_id, problems)
    problems.raise_if_any()
    assert nid is not None and partner_id is not None
    await _ensure_unique_national_id(session, nid.type.value, nid.number)
    now = utcnow()
    customer = Customer(
        national_id_type=nid.type.value,
        national_id=nid.number,
        given_names=given,
        family_names=family,
        email=clean_email,
        phone=clean_phone,
        consent_marketing=consent_marketing,
        consent_data_sharing=consent_data_sharing,
        consent_updated_at=now,
        home_partner_id=partner_id,
        sort_name=_sort_name(given, family),
        created_at=now,
        updated_at=now,
    )
    _apply_address(customer, clean_address)
    session.add(customer)
    await _flush_unique(session)
    audit.record(
        session,
        principal=principal,
        action="customers.create",
        entity_type="Customer",
        entity_id=customer.id,
        after=snapshot(customer),
    )
    outbox.add(
        session,
        "customers.created",
        {
            "customerId": wire.global_id("Customer", customer.id),
            "homePartnerId": wire.global_id("Partner", customer.home_partner_id),
            "version": customer.version,
        },
        partner_ids=_audience(customer.home_partner_id, principal),
        key=wire.global_id("Customer", customer.id),
    )
    return customer


async def update_customer(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    expected_version: int,
    changes: CustomerChanges,
) -> Customer:
    ensure_can_write(principal)
    stmt = sa.select(Customer).where(col(Customer.id) == customer_id).with_for_update()
    customer = (await session.execute(stmt)).scalars().first()
    if customer is None:
        raise NotFound("Customer", customer_id)
    if customer.version != expected_version:
        raise Conflict(
            f"customer changed since version {expected_version}; it is now at version "
            f"{customer.version}",
            current_version=customer.version,
        )
    before = snapshot(customer)
    problems = Problems()
    v = changes.values
    if "national_id_type" in v or "national_id" in v:
        try:
            nid = national_ids.parse(
                v.get("national_id_type", customer.national_id_type),
                v.get("national_id", customer.national_id),
            )
        except national_ids.InvalidNationalId as exc:
            problems.add("nationalId", str(exc))
        else:
            unchanged = (nid.type.value, nid.number) == (
                customer.national_id_type,
                customer.national_id,
            )
            # A form that sends the ID it read back is not a correction.
            if not unchanged:
                if not _may_correct_identity(principal):
                    raise Forbidden("only supervisors and administrators can correct a national ID")
                await _ensure_unique_national_id(session, nid.type.value, nid.number, customer.id)
                customer.national_id_type = nid.type.value
                customer.national_id = nid.number
    if "given_names" in v:
        customer.given_names = rules.name(problems, "givenNames", v["given_names"])
    if "family_names" in v:
        customer.family_names = rules.name(problems, "familyNames", v["family_names"])
    if "email" in v:
        customer.email = rules.email(problems, "email", v["email"])
    if "phone" in v:
        country = national_ids.NationalIdType(customer.national_id_type).country
        customer.phone = rules.phone(problems, "phone", v["phone"], country)
    if "address" in v:
        _apply_address(customer, rules.address(problems, "address", v["address"]))
    consent_changed = False
    for name, input_field in (
        ("consent_marketing", "consentMarketing"),
        ("consent_data_sharing", "consentDataSharing"),
    ):
        if name in v:
            if v[name] is None:
                problems.add(input_field, "must be true or false")
            elif getattr(customer, name) != v[name]:
                setattr(customer, name, bool(v[name]))
                consent_changed = True
    if "home_partner_id" in v and v["home_partner_id"] != customer.home_partner_id:
        if not _may_rehome(principal):
            raise Forbidden("only administrators can move a customer to another partner")
        partner = await session.get(Partner, v["home_partner_id"])
        if partner is None or not partner.active:
            problems.add("homePartnerId", "is not an active partner")
        else:
            customer.home_partner_id = partner.id
    problems.raise_if_any()
    after = snapshot(customer)
    if after == before:
        return customer  # nothing changed: no new version, no audit noise
    now = utcnow()
    if consent_changed:
        customer.consent_updated_at = now
    customer.sort_name = _sort_name(customer.given_names, customer.family_names)
    customer.version += 1
    customer.updated_at = now
    await _flush_unique(session)
    audit.record(
        session,
        principal=principal,
        action="customers.update",
        entity_type="Customer",
        entity_id=customer.id,
        before=before,
        after=snapshot(customer),
    )
    changed = sorted(k for k in after if k != "version" and after[k] != before.get(k))
    outbox.add(
        session,
        "customers.updated",
        {
            "customerId": wire.global_id("Customer", customer.id),
            "homePartnerId": wire.global_id("Partner", customer.home_partner_id),
            "version": customer.version,
            # field names only: no personal data travels in events
            "changed": customer_events.changed_fields(changed),
        },
        partner_ids=_audience(customer.home_partner_id, principal, before["home_partner_id"]),
        key=wire.global_id("Customer", customer.id),
    )
    return customer


# --- bulk import ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerDraft:
    national_id_type: str
    national_id: str
    given_names: str
    family_names: str
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    consent_marketing: bool = False
    consent_data_sharing: bool = False


@dataclass
class ImportResult:
    inserted: int = 0
    already_present: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


async def import_customers(
    session: AsyncSession,
    *,
    principal: Principal,
    home_partner_id: uuid.UUID,
    drafts: Sequence[CustomerDraft],
    batch_size: int = 1000,
) -> ImportResult:
    """Validate and insert many customers set-wise; existing national IDs are skipped.

    Each row goes through the same rules as :func:`create_customer`. Rows that fail are
    reported by index and not inserted; the import is one audited action.
    """
    ensure_can_write(principal)
    if home_partner_id != principal.partner_id and not _may_rehome(principal):
        raise Forbidden("you can only import customers for your own partner")
    partner = await session.get(Partner, home_partner_id)
    if partner is None or not partner.active:
        raise ValidationFailed.on("homePartnerId", "is not an active partner")
    result = ImportResult()
    table = table_of(Customer)
    for start in range(0, len(drafts), batch_size):
        chunk = drafts[start : start + batch_size]
        rows: list[dict[str, Any]] = []
        for offset, draft in enumerate(chunk):
            row = _validated_row(draft, home_partner_id)
            if isinstance(row, str):
                result.rejected.append((start + offset, row))
            else:
                rows.append(row)
        keys = {(r["national_id_type"], r["national_id"]) for r in rows}
        numbers = sorted({r["national_id"] for r in rows})
        existing: set[tuple[str, str]] = set()
        if numbers:
            found = await session.execute(
                sa.select(table.c.national_id_type, table.c.national_id).where(
                    table.c.national_id.in_(numbers)
                )
            )
            existing = {(t, n) for t, n in found.all()} & keys
        fresh: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            key = (row["national_id_type"], row["national_id"])
            if key in existing or key in fresh:
                result.already_present += 1
            else:
                fresh[key] = row
        if fresh:
            await session.execute(sa.insert(table), list(fresh.values()))
            result.inserted += len(fresh)
    if result.inserted:
        audit.record(
            session,
            principal=principal,
            action="customers.import",
            entity_type="Partner",
            entity_id=home_partner_id,
            after={
                "inserted": result.inserted,
                "already_present": result.already_present,
                "rejected": len(result.rejected),
            },
        )
        outbox.add(
            session,
            "customers.imported",
            {
                "homePartnerId": wire.global_id("Partner", home_partner_id),
                "inserted": result.inserted,
                "alreadyPresent": result.already_present,
                "rejected": len(result.rejected),
            },
            partner_ids=_audience(home_partner_id, principal),
            key=wire.global_id("Partner", home_partner_id),
        )
    return result


def _validated_row(draft: CustomerDraft, home_partner_id: uuid.UUID) -> dict[str, Any] | str:
    problems = Problems()
    try:
        nid = national_ids.parse(draft.national_id_type, draft.national_id)
    except national_ids.InvalidNationalId as exc:
        return f"nationalId: {exc}"
    given = rules.name(problems, "givenNames", draft.given_names)
    family = rules.name(problems, "familyNames", draft.family_names)
    email = rules.email(problems, "email", draft.email)
    phone = rules.phone(problems, "phone", draft.phone, nid.type.country)
    address = rules.address(problems, "address", draft.address)
    if problems.items:
        return "; ".join(f"{p.field}: {p.message}" for p in problems.items)
    now = utcnow()
    return {
        "id": uuid7(),
        "national_id_type": nid.type.value,
        "national_id": nid.number,
        "given_names": given,
        "family_names": family,
        "email": email,
        "phone": phone,
        "address_line1": address.line1 if address else None,
        "address_line2": address.line2 if address else None,
        "city": address.city if address else None,
        "region": address.region if address else None,
        "postal_code": address.postal_code if address else None,
        "address_country": address.country if address else None,
        "consent_marketing": draft.consent_marketing,
        "consent_data_sharing": draft.consent_data_sharing,
        "consent_updated_at": now,
        "home_partner_id": home_partner_id,
        "sort_name": _sort_name(given, family),
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


async def any_customer(session: AsyncSession) -> bool:
    return (await session.execute(sa.select(col(Customer.id)).limit(1))).first() is not None
