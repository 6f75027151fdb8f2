"""Investors: the list, one investor, ``node``, their fundings; the portfolio (and the
investor's own). Who may read is :mod:`domain.investors.access`; masking
:mod:`domain.investors.views`; the portfolio's figures :mod:`domain.investors.portfolio`."""

from __future__ import annotations

import operator
from collections import namedtuple
from typing import Any

import sqlalchemy as sa

from app.compiled.catalog import CATALOG
from app.compiled.catalog.common import money
from app.compiled.plan import global_id
from app.compiled.roots import NODES, ROOTS, ListRoot, NodeRule, ObjectRoot, OneRoot
from app.compiled.spec import Derived, Items, Many, Obj, One, Sub, TypeSpec, Val, computed
from domain.credits.models import Credit
from domain.investors import access, views
from domain.investors import batches as investor_batches
from domain.investors import service as investors
from domain.investors.fundings import share_of
from domain.investors.models import CreditFunding, Investor
from domain.investors.portfolio import investor_portfolio, rate_fraction, rate_percent
from domain.shared.errors import Forbidden, NotFound
from domain.shared.models import table_of
from domain.shared.pagination import clamp_page_size
from domain.shared.reads import KeysetQuery
from resolvers.ids import decode_node_id
from schema.investor_inputs import InvestorFilter
from schema.investors import ensure_may_read_investors

INVESTORS = table_of(Investor)
FUNDINGS = table_of(CreditFunding)


def personal_data_visible(req: Any, table: sa.FromClause) -> sa.ColumnElement[bool]:
    """:func:`access.sees_personal_data` as a column of the investor row."""
    return access.personal_data_visible(req.principal, table.c.id)


def _country(id_type: str) -> str:
    from domain.shared.national_ids import NationalIdType

    return NationalIdType(id_type).country


INVESTOR = TypeSpec(
    "Investor",
    table=INVESTORS,
    derived={"pii": Derived(personal_data_visible)},
    fields={
        "id": Val("id", global_id("Investor")),
        "kind": Val("kind"),
        "legalName": Val("legal_name"),
        "nationalId": Obj(
            "NationalId",
            {
                "type": "national_id_type",
                "number": computed(
                    views.shown_national_id, "national_id_type", "national_id", "pii"
                ),
                "country": computed(_country, "national_id_type"),
            },
        ),
        "country": Val("country"),
        "email": Val(computed(views.shown_email, "email", "pii")),
        "bankAccount": Obj("BankAccount"),
        "kycStatus": Val("kyc_status"),
        "kycNote": Val("kyc_note"),
        "kycUpdatedAt": Val("kyc_updated_at"),
        "piiMasked": Val(computed(operator.not_, "pii")),
        "version": Val("version"),
        "createdAt": Val("created_at"),
        "updatedAt": Val("updated_at"),
        "fundings": Many(
            "CreditFunding",
            key="id",
            parent="investor_id",
            query=lambda req, ids, args: investor_batches.fundings_query(ids),
        ),
    },
)

BANK_ACCOUNT = TypeSpec(
    "BankAccount",
    fields={
        "bankCode": Val("bank_code"),
        "accountType": Val("bank_account_type"),
        "number": Val(computed(views.shown_account, "bank_account_number", "pii")),
    },
)


def _credit_reference(req: Any, table: sa.FromClause) -> sa.ColumnElement[Any]:
    """The funded credit's reference (a funding shows it; the credit may not be visible)."""
    credits = table_of(Credit)
    return sa.select(credits.c.reference).where(credits.c.id == table.c.credit_id).scalar_subquery()


def _text(value: str | None) -> str:
    return value or ""


FUNDING = TypeSpec(
    "CreditFunding",
    table=FUNDINGS,
    derived={"credit_reference": Derived(_credit_reference)},
    fields={
        "id": Val("id", global_id("CreditFunding")),
        "creditId": Val("credit_id", global_id("Credit")),
        "share": Val(computed(share_of, "share_ppm")),
        "servicingFeeRate": Val(computed(share_of, "servicing_fee_ppm")),
        "invested": money("amount", "currency", nullable=False),
        "effectiveOn": Val("effective_on"),
        "fundedAt": Val("funded_at"),
        "creditReference": Val(computed(_text, "credit_reference")),
        "investor": One("Investor", key="investor_id"),
    },
)

# --- the portfolio (object-backed: domain.investors.portfolio) ------------------------------
Exposure = namedtuple("Exposure", "bucket money")


