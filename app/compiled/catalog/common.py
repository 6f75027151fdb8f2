"""Types every domain uses: money, national IDs, partners."""

from __future__ import annotations

from app.compiled.catalog import CATALOG
from app.compiled.plan import global_id
from app.compiled.roots import NODES, NodeRule
from app.compiled.spec import RAW, Input, Obj, TypeSpec, Val, computed
from domain.partners import service as partners
from domain.partners.models import Partner
from domain.shared.models import table_of
from domain.shared.money import format_minor


def _long(value: int) -> str:
    return str(value)


#: ``Money`` made of two inputs, ``amount`` (minor units) and ``currency``: bind them with
#: ``Obj("Money", bind={"amount": …, "currency": …})``.
MONEY = TypeSpec(
    "Money",
    fields={
        "amount": Val(computed(format_minor, "amount", "currency"), RAW),
        "currency": Val("currency"),
        "minorUnits": Val("amount", _long),
    },
)

#: ``NationalId`` made of ``type`` (stored value), ``number`` (as shown) and ``country``.
NATIONAL_ID = TypeSpec(
    "NationalId",
    fields={"type": Val("type"), "number": Val("number"), "country": Val("country")},
)


def _both(amount: object, currency: object) -> bool | None:
    return None if amount is None or currency is None else True


def money(amount: Input, currency: Input, *, nullable: bool = True) -> Obj:
    """A ``Money`` field of these inputs: null when either is (a nullable amount)."""
    bind = {"amount": amount, "currency": currency}
    return Obj("Money", bind, null_if=computed(_both, amount, currency) if nullable else None)


PARTNER = TypeSpec(
    "Partner",
    table=table_of(Partner),
    fields={
        "id": Val("id", global_id("Partner")),
        "code": Val("code"),
        "name": Val("name"),
        "country": Val("country"),
        "kind": Val("kind"),
        "active": Val("active"),
        "createdAt": Val("created_at"),
        "updatedAt": Val("updated_at"),
    },
)

CATALOG.add(MONEY, NATIONAL_ID, PARTNER)
NODES["Partner"] = NodeRule(check=lambda req: partners.ensure_can_read(req.principal))
