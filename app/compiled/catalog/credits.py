"""Credits: the staff list, ``myCredits``, one credit by id or reference, ``node``; its
customer (masked by the customers' rule), lender, installments of the schedule in force,
every schedule with its rows, payments (pages, with their allocations) and live position.
Visibility is :func:`domain.credits.access.visible_to`; figures :mod:`domain.credits.figures`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.compiled.catalog import CATALOG
from app.compiled.catalog.common import money
from app.compiled.plan import global_id
from app.compiled.roots import NODES, ROOTS, ListRoot, NodeRule, OneRoot
from app.compiled.spec import (
    Custom,
    Items,
    Many,
    Obj,
    One,
    Pages,
    Sub,
    TypeSpec,
    Val,
    computed,
)
from domain.credits import access, batches, figures, payoff
from domain.credits import service as credits
from domain.credits.models import Allocation, Credit, CreditSchedule, Installment, Payment
from domain.shared.errors import ValidationFailed
from domain.shared.models import table_of
from domain.shared.pagination import clamp_page_size
from domain.shared.reads import KeysetQuery, NestedQuery
from resolvers.credit_registry import _filter_ids
from resolvers.ids import decode_node_id
from schema.credit_inputs import CreditFilter

CREDITS = table_of(Credit)


def _money(name: str, currency: str = "currency") -> Any:
    return money(name, currency, nullable=False)


def _components(order: str) -> list[str]:
    """The stored allocation order ("INTEREST,PRINCIPAL,…") as its components."""
    return [c for c in order.split(",") if c]


def _or_none(value: str | None) -> str | None:
    return value or None


# --- the credit -----------------------------------------------------------------------------
CREDIT = TypeSpec(
    "Credit",
    table=CREDITS,
    fields={
        "id": Val("id", global_id("Credit")),
        "reference": Val("reference"),
        "productCode": Val("product_code"),
        "currency": Val("currency"),
        "principal": _money("principal"),
        "annualRate": Val("annual_rate"),
        "lateAnnualRate": Val("late_annual_rate"),
        "termMonths": Val("term_months"),
        "scheme": Val("scheme"),
        "dayCount": Val("day_count"),
        "graceMonths": Val("grace_months"),
        "graceKind": Val("grace_kind"),
        "charges": Obj("CreditCharges"),
        "allocationOrder": Val(computed(_components, "allocation_order")),
        "allocationMode": Val("allocation_mode"),
        "vehicleRef": Val("vehicle_ref"),
        "timezone": Val("timezone"),
        "plannedDisbursementDate": Val("planned_disbursement_date"),
        "disbursementDate": Val("disbursement_date"),
        "status": Val("status"),
        "statusReason": Val("status_reason"),
        "scheduleNo": Val("schedule_no"),
        "daysPastDue": Val("days_past_due"),
        "agingBucket": Val("aging_bucket"),
        "delinquentSince": Val("delinquent_since"),
        "creditBalance": _money("credit_balance"),
        "outstandingPrincipal": _money("outstanding_principal"),
        "paidOffOn": Val("paid_off_on"),
        "closedAt": Val("closed_at"),
        "createdAt": Val("created_at"),
        "updatedAt": Val("updated_at"),
        "version": Val("version"),
        "customer": One("Customer", key="customer_id"),
        "lender": One("Partner", key="partner_id"),
        "installments": Many(
            "CreditInstallment",
            key="id",
            parent="credit_id",
            query=lambda req, ids, args: credits.installments_query(ids),
            bind={"currency": "currency", "in_schedule": "schedule_no"},
        ),
        "schedules": Many(
            "CreditScheduleVersion",
            key="id",
            parent="credit_id",
            query=lambda req, ids, args: batches.schedules_query(ids),
            bind={"currency": "currency", "in_force": "schedule_no"},
        ),
        "payments": Pages(
            "PaymentConnection",
            node="Payment",
            key="id",
            parent="credit_id",
            query=lambda *a: _payments(*a),
            cursor_keys=("paid_at", "id"),
            count=lambda *a: _payment_counts(*a),
            bind={"credit_currency": "currency"},
        ),
        "nextInstallment": Custom(
            "NextInstallment",
            key="id",
            needs=(),
            fetch=lambda *a: _next_installments(*a),
            bind={"currency": "currency"},
        ),
        "position": Custom(
            "CreditPosition",
            key="id",
            needs=(),
            fetch=lambda *a: _positions(*a),
            bind={"currency": "currency", "in_schedule": "schedule_no"},
        ),
    },
)

CHARGES = TypeSpec(
    "CreditCharges",
    fields={
        "openingFee": _money("opening_fee"),
        "openingFeeMode": Val("opening_fee_mode"),
        "monthlyInsurance": _money("monthly_insurance"),
        "monthlyCharges": _money("monthly_charges"),
    },
)

# An installment, stored (a row) or live (a position's ``InstallmentState``): the same
# names. ``currency`` and ``in_schedule`` come from the enclosing credit or schedule.
_AMOUNT = computed(
    figures.installment_amount, "interest", "capitalised", "principal", "insurance", "other_charges"
)
_PAID = computed(
    figures.paid, "principal_paid", "interest_paid", "charges_paid", "late_interest_paid"
)
_WRITTEN_OFF = computed(
    figures.written_off,
    "principal_written_off",
    "interest_written_off",
    "charges_written_off",
    "late_interest_written_off",
)
INSTALLMENT = TypeSpec(
    "CreditInstallment",
    table=table_of(Installment),
    fields={
        "scheduleNo": Val("in_schedule"),
        "number": Val("number"),
        "dueDate": Val("due_date"),
        "days": Val("days"),
        "openingBalance": _money("opening_balance"),
        "interest": _money("interest"),
        "capitalised": _money("capitalised"),
        "principal": _money("principal"),
        "insurance": _money("insurance"),
        "otherCharges": _money("other_charges"),
        "charges": money(computed(figures.charges, "insurance", "other_charges"), "currency"),
        "installment": money(_AMOUNT, "currency", nullable=False),
        "closingBalance": money(
            computed(figures.closing_balance, "opening_balance", "capitalised", "principal"),
            "currency",
            nullable=False,
        ),
        "principalPaid": _money("principal_paid"),
        "interestPaid": _money("interest_paid"),
        "chargesPaid": _money("charges_paid"),
        "lateInterestAccrued": _money("late_interest_accrued"),
        "lateInterestPaid": _money("late_interest_paid"),
        "paid": money(_PAID, "currency", nullable=False),
        "principalWrittenOff": _money("principal_written_off"),
        "interestWrittenOff": _money("interest_written_off"),
        "chargesWrittenOff": _money("charges_written_off"),
        "lateInterestWrittenOff": _money("late_interest_written_off"),
        "writtenOff": money(_WRITTEN_OFF, "currency", nullable=False),
        "outstanding": money(
            computed(
                figures.outstanding,
                "status",
                _AMOUNT,
                "late_interest_accrued",
                _PAID,
                _WRITTEN_OFF,
            ),
            "currency",
            nullable=False,
        ),
        "status": Val("status"),
        "paidOn": Val("paid_on"),
    },
)

SCHEDULE = TypeSpec(
    "CreditScheduleVersion",
    table=table_of(CreditSchedule),
    fields={
        "number": Val("schedule_no"),
        "reason": Val("reason"),
        "inForce": Val(computed(lambda n, f: n == f, "schedule_no", "in_force")),
        "startDate": Val("start_date"),
        "closedOn": Val("closed_on"),
        "principal": _money("principal"),
        "annualRate": Val("annual_rate"),
        "termMonths": Val("term_months"),
        "scheme": Val("scheme"),
        "dayCount": Val("day_count"),
        "graceMonths": Val("grace_months"),
        "graceKind": Val("grace_kind"),
        "openingFee": _money("opening_fee"),
        "openingFeeMode": Val("opening_fee_mode"),
        "monthlyInsurance": _money("monthly_insurance"),
        "monthlyCharges": _money("monthly_charges"),
        "rounding": Val("rounding"),
        "carriedPrincipal": _money("carried_principal"),
        "carriedInterest": _money("carried_interest"),
        "carriedCharges": _money("carried_charges"),
        "carriedLateInterest": _money("carried_late_interest"),
        "carriedBalance": money(
            computed(figures.carried_balance, "carried_balance"), "currency", nullable=False
        ),
        "rows": Many(
            "CreditInstallment",
            key="credit_id",
            parent="credit_id",
            query=lambda req, ids, args: credits.installments_query(ids, current_only=False),
            bind={"currency": "currency", "in_schedule": "schedule_no"},
            match=("schedule_no", "schedule_no"),
        ),
    },
)

PAYMENT = TypeSpec(
    "Payment",
    table=table_of(Payment),
    fields={
        "id": Val("id", global_id("Payment")),
        "amount": money("amount", "currency", nullable=False),
        "creditAmount": _money("credit_amount", "credit_currency"),
        "ufValue": Val("uf_value"),
        "paidAt": Val("paid_at"),
        "paidOn": Val("paid_on"),
        "reference": Val("reference"),
        "idempotencyKey": Val("idempotency_key"),
        "prepayment": Val(computed(_or_none, "prepayment")),
        "status": Val("status"),
        "scheduleNo": Val("schedule_no"),
        "allocatedAmount": _money("allocated_amount", "credit_currency"),
        "heldAmount": _money("held_amount", "credit_currency"),
        "refundedAmount": _money("refunded_amount", "credit_currency"),
        "reversedAt": Val("reversed_at"),
        "reversalReason": Val("reversal_reason"),
        "createdAt": Val("created_at"),
        "credit": One("Credit", key="credit_id"),
        "allocations": Many(
            "PaymentAllocation",
            key="id",
            parent="payment_id",
            query=lambda req, ids, args: batches.allocations_query(ids),
            bind={"credit_currency": "credit_currency"},
        ),
    },
)

ALLOCATION = TypeSpec(
    "PaymentAllocation",
    table=table_of(Allocation),
    fields={
        "scheduleNo": Val("schedule_no"),
        "installmentNumber": Val("installment_number"),
        "component": Val("component"),
        "amount": _money("amount", "credit_currency"),
    },
)

#: A live position (:class:`domain.credits.figures.Position`), in the credit's currency.
_ROW_BIND = {"currency": "currency", "in_schedule": "in_schedule"}
POSITION = TypeSpec(
    "CreditPosition",
    fields={
        "asOf": Val("as_of"),
        "daysPastDue": Val("days_past_due"),
        "agingBucket": Val("aging_bucket"),
        "outstandingPrincipal": _money("outstanding_principal"),
        "overdue": _money("overdue"),
        "lateInterestDue": _money("late_interest_due"),
        "creditBalance": _money("credit_balance"),
        "levelInstallment": money("level_installment", "currency"),
        "paidOffOn": Val("paid_off_on"),
        "nextInstallment": Sub("CreditInstallment", "next_installment", _ROW_BIND),
        "installments": Items("CreditInstallment", "installments", _ROW_BIND),
    },
)

#: The first installment not fully paid today (:func:`domain.credits.payoff.next_installment`).
NEXT_INSTALLMENT = TypeSpec(
    "NextInstallment",
    fields={
        "number": Val("number"),
        "dueDate": Val("due_date"),
        "amount": _money("amount"),
        "outstanding": _money("outstanding"),
        "daysPastDue": Val("days_past_due"),
        "overdueTotal": _money("overdue_total"),
        "asOf": Val("as_of"),
    },
)

CATALOG.add(CREDIT, CHARGES, INSTALLMENT, SCHEDULE, PAYMENT, ALLOCATION, POSITION, NEXT_INSTALLMENT)


# --- lists and values under a credit --------------------------------------------------------
async def _payments(
    req: Any, args: dict[str, Any], parents: dict[Any, tuple[Any, ...]]
) -> list[NestedQuery]:
    settings = req.settings
    limit = clamp_page_size(
        args.get("first"), default=settings.default_page_size, maximum=settings.max_page_size
    )
    return [
        batches.payments_query(
            list(parents),
            limit=limit,
            include_reversed=args.get("include_reversed", True),
            after=args.get("after"),
        )
    ]


async def _payment_counts(req: Any, keys: list[Any], args: dict[str, Any]) -> dict[Any, int]:
    return await batches.payment_counts(
        req.session, keys, include_reversed=args.get("include_reversed", True)
    )


async def _positions(
    req: Any, parents: dict[Any, tuple[Any, ...]], args: dict[str, Any]
) -> dict[Any, figures.Position | None]:
    """Each credit's live position (the same replay as the normal path's loader)."""
    found = await credits.get_many(req.session, list(parents))
    results = await batches.positions_of(
        req.session, [found[k] for k in parents if k in found], as_of=args.get("as_of")
    )
    return {k: None if r is None else figures.position(r) for k, r in results.items()}


async def _next_installments(
    req: Any, parents: dict[Any, tuple[Any, ...]], args: dict[str, Any]
) -> dict[Any, payoff.NextInstallment | None]:
    """Each credit's next installment as of today (the normal path's resolver: a live
    position, then :func:`payoff.next_installment`)."""
    found = await credits.get_many(req.session, list(parents))
    results = await batches.positions_of(
        req.session, [found[k] for k in parents if k in found], as_of=None
    )
    return {k: None if r is None else payoff.next_installment(r) for k, r in results.items()}


# --- roots ----------------------------------------------------------------------------------
def _limit(req: Any, first: int | None) -> int:
    settings = req.settings
    return clamp_page_size(
        first, default=settings.default_page_size, maximum=settings.max_page_size
    )


def _credits(req: Any, args: dict[str, Any]) -> KeysetQuery:
    principal = req.principal
    access.ensure_can_list(principal)  # before any argument is judged
    limit = _limit(req, args.get("first"))
    f = args.get("filter") or CreditFilter()
    customer_id = _filter_ids(f.customer_id, "Customer", "filter.customerId")
    lender_id = _filter_ids(f.lender_id, "Partner", "filter.lenderId")
    return credits.credit_list(
        principal,
        limit=limit,
        after=args.get("after"),
        statuses=[s.value for s in f.status] if f.status else None,
        aging_buckets=[b.value for b in f.aging_bucket] if f.aging_bucket else None,
        customer_id=customer_id,
        partner_id=lender_id,
        reference=f.reference,
    )


def _my_credits(req: Any, args: dict[str, Any]) -> KeysetQuery:
    principal = req.principal
    customer_id = access.ensure_customer(principal)
    limit = _limit(req, args.get("first"))
    status = args.get("status")
    return credits.credit_list(
        principal,
        limit=limit,
        after=args.get("after"),
        statuses=[s.value for s in status] if status else None,
        customer_id=customer_id,
    )


def _visible(req: Any, table: sa.FromClause) -> sa.ColumnElement[bool]:
    return access.visible_to(req.principal)


def _credit(req: Any, args: dict[str, Any]) -> Any:
    access.ensure_can_read(req.principal)
    return decode_node_id(args["id"], "Credit")


def _credit_by_reference(req: Any, args: dict[str, Any]) -> Any:
    access.ensure_can_read(req.principal)
    reference = args["reference"]
    if len(reference) > 40:
        raise ValidationFailed.on("reference", "is not a credit reference")
    return reference.strip().upper()


ROOTS["credits"] = ListRoot("Credit", _credits, ("id",))
ROOTS["myCredits"] = ListRoot("Credit", _my_credits, ("id",))
ROOTS["credit"] = OneRoot("Credit", _credit, visible=_visible)
ROOTS["creditByReference"] = OneRoot(
    "Credit", _credit_by_reference, visible=_visible, column="reference"
)
NODES["Credit"] = NodeRule(
    check=lambda req: access.ensure_can_read(req.principal), visible=_visible
)