def _exposure(buckets: dict[str, Any]) -> list[Exposure]:
    return [Exposure(bucket, amount) for bucket, amount in buckets.items()]


PORTFOLIO = TypeSpec(
    "InvestorPortfolio",
    fields={
        "asOf": Val("as_of"),
        "currencies": Items("InvestorPortfolioCurrency", "currencies"),
        "investor": One("Investor", key="investor_id"),
    },
)
_MONEY_FIELDS = (
    "invested",
    "outstanding_principal",
    "written_off_principal",
    "received_principal",
    "received_interest",
    "received_late_interest",
    "fees",
    "interest_earned",
    "expected_principal",
    "expected_interest",
    "expected",
    "received",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


PORTFOLIO_CURRENCY = TypeSpec(
    "InvestorPortfolioCurrency",
    fields={
        "currency": Val("currency"),
        **{_camel(name): Sub("Money", name) for name in _MONEY_FIELDS},
        "xirr": Val(computed(rate_fraction, "xirr")),
        "xirrPercent": Val(computed(rate_percent, "xirr")),
        "exposure": Items("PortfolioExposure", computed(_exposure, "exposure")),
        "positions": Items("PortfolioPosition", "positions"),
    },
)
EXPOSURE = TypeSpec(
    "PortfolioExposure",
    fields={"bucket": Val("bucket"), "outstandingPrincipal": Sub("Money", "money")},
)
POSITION = TypeSpec(
    "PortfolioPosition",
    fields={
        "creditId": Val("credit_id", global_id("Credit")),
        "creditReference": Val("credit_reference"),
        "creditStatus": Val("credit_status"),
        "share": Val("share"),
        "invested": Sub("Money", "invested"),
        "outstandingPrincipal": Sub("Money", "outstanding_principal"),
        "daysPastDue": Val("days_past_due"),
        "agingBucket": Val("aging_bucket"),
    },
)

CATALOG.add(INVESTOR, BANK_ACCOUNT, FUNDING, PORTFOLIO, PORTFOLIO_CURRENCY, EXPOSURE, POSITION)


# --- roots ----------------------------------------------------------------------------------
def _investors(req: Any, args: dict[str, Any]) -> KeysetQuery:
    principal = req.principal
    ensure_may_read_investors(principal)  # before any argument is judged
    settings = req.settings
    limit = clamp_page_size(
        args.get("first"), default=settings.default_page_size, maximum=settings.max_page_size
    )
    f = args.get("filter") or InvestorFilter()
    return investors.investor_list(
        principal,
        text=f.search,
        kyc_status=f.kyc_status.value if f.kyc_status else None,
        limit=limit,
        after=args.get("after"),
    )


def _investor(req: Any, args: dict[str, Any]) -> Any:
    principal = req.principal
    ensure_may_read_investors(principal)
    key = decode_node_id(args["id"], "Investor")
    if key is not None:
        access.ensure_can_read(principal, key)  # another investor's: Forbidden, not null
    return key


async def _portfolio(req: Any, investor_id: Any, as_of: Any) -> Any:
    try:
        return await investor_portfolio(
            req.session, principal=req.principal, investor_id=investor_id, as_of=as_of
        )
    except NotFound:
        return None


async def _investor_portfolio(req: Any, args: dict[str, Any]) -> Any:
    ensure_may_read_investors(req.principal)
    key = decode_node_id(args["investor_id"], "Investor")
    if key is None:
        return None
    return await _portfolio(req, key, args.get("as_of"))


async def _my_portfolio(req: Any, args: dict[str, Any]) -> Any:
    own = access.claimed_investor(req.principal)
    if own is None:
        raise Forbidden("only an investor has a portfolio of its own (an investor token)")
    portfolio = await _portfolio(req, own, args.get("as_of"))
    if portfolio is None:
        raise NotFound("Investor", own)
    return portfolio


def _node_visible(req: Any, table: sa.FromClause) -> sa.ColumnElement[bool]:
    return access.visible_investors(req.principal, table.c.id)


ROOTS["investors"] = ListRoot("Investor", _investors, ("sort_name", "id"))
ROOTS["investor"] = OneRoot("Investor", _investor)
ROOTS["investorPortfolio"] = ObjectRoot("InvestorPortfolio", _investor_portfolio)
ROOTS["myInvestorPortfolio"] = ObjectRoot("InvestorPortfolio", _my_portfolio)
NODES["Investor"] = NodeRule(
    check=lambda req: ensure_may_read_investors(req.principal), visible=_node_visible
)
