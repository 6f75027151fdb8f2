"""The assistant Ana (issue 12): conversations logged by the assistant's system, and the
short credit status it may give a caller it has verified.

Who: a ``partner_system`` client of a lender with the ``assistant`` scope (its principal's
partner is the lender). Everything is on behalf of that lender: a conversation's person is
matched among the lender's leads and the network's customers; the status lists the
customer's credits with that lender only.

Verification: the caller gives their national ID and one or more factors the customer
registered — the date of birth (:func:`register_verification_factors`, by the customer
or their home partner's staff) and the last four digits of the customer's phone. Every given
factor must match; an unknown national ID fails exactly like a wrong factor (the answer
never tells whether someone is a customer). Failures are counted per national ID
(:data:`MAX_ID_FAILURES` within :data:`WINDOW`, then locked for :data:`ID_LOCK`) and per
client (:data:`MAX_CLIENT_FAILURES`, :data:`CLIENT_LOCK`), so neither one caller trying many
birthdays nor one client trying many people gets far; a success clears the national ID's
count. Counters are written even when the answer is "not verified" (the service returns
the refusal as data, so the transaction commits). Every lookup — verified, refused or
locked — is audited, with the national ID masked.

The status is deliberately short: per credit its reference, status, currency, next
installment (number, due date, amount still owed), days past due and a payoff quote valid
today. Nothing else about the customer is returned.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.cases import service as cases
from domain.cases.models import CaseTypology
from domain.cases.models import Channel as CaseChannel
from domain.credits import ledger
from domain.credits import payoff as credit_payoff
from domain.credits.models import Credit
from domain.credits.policy import get_policy, today
from domain.credits.states import OPEN_STATUSES
from domain.crm import events as crm_events
from domain.crm.appointments import _business_day_after
from domain.crm.assistant_models import (
    AssistantConversation,
    ConversationChannel,
    ConversationOutcome,
    CustomerVerificationFactors,
    HandoffKind,
    Speaker,
    VerificationLock,
)
from domain.crm.models import TaskKind, TimelineKind
from domain.crm.parties import Party, PartyKind, find_party_by_contact
from domain.crm.tasks import create_task
from domain.crm.timeline import add_timeline_item
from domain.customers.models import Customer
from domain.shared import audit
from domain.shared import national_ids as nids
from domain.shared.errors import Forbidden, NotFound, Problems, ValidationFailed
from domain.shared.principal import SYSTEM, Principal, Role, Scope
from domain.shared.sql import for_update
from domain.shared.time import ensure_utc, isoformat, utcnow

MAX_ID_FAILURES = 3
MAX_CLIENT_FAILURES = 10
WINDOW = timedelta(minutes=30)
ID_LOCK = timedelta(minutes=30)
CLIENT_LOCK = timedelta(minutes=15)
MAX_TURNS = 500
MAX_TURN_TEXT = 4000

#: Case typology of a hand-off by the detected intent (others: RECLAMO).
CASE_TYPOLOGY_BY_INTENT = {
    "payment_not_applied": "PAGO_NO_APLICADO",
    "unrecognized_charge": "CARGO_NO_RECONOCIDO",
    "duplicate_charge": "CARGO_DUPLICADO",
    "insurance_cancellation": "ANULACION_SEGURO",
    "statement_dispute": "DISPUTA_ESTADO_CUENTA",
    "interest_refund": "DEVOLUCION_INTERESES",
}
DEFAULT_CASE_TYPOLOGY = "RECLAMO"


def _ensure_assistant(principal: Principal) -> uuid.UUID:
    if not principal.has_scope(Scope.ASSISTANT) or principal.partner_id is None:
        raise Forbidden("the assistant's client of a lender (assistant scope) only")
    return principal.partner_id


def _client_key(principal: Principal) -> str:
    return f"client:{principal.partner_id}:{principal.client_id or principal.subject}"[:120]


def _id_key(national_id: nids.NationalId) -> str:
    digest = hashlib.sha256(f"{national_id.type.value}:{national_id.number}".encode())
    return f"nid:{digest.hexdigest()}"


# --- verification factors -------------------------------------------------------------------
async def register_verification_factors(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, date_of_birth: date
) -> CustomerVerificationFactors:
    """The customer themself, their home partner's staff (customers:write) or an admin.
    Audited without the value."""
    customer = await session.get(Customer, customer_id)
    own = principal.has_role(Role.CUSTOMER) and principal.customer_id == customer_id
    staff = (
        customer is not None
        and principal.has_scope(Scope.CUSTOMERS_WRITE)
        and principal.partner_id == customer.home_partner_id
    )
    if customer is None or not (own or staff or principal.is_admin):
        raise NotFound("Customer", customer_id)
    if not date(1900, 1, 1) <= date_of_birth < today("America/Santiago"):
        raise ValidationFailed.on("dateOfBirth", "must be a past date after 1900")
    factors = await session.get(CustomerVerificationFactors, customer_id)
    if factors is None:
        factors = CustomerVerificationFactors(
            customer_id=customer_id, date_of_birth=date_of_birth, registered_by=principal.subject
        )
    else:
        factors.date_of_birth = date_of_birth
        factors.registered_at = utcnow()
        factors.registered_by = principal.subject
    session.add(factors)
    await session.flush()
    audit.record(
        session,
        principal=principal,
        action="customer.register_verification_factors",
        entity_type="Customer",
        entity_id=customer_id,
        after={"factors": ["dateOfBirth"]},
    )
    return factors


# --- the status lookup ----------------------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    date_of_birth: date | None = None
    phone_last_digits: str | None = None


@dataclass(frozen=True)
class CreditStatusLine:
    reference: str
    status: str
    currency: str
    days_past_due: int
    next_installment_number: int | None
    next_installment_due: date | None
    next_installment_amount: int | None
    payoff_amount: int | None
    payoff_valid_until: date | None


@dataclass(frozen=True)
class AssistantStatus:
    verified: bool
    credits: list[CreditStatusLine]
    #: When not verified: tries left for this national ID before it is locked.
    attempts_left: int | None = None
    #: Locked out (this national ID or this client) until then: nothing was checked.
    locked_until: datetime | None = None


async def _lock(session: AsyncSession, key: str) -> VerificationLock:
    row = (
        await session.execute(
            for_update(sa.select(VerificationLock).where(VerificationLock.key == key), session)  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()
    if row is None:
        row = VerificationLock(key=key, failures=0, window_started_at=utcnow())
        session.add(row)
        await session.flush()
    return row


def _locked_until(row: VerificationLock, now: datetime) -> datetime | None:
    if row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


def _fail(row: VerificationLock, now: datetime, limit: int, lock_for: timedelta) -> int:
    if (
        row.locked_until is not None and row.locked_until <= now
    ) or now - row.window_started_at > WINDOW:
        row.failures = 0
        row.window_started_at = now
        row.locked_until = None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + lock_for
    return max(0, limit - row.failures)


def _matches(
    customer: Customer | None, factors: CustomerVerificationFactors | None, given: Verification
) -> bool:
    if customer is None:
        return False
    checks: list[bool] = []
    if given.date_of_birth is not None:
        registered = factors.date_of_birth if factors is not None else None
        checks.append(registered is not None and registered == given.date_of_birth)
    if given.phone_last_digits is not None:
        phone = customer.phone or ""
        checks.append(len(phone) >= 4 and hmac.compare_digest(phone[-4:], given.phone_last_digits))
    return bool(checks) and all(checks)


async def _status_lines(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, lender: uuid.UUID
) -> list[CreditStatusLine]:
    credits = (
        (
            await session.execute(
                sa.select(Credit)
                .where(
                    Credit.customer_id == customer_id,  # type: ignore[arg-type]
                    Credit.partner_id == lender,  # type: ignore[arg-type]
                    Credit.status.in_(list(OPEN_STATUSES)),  # type: ignore[attr-defined]
                )
                .order_by(Credit.reference)
            )
        )
        .scalars()
        .all()
    )
    lines = []
    for credit in credits:
        result, _, _ = await ledger.compute(
            session, credit, as_of=today(credit.timezone), policy=get_policy()
        )
        upcoming = credit_payoff.next_installment(result)
        quote = await credit_payoff.payoff_quote(session, principal=SYSTEM, credit_id=credit.id)
        lines.append(
            CreditStatusLine(
                reference=credit.reference,
                status=credit.status,
                currency=credit.currency,
                days_past_due=credit.days_past_due,
                next_installment_number=upcoming.number if upcoming else None,
                next_installment_due=upcoming.due_date if upcoming else None,
                next_installment_amount=upcoming.outstanding if upcoming else None,
                payoff_amount=quote.amount,
                payoff_valid_until=quote.valid_until,
            )
        )
    return lines


async def credit_status_for_assistant(
    session: AsyncSession,
    *,
    principal: Principal,
    national_id_type: str,
    national_id: str,
    verification: Verification,
) -> AssistantStatus:
    """See the module. Raises VALIDATION for a malformed ID or no factor (nothing counted).
    A wrong factor answers ``verified=False`` with the tries left, a lockout
    ``locked_until``: both as data, so the counters and the audit record commit."""
    lender = _ensure_assistant(principal)
    problems = Problems()
    parsed: nids.NationalId | None = None
    try:
        parsed = nids.parse(national_id_type, national_id)
    except nids.InvalidNationalId as exc:
        problems.add("nationalId", str(exc))
    digits = verification.phone_last_digits
    if digits is not None and not (len(digits) == 4 and digits.isdigit()):
        problems.add("verification.phoneLastDigits", "the last four digits of the phone")
    if verification.date_of_birth is None and digits is None:
        problems.add("verification", "give the date of birth or the phone's last four digits")
    problems.raise_if_any()
    assert parsed is not None
    now = utcnow()
    masked = nids.mask(parsed.type, parsed.number)
    id_lock = await _lock(session, _id_key(parsed))
    client_lock = await _lock(session, _client_key(principal))
    locked = _locked_until(id_lock, now) or _locked_until(client_lock, now)
    if locked is not None:
        audit.record(
            session,
            principal=principal,
            action="assistant.credit_status_locked",
            entity_type="NationalId",
            entity_id=masked,
            after={"lockedUntil": isoformat(locked)},
        )
        return AssistantStatus(verified=False, credits=[], attempts_left=0, locked_until=locked)
    customer = (
        await session.execute(
            sa.select(Customer).where(
                Customer.national_id_type == parsed.type.value,  # type: ignore[arg-type]
                Customer.national_id == parsed.number,  # type: ignore[arg-type]
            )
        )
    ).scalar_one_or_none()
    factors = await session.get(CustomerVerificationFactors, customer.id) if customer else None
    if not _matches(customer, factors, verification):
        left = _fail(id_lock, now, MAX_ID_FAILURES, ID_LOCK)
        _fail(client_lock, now, MAX_CLIENT_FAILURES, CLIENT_LOCK)
        await session.flush()
        audit.record(
            session,
            principal=principal,
            action="assistant.verification_failed",
            entity_type="NationalId",
            entity_id=masked,
            after={"attemptsLeft": left, "locked": id_lock.locked_until is not None},
        )
        return AssistantStatus(verified=False, credits=[], attempts_left=left)
    assert customer is not None
    id_lock.failures = 0
    id_lock.locked_until = None
    id_lock.window_started_at = now
    await session.flush()
    lines = await _status_lines(session, principal, customer.id, lender)
    audit.record(
        session,
        principal=principal,
        action="assistant.credit_status",
        entity_type="Customer",
        entity_id=customer.id,
        after={"credits": [line.reference for line in lines]},
    )
    return AssistantStatus(verified=True, credits=lines)


# --- conversations --------------------------------------------------------------------------
@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    at: datetime


@dataclass(frozen=True)
class ConversationInput:
    external_id: str
    channel: str
    started_at: datetime
    outcome: str
    turns: list[Turn]
    ended_at: datetime | None = None
    intent: str | None = None
    national_id_type: str | None = None
    national_id: str | None = None
    email: str | None = None
    phone_e164: str | None = None
    handoff: str | None = None
    handoff_reason: str | None = None


def _validate(data: ConversationInput) -> tuple[Problems, nids.NationalId | None]:
    problems = Problems()
    if not data.external_id or len(data.external_id) > 100:
        problems.add("externalId", "1 to 100 characters")
    for name, value, enum in (
        ("channel", data.channel, ConversationChannel),
        ("outcome", data.outcome, ConversationOutcome),
    ):
        try:
            enum(value)
        except ValueError:
            problems.add(name, f"unknown value {str(value)[:30]!r}")
    if data.handoff is not None:
        try:
            HandoffKind(data.handoff)
        except ValueError:
            problems.add("handoff.kind", f"unknown value {str(data.handoff)[:30]!r}")
        if data.outcome != ConversationOutcome.HANDED_OFF.value:
            problems.add("outcome", "a conversation handed off has the outcome HANDED_OFF")
    if data.intent is not None and (
        not data.intent or len(data.intent) > 60 or not data.intent.replace("_", "").isalnum()
    ):
        problems.add("intent", "letters, digits and _, at most 60")
    if not data.turns:
        problems.add("turns", "a conversation has at least one turn")
    if len(data.turns) > MAX_TURNS:
        problems.add("turns", f"at most {MAX_TURNS}")
    started = ensure_utc(data.started_at)
    previous = started
    for index, turn in enumerate(data.turns[:MAX_TURNS]):
        try:
            Speaker(turn.speaker)
        except ValueError:
            problems.add(f"turns[{index}].speaker", f"unknown speaker {str(turn.speaker)[:30]!r}")
        if not turn.text.strip() or len(turn.text) > MAX_TURN_TEXT:
            problems.add(f"turns[{index}].text", f"1 to {MAX_TURN_TEXT} characters")
        at = ensure_utc(turn.at)
        if at < previous:
            problems.add(f"turns[{index}].at", "turns are in order, after the start")
        previous = max(previous, at)
    if data.ended_at is not None and ensure_utc(data.ended_at) < previous:
        problems.add("endedAt", "after the last turn")
    if ensure_utc(data.started_at) > utcnow() + timedelta(minutes=5):
        problems.add("startedAt", "is in the future")
    parsed = None
    if data.national_id is not None:
        try:
            parsed = nids.parse(data.national_id_type or "", data.national_id)
        except nids.InvalidNationalId as exc:
            problems.add("nationalId", str(exc))
    if data.handoff == HandoffKind.CASE.value and data.national_id is None:
        problems.add("nationalId", "a hand-off to a case needs the customer's national ID")
    return problems, parsed


async def log_conversation(
    session: AsyncSession, *, principal: Principal, data: ConversationInput
) -> tuple[AssistantConversation, bool]:
    """Store a finished conversation once per (lender, ``external_id``): on the person's
    timeline, and a hand-off opens a CRM task or a case (typology by intent) linked to it.
    Returns the conversation and whether it is new."""
    lender = _ensure_assistant(principal)
    problems, parsed = _validate(data)
    problems.raise_if_any()
    existing = (
        await session.execute(
            sa.select(AssistantConversation).where(
                AssistantConversation.partner_id == lender,  # type: ignore[arg-type]
                AssistantConversation.external_id == data.external_id,  # type: ignore[arg-type]
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    party: Party | None = None
    customer: Customer | None = None
    if parsed is not None:
        customer = (
            await session.execute(
                sa.select(Customer).where(
                    Customer.national_id_type == parsed.type.value,  # type: ignore[arg-type]
                    Customer.national_id == parsed.number,  # type: ignore[arg-type]
                )
            )
        ).scalar_one_or_none()
        if customer is not None:
            party = Party(PartyKind.CUSTOMER, customer.id, partner_id=customer.home_partner_id)
    if party is None:
        party = await find_party_by_contact(
            session,
            lender_id=lender,
            email=data.email,
            phone_e164=data.phone_e164,
            national_id=(parsed.type.value, parsed.number) if parsed else None,
        )
    if data.handoff == HandoffKind.CASE.value and customer is None:
        raise ValidationFailed.on("nationalId", "no customer with this national ID")
    conversation = AssistantConversation(
        partner_id=lender,
        external_id=data.external_id,
        client_id=principal.client_id,
        channel=data.channel,
        started_at=ensure_utc(data.started_at),
        ended_at=ensure_utc(data.ended_at) if data.ended_at else None,
        intent=data.intent,
        outcome=data.outcome,
        turns=[
            {"speaker": t.speaker, "text": t.text, "at": isoformat(ensure_utc(t.at))}
            for t in data.turns
        ],
        lead_id=party.id
        if party is not None and party.is_lead
        else party.lead_id
        if party
        else None,
        customer_id=None if party is None or party.is_lead else party.id,
        handoff=data.handoff,
        handoff_reason=(data.handoff_reason or "").strip()[:500] or None,
    )
    session.add(conversation)
    await session.flush()
    link = f"assistant conversation {conversation.id}"
    if data.handoff == HandoffKind.TASK.value:
        task = await create_task(
            session,
            principal=SYSTEM,
            partner_id=lender,
            kind=TaskKind.HANDOFF,
            title=f"Assistant hand-off: {data.intent or 'caller asked for a person'}"[:200],
            note=f"{conversation.handoff_reason or ''}\n(transcript: {link})".strip(),
            due_at=await _business_day_after(session, lender),
            lead_id=conversation.lead_id
            if conversation.customer_id is None or conversation.lead_id
            else None,
            customer_id=conversation.customer_id,
            source_ref=f"assistant:{conversation.id}:handoff",
        )
        conversation.task_id = task.id
    elif data.handoff == HandoffKind.CASE.value:
        assert customer is not None
        typology = await _case_typology(session, data.intent)
        case = await cases.open_case(
            session,
            principal=principal,
            customer_id=customer.id,
            typology_code=typology,
            channel=CaseChannel.CALL_CENTER
            if data.channel == ConversationChannel.PHONE.value
            else CaseChannel.WEB,
            description=(
                f"{conversation.handoff_reason or 'Hand-off from the assistant'}"
                f" (transcript: {link})"
            ),
            external_ref=f"assistant:{conversation.id}",
        )
        conversation.case_id = case.id
    session.add(conversation)
    await session.flush()
    if party is not None:
        await add_timeline_item(
            session,
            subject=party,
            kind=TimelineKind.CONVERSATION,
            occurred_at=conversation.started_at,
            visible_to_customer=True,
            partner_id=lender,
            payload=_summary(conversation),
            source_ref=f"assistant:{conversation.id}",
        )
    audit.record(
        session,
        principal=principal,
        action="crm.log_conversation",
        entity_type="AssistantConversation",
        entity_id=conversation.id,
        after=_summary(conversation),
    )
    crm_events.emit(
        session,
        "crm.conversation_logged",
        lender,
        {
            "conversationId": str(conversation.id),
            "channel": conversation.channel,
            "intent": conversation.intent,
            "outcome": conversation.outcome,
            "handoff": conversation.handoff,
        },
        key=str(conversation.id),
    )
    return conversation, True


async def _case_typology(session: AsyncSession, intent: str | None) -> str:
    """The intent's typology; one that needs what a call cannot give (an amount in dispute,
    a card) falls back to :data:`DEFAULT_CASE_TYPOLOGY` (the person taking it over
    reclassifies it)."""
    code = CASE_TYPOLOGY_BY_INTENT.get(intent or "", DEFAULT_CASE_TYPOLOGY)
    typology = (
        await session.execute(sa.select(CaseTypology).where(CaseTypology.code == code))  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if typology is None or typology.requires_amount or typology.requires_card:
        return DEFAULT_CASE_TYPOLOGY
    return code


def _summary(conversation: AssistantConversation) -> dict[str, Any]:
    return {
        "conversationId": str(conversation.id),
        "channel": conversation.channel,
        "intent": conversation.intent,
        "outcome": conversation.outcome,
        "turns": len(conversation.turns),
        "handoff": conversation.handoff,
        "taskId": None if conversation.task_id is None else str(conversation.task_id),
        "caseId": None if conversation.case_id is None else str(conversation.case_id),
    }
