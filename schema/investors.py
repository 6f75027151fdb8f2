"""Investors in the API: investors (a federation entity), their fundings of credits, and
settlements (runs, statements, the lines that make them up).

Rules behind the figures: ``docs/investors.md``. Shares and fee rates are fractions
(``"0.25"`` = 25 %); amounts are ``Money`` in the credit's currency. A credit is referred to
by its global id (``creditId``, a ``Credit`` node) and its reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.investors import access
from domain.investors.fundings import share_of
from domain.investors.models import BankAccountType as BankAccountTypeEnum
from domain.investors.models import CreditFunding as FundingModel
from domain.investors.models import DistributionLine as LineModel
from domain.investors.models import InvestorKind as InvestorKindEnum
from domain.investors.models import KycStatus as KycStatusEnum
from domain.investors.models import LineComponent as LineComponentEnum
from domain.investors.models import LineKind as LineKindEnum
from domain.investors.models import SettlementRun as RunModel
from domain.investors.models import SettlementStatement as StatementModel
from domain.investors.models import StatementStatus as StatementStatusEnum
from domain.investors.views import InvestorView, present
from domain.shared.money import Money as DomainMoney
from domain.shared.national_ids import NationalIdType as NationalIdTypeEnum
from domain.shared.pagination import clamp_page_size
from domain.shared.principal import Principal
from resolvers.context import principal_of
from resolvers.ids import decode_node_id, encode_node_id
from resolvers.investor_loaders import PageKey
from resolvers.pagination import selects, to_connection
from schema.common import Connection
from schema.customers import NationalId
from schema.money import Money

strawberry.enum(InvestorKindEnum, name="InvestorKind", description="PERSON or COMPANY.")
strawberry.enum(
    KycStatusEnum,
    name="KycStatus",
    description="Know-your-customer review: PENDING -> VERIFIED | REJECTED; VERIFIED -> "
    "PENDING | REJECTED; REJECTED -> PENDING. Only VERIFIED investors fund credits.",
)
strawberry.enum(
    BankAccountTypeEnum,
    name="BankAccountType",
    description="CHECKING (cuenta corriente), SAVINGS (ahorro), VISTA (cuenta vista / "
    "CuentaRUT, Chile only).",
)
strawberry.enum(
    StatementStatusEnum, name="SettlementStatementStatus", description="ISSUED, then PAID."
)
strawberry.enum(
    LineComponentEnum,
    name="DistributionComponent",
    description="What a line pays: INTEREST, LATE_INTEREST, PRINCIPAL, or SERVICING_FEE "
    "(negative: what the servicer keeps of the interest).",
)
strawberry.enum(
    LineKindEnum,
    name="DistributionLineKind",
    description="ORIGINAL, or ADJUSTMENT (a reversal or a backdated payment changed it).",
)
InvestorKind: TypeAlias = InvestorKindEnum
KycStatus: TypeAlias = KycStatusEnum
BankAccountType: TypeAlias = BankAccountTypeEnum
SettlementStatementStatus: TypeAlias = StatementStatusEnum
DistributionComponent: TypeAlias = LineComponentEnum
DistributionLineKind: TypeAlias = LineKindEnum


def money_of(amount: int, currency: str) -> Money:
    return Money.from_domain(DomainMoney(amount, currency))


def _limit(info: Info, first: int | None) -> int:
    settings = info.context.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


def _may_read_runs(principal: Principal) -> bool:
    return access.is_staff_reader(principal)


def ensure_may_read_investors(principal: Principal) -> None:
    """Staff readers and investor principals go on (each sees what it may); others are
    refused before anything is read."""
    if access.claimed_investor(principal) is None:
        access.ensure_can_read_any(principal)


def _visible(principal: Principal, keys: Iterable[uuid.UUID | None]) -> set[uuid.UUID]:
    """Of ``keys`` (investor ids), those the principal may read."""
    ensure_may_read_investors(principal)
    return {k for k in keys if k is not None and _can_read(principal, k)}


def _can_read(principal: Principal, investor_id: uuid.UUID) -> bool:
    return access.is_staff_reader(principal) or access.claimed_investor(principal) == investor_id


# --- investors ------------------------------------------------------------------------------
@strawberry.type(description="Where the investor is paid.")
class BankAccount:
    bank_code: str = strawberry.field(description="The bank's code (Chile: CMF, e.g. 012).")
    account_type: BankAccountType
    number: str = strawberry.field(
        description="Masked to the last four digits unless you may see the investor's "
        "personal data (`investors:write`, `pii:read`, or the investor itself)."
    )


@strawberry.federation.type(
    keys=["id"], description="A person or company that funds credits and is paid their share."
)
class Investor(relay.Node):
    id: relay.NodeID[str]
    kind: InvestorKind
    legal_name: str
    national_id: NationalId = strawberry.field(description="The national or tax ID.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, the ID's country.")
    email: str | None
    bank_account: BankAccount
    kyc_status: KycStatus
    kyc_note: str | None = strawberry.field(description="Why (a rejection always says why).")
    kyc_updated_at: datetime
    pii_masked: bool = strawberry.field(
        description="True when personal data is masked for you (in clear for "
        "`investors:write`, `pii:read` and the investor itself)."
    )
    version: int = strawberry.field(description="Send it back with changes; stale conflicts.")
    created_at: datetime
    updated_at: datetime
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Every share of a credit the investor took, oldest first.")
    async def fundings(self, info: Info) -> list[CreditFunding]:
        rows = await info.context.loaders.investors.fundings.load(self.key)
        return [CreditFunding.from_model(r) for r in rows]

    @strawberry.field(description="The investor's settlement statements, oldest first.")
    async def statements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> SettlementStatementConnection:
        loaders = info.context.loaders.investors
        page = await loaders.statements.load(PageKey(self.key, _limit(info, first), after))
        connection = to_connection(page, SettlementStatement.from_model)
        if selects(info, "totalCount"):
            connection.total_count = await loaders.statement_counts.load(self.key)
        return connection

    @classmethod
    def from_view(cls, view: InvestorView) -> Investor:
        id_type = NationalIdTypeEnum(view.national_id_type)
        return cls(
            id=str(view.id),
            kind=InvestorKindEnum(view.kind),
            legal_name=view.legal_name,
            national_id=NationalId(type=id_type, number=view.national_id, country=id_type.country),
            country=view.country,
            email=view.email,
            bank_account=BankAccount(
                bank_code=view.bank_account.bank_code,
                account_type=BankAccountTypeEnum(view.bank_account.account_type),
                number=view.bank_account.number,
            ),
            kyc_status=KycStatusEnum(view.kyc_status),
            kyc_note=view.kyc_note,
            kyc_updated_at=view.kyc_updated_at,
            pii_masked=view.pii_masked,
            version=view.version,
            created_at=view.created_at,
            updated_at=view.updated_at,
            key=view.id,
        )

    @classmethod
    def from_model(cls, model: Any, principal: Principal) -> Investor:
        return cls.from_view(present(model, principal))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Investor | None]:
        principal = principal_of(info)
        keys = [decode_node_id(n, "Investor") for n in node_ids]
        visible = _visible(principal, keys)
        found = await info.context.loaders.investors.investor.load_many(list(visible))
        by_id = {i.id: i for i in found if i is not None}
        return [cls.from_model(by_id[k], principal) if k in by_id else None for k in keys]

    @classmethod
    async def resolve_reference(cls, info: Info, **representation: Any) -> Investor | None:
        key = decode_node_id(representation.get("id"), "Investor")
        principal = principal_of(info)
        if key is None or key not in _visible(principal, [key]):
            return None
        model = await info.context.loaders.investors.investor.load(key)
        return cls.from_model(model, principal) if model else None


InvestorConnection = Connection[Investor]


# --- fundings -------------------------------------------------------------------------------
@strawberry.type(description="An investor's share of one credit.")
class CreditFunding(relay.Node):
    id: relay.NodeID[str]
    credit_id: strawberry.ID = strawberry.field(
        description="The funded credit's global id (a `Credit` node)."
    )
    share: Decimal = strawberry.field(description='Fraction of the credit: "0.25" is 25 %.')
    servicing_fee_rate: Decimal = strawberry.field(
        description="Kept by the servicer from the investor's interest, as a fraction; fixed "
        "when the funding was made."
    )
    invested: Money = strawberry.field(
        description="Principal put in: the share of what the credit amortises (funded before "
        "disbursement) or of its outstanding principal (funded after), rounded down."
    )
    effective_on: date | None = strawberry.field(
        description="Payments dated on or after this day are shared; null: every payment "
        "(funded before disbursement)."
    )
    funded_at: datetime
    credit_key: strawberry.Private[uuid.UUID]
    investor_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description='The credit\'s reference ("CR-…").')
    async def credit_reference(self, info: Info) -> str:
        reference = await info.context.loaders.investors.credit_reference.load(self.credit_key)
        return reference or ""

    @strawberry.field
    async def investor(self, info: Info) -> Investor:
        model = await info.context.loaders.investors.investor.load(self.investor_key)
        return Investor.from_model(model, principal_of(info))

    @classmethod
    def from_model(cls, funding: FundingModel) -> CreditFunding:
        return cls(
            id=str(funding.id),
            credit_id=strawberry.ID(encode_node_id("Credit", funding.credit_id)),
            share=share_of(funding.share_ppm),
            servicing_fee_rate=share_of(funding.servicing_fee_ppm),
            invested=money_of(funding.amount, funding.currency),
            effective_on=funding.effective_on,
            funded_at=funding.funded_at,
            credit_key=funding.credit_id,
            investor_key=funding.investor_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[CreditFunding | None]:
        principal = principal_of(info)
        ensure_may_read_investors(principal)
        keys = [decode_node_id(n, "CreditFunding") for n in node_ids]
        loaders = info.context.loaders.investors
        found = await loaders.funding.load_many([k for k in keys if k])
        by_id = {f.id: f for f in found if f is not None and _can_read(principal, f.investor_id)}
        return [cls.from_model(by_id[k]) if k in by_id else None for k in keys]


# --- settlements ----------------------------------------------------------------------------
@strawberry.type(description="One line of a statement: an investor's part of one payment.")
class SettlementLine:
    id: strawberry.ID
    credit_id: strawberry.ID = strawberry.field(description="The credit's global id.")
    payment_id: strawberry.ID = strawberry.field(description="The payment's global id.")
    component: DistributionComponent
    kind: DistributionLineKind
    amount: Money = strawberry.field(description="Negative for a fee or a reversal.")
    value_date: date = strawberry.field(description="The payment's date.")
    occurred_on: date = strawberry.field(
        description="When it became owed: the value date, or the day an adjustment was made."
    )
    created_at: datetime
    credit_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description='The credit\'s reference ("CR-…").')
    async def credit_reference(self, info: Info) -> str:
        reference = await info.context.loaders.investors.credit_reference.load(self.credit_key)
        return reference or ""

    @classmethod
    def from_model(cls, line: LineModel) -> SettlementLine:
        return cls(
            id=strawberry.ID(str(line.id)),
            credit_id=strawberry.ID(encode_node_id("Credit", line.credit_id)),
            payment_id=strawberry.ID(encode_node_id("Payment", line.payment_id)),
            component=LineComponentEnum(line.component),
            kind=LineKindEnum(line.kind),
            amount=money_of(line.amount, line.currency),
            value_date=line.value_date,
            occurred_on=line.occurred_on,
            created_at=line.created_at,
            credit_key=line.credit_id,
        )


SettlementLineConnection = Connection[SettlementLine]


@strawberry.type(description="What one investor is paid for one run, in one currency.")
class SettlementStatement(relay.Node):
    id: relay.NodeID[str]
    currency: str
    interest: Money = strawberry.field(description="Interest and late interest, gross.")
    principal: Money
    fees: Money = strawberry.field(description="Servicing fees (zero or negative).")
    total: Money = strawberry.field(description="interest + principal + fees: what is paid.")
    line_count: int
    status: SettlementStatementStatus
    paid_at: datetime | None
    payment_reference: str | None = strawberry.field(description="The bank transfer's.")
    created_at: datetime
    version: int
    key: strawberry.Private[uuid.UUID]
    run_key: strawberry.Private[uuid.UUID]
    investor_key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="First day of the run's period.")
    async def period_start(self, info: Info) -> date:
        run = await info.context.loaders.investors.run.load(self.run_key)
        assert run is not None  # a statement's run is a foreign key
        return run.period_start

    @strawberry.field(description="Last day of the run's period.")
    async def period_end(self, info: Info) -> date:
        run = await info.context.loaders.investors.run.load(self.run_key)
        assert run is not None
        return run.period_end

    @strawberry.field(description="The run; null unless you may read runs (`investors:read`).")
    async def run(self, info: Info) -> SettlementRun | None:
        if not _may_read_runs(principal_of(info)):
            return None
        model = await info.context.loaders.investors.run.load(self.run_key)
        return SettlementRun.from_model(model) if model else None

    @strawberry.field
    async def investor(self, info: Info) -> Investor:
        model = await info.context.loaders.investors.investor.load(self.investor_key)
        return Investor.from_model(model, principal_of(info))

    @strawberry.field(description="Every line that makes up the statement, in booking order.")
    async def lines(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> SettlementLineConnection:
        page = await info.context.loaders.investors.lines.load(
            PageKey(self.key, _limit(info, first), after)
        )
        connection = to_connection(page, SettlementLine.from_model)
        connection.total_count = self.line_count
        return connection

    @classmethod
    def from_model(cls, s: StatementModel) -> SettlementStatement:
        return cls(
            id=str(s.id),
            currency=s.currency,
            interest=money_of(s.interest, s.currency),
            principal=money_of(s.principal, s.currency),
            fees=money_of(s.fees, s.currency),
            total=money_of(s.total, s.currency),
            line_count=s.line_count,
            status=StatementStatusEnum(s.status),
            paid_at=s.paid_at,
            payment_reference=s.payment_reference,
            created_at=s.created_at,
            version=s.version,
            key=s.id,
            run_key=s.run_id,
            investor_key=s.investor_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[SettlementStatement | None]:
        principal = principal_of(info)
        ensure_may_read_investors(principal)
        keys = [decode_node_id(n, "SettlementStatement") for n in node_ids]
        found = await info.context.loaders.investors.statement.load_many([k for k in keys if k])
        by_id = {s.id: s for s in found if s is not None and _can_read(principal, s.investor_id)}
        return [cls.from_model(by_id[k]) if k in by_id else None for k in keys]


SettlementStatementConnection = Connection[SettlementStatement]


@strawberry.type(description="One settlement (liquidación) of a period: a statement per investor.")
class SettlementRun(relay.Node):
    id: relay.NodeID[str]
    period_start: date
    period_end: date
    statement_count: int
    line_count: int
    created_at: datetime
    created_by: str
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The run's statements.")
    async def statements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> SettlementStatementConnection:
        access.ensure_can_read_any(principal_of(info))
        page = await info.context.loaders.investors.run_statements.load(
            PageKey(self.key, _limit(info, first), after)
        )
        connection = to_connection(page, SettlementStatement.from_model)
        connection.total_count = self.statement_count
        return connection

    @classmethod
    def from_model(cls, run: RunModel) -> SettlementRun:
        return cls(
            id=str(run.id),
            period_start=run.period_start,
            period_end=run.period_end,
            statement_count=run.statement_count,
            line_count=run.line_count,
            created_at=run.created_at,
            created_by=run.created_by,
            key=run.id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[SettlementRun | None]:
        access.ensure_can_read_any(principal_of(info))
        keys = [decode_node_id(n, "SettlementRun") for n in node_ids]
        found = await info.context.loaders.investors.run.load_many([k for k in keys if k])
        by_id = {r.id: r for r in found if r is not None}
        return [cls.from_model(by_id[k]) if k in by_id else None for k in keys]
