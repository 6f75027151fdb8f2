"""The assistant's API as its partner system calls it: the short status after a verified
factor, a wrong factor counted, an agent refused; a conversation logged with a hand-off."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db import read_session
from domain.partners.models import Partner
from tests.domain.crm.test_assistant import DOB, caller

STATUS = """
mutation($nid: NationalIdInput!, $v: AssistantVerificationInput!) {
  creditStatusForAssistant(nationalId: $nid, verification: $v) {
    __typename
    ... on AssistantCreditStatus { credits { reference status daysPastDue
        nextInstallmentDueDate nextInstallmentAmount { amount currency }
        payoffAmount { amount currency } payoffValidUntil } }
    ... on VerificationFailedError { code attemptsLeft }
    ... on VerificationLockedError { code retryAfter }
    ... on UserError { code message }
  }
}"""
LOG = """
mutation($input: LogAssistantConversationInput!) {
  logAssistantConversation(input: $input) {
    __typename
    ... on LogAssistantConversationSuccess { created conversation { id turns handoff taskId } }
    ... on ValidationError { code field }
    ... on UserError { code message }
  }
}"""


async def test_the_assistant_through_graphql(gql: Any, token: Any) -> None:
    customer, credit = await caller()
    async with read_session() as session:
        code = (
            await session.execute(sa.select(Partner.code).where(Partner.id == credit.partner_id))  # type: ignore[arg-type]
        ).scalar_one()
    ana = token("partner_system", partner=code, subject="client:ana")
    nid = {"type": customer.national_id_type, "number": customer.national_id}
    ok = await gql(STATUS, {"nid": nid, "v": {"dateOfBirth": DOB.isoformat()}}, token=ana)
    answer = ok["data"]["creditStatusForAssistant"]
    assert answer["__typename"] == "AssistantCreditStatus", ok
    line = next(c for c in answer["credits"] if c["reference"] == credit.reference)
    assert line["payoffAmount"]["currency"] == credit.currency
    wrong = await gql(STATUS, {"nid": nid, "v": {"phoneLastDigits": "0000"}}, token=ana)
    failed = wrong["data"]["creditStatusForAssistant"]
    assert failed["__typename"] == "VerificationFailedError"
    assert (failed["code"], failed["attemptsLeft"]) == ("VERIFICATION_FAILED", 2)
    agent = token("agent", partner=code)
    refused = await gql(STATUS, {"nid": nid, "v": {"dateOfBirth": DOB.isoformat()}}, token=agent)
    assert refused["data"]["creditStatusForAssistant"]["__typename"] == "ForbiddenError"
    turns = [
        {"speaker": "ASSISTANT", "text": "Hola, soy Ana", "at": "2026-12-02T17:50:00Z"},
        {"speaker": "CALLER", "text": "Quiero hablar con alguien", "at": "2026-12-02T17:50:30Z"},
    ]
    data = {
        "externalId": "pbx-api-1",
        "channel": "PHONE",
        "startedAt": "2026-12-02T17:50:00Z",
        "turns": turns,
        "outcome": "HANDED_OFF",
        "nationalId": nid,
        "handoff": {"kind": "TASK", "reason": "Pide un asesor"},
    }
    logged = await gql(LOG, {"input": data}, token=ana)
    result = logged["data"]["logAssistantConversation"]
    assert result["__typename"] == "LogAssistantConversationSuccess", logged
    assert result["created"] is True and result["conversation"]["turns"] == 2
    assert result["conversation"]["taskId"] is not None
    bad = await gql(LOG, {"input": {**data, "externalId": "pbx-api-2", "turns": []}}, token=ana)
    assert bad["data"]["logAssistantConversation"]["__typename"] == "ValidationError"
