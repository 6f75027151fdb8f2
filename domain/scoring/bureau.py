"""The credit bureau: a :class:`BureauClient` protocol and its HTTP implementation.

The wire format (JSON over HTTPS, one ``POST {url}/v1/reports`` per consulted person)::

    request   {"requestId": "<uuid>", "purpose": "CREDIT_APPLICATION",
               "subject": {"country": "CL", "idType": "RUT", "nationalId": "12345678-5"},
               "consent": {"granted": true}}
    headers   X-Api-Key: <key>
              X-Timestamp: <unix seconds>
              X-Signature: hex HMAC-SHA256(secret, "<timestamp>.<raw body>")
    response  {"requestId": "<uuid>", "reportId": "BR-…", "score": 712,
               "openDebts": {"count": 3, "balance": {"amount": "1250000", "currency": "CLP"}},
               "delinquencies": {"last24Months": 1, "worstDaysPastDue": 45},
               "inquiries": {"last6Months": 2}, "reportedAt": "2026-12-07T10:00:00Z"}

Anything but a 200 with that shape within the timeout — a refused connection, a timeout, a
5xx, a 4xx, a body that is not the format — is :class:`BureauUnavailable`: the application
goes to ``referred``, never to a silent approval. The report keeps no personal data beyond
the figures scoring uses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import httpx

from domain.scoring.errors import BureauUnavailable
from domain.shared.time import utcnow

PATH = "/v1/reports"


@dataclass(frozen=True)
class BureauSubject:
    country: str  # ISO 3166-1 alpha-2
    id_type: str  # RUT, CUIT, DNI, RFC …
    national_id: str


@dataclass(frozen=True)
class BureauReport:
    report_id: str
    score: int | None
    open_debts: int
    open_debt_balance: int | None  # minor units of ``currency``
    currency: str | None
    delinquencies: int
    worst_days_past_due: int
    inquiries: int
    reported_at: str

    def facts(self) -> dict[str, Any]:
        return {
            "bureau_score": self.score,
            "bureau_open_debts": self.open_debts,
            "bureau_delinquencies": self.delinquencies,
            "bureau_inquiries": self.inquiries,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "reportId": self.report_id,
            "score": self.score,
            "openDebts": self.open_debts,
            "openDebtBalance": self.open_debt_balance,
            "currency": self.currency,
            "delinquencies": self.delinquencies,
            "worstDaysPastDue": self.worst_days_past_due,
            "inquiries": self.inquiries,
            "reportedAt": self.reported_at,
        }


class BureauClient(Protocol):
    async def report(self, subject: BureauSubject) -> BureauReport:
        """The subject's report, or :class:`BureauUnavailable`."""
        ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _count(data: Any, *path: str) -> int:
    node = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise BureauUnavailable(f"malformed answer: no {'.'.join(path)}")
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, int) or node < 0:
        raise BureauUnavailable(f"malformed answer: {'.'.join(path)} is not a count")
    return node


def parse_report(data: Any, *, request_id: str) -> BureauReport:
    """Read the bureau's answer; anything off its format is :class:`BureauUnavailable`."""
    if not isinstance(data, dict):
        raise BureauUnavailable("malformed answer: not an object")
    if data.get("requestId") != request_id:
        raise BureauUnavailable("malformed answer: the requestId is not ours")
    score = data.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int)):
        raise BureauUnavailable("malformed answer: score is not an integer")
    if score is not None and not 0 <= score <= 2000:
        raise BureauUnavailable("malformed answer: score out of range")
    balance = None
    currency = None
    raw_balance = (
        (data.get("openDebts") or {}).get("balance")
        if isinstance(data.get("openDebts"), dict)
        else None
    )
    if raw_balance is not None:
        if not isinstance(raw_balance, dict) or not isinstance(raw_balance.get("amount"), str):
            raise BureauUnavailable("malformed answer: openDebts.balance")
        try:
            amount = Decimal(raw_balance["amount"])
        except InvalidOperation as exc:
            raise BureauUnavailable("malformed answer: openDebts.balance.amount") from exc
        if amount != amount.to_integral_value() or amount < 0:
            raise BureauUnavailable("malformed answer: openDebts.balance.amount (minor units)")
        balance = int(amount)
        currency = str(raw_balance.get("currency") or "")[:3] or None
    report_id = data.get("reportId")
    if not isinstance(report_id, str) or not report_id or len(report_id) > 100:
        raise BureauUnavailable("malformed answer: reportId")
    reported_at = data.get("reportedAt")
    if not isinstance(reported_at, str) or len(reported_at) > 40:
        raise BureauUnavailable("malformed answer: reportedAt")
    return BureauReport(
        report_id=report_id,
        score=score,
        open_debts=_count(data, "openDebts", "count"),
        open_debt_balance=balance,
        currency=currency,
        delinquencies=_count(data, "delinquencies", "last24Months"),
        worst_days_past_due=_count(data, "delinquencies", "worstDaysPastDue"),
        inquiries=_count(data, "inquiries", "last6Months"),
        reported_at=reported_at,
    )


class HttpBureauClient:
    """The bureau over HTTP. Give it a shared :class:`httpx.AsyncClient` to reuse
    connections (the worker does); without one each call opens its own."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        secret: str,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/") + PATH
        self.api_key = api_key
        self.secret = secret
        self.timeout = timeout
        self.http = http

    async def report(self, subject: BureauSubject) -> BureauReport:
        request_id = str(uuid.uuid4())
        body = json.dumps(
            {
                "requestId": request_id,
                "purpose": "CREDIT_APPLICATION",
                "subject": {
                    "country": subject.country,
                    "idType": subject.id_type,
                    "nationalId": subject.national_id,
                },
                "consent": {"granted": True},
            },
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(utcnow().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Api-Key": self.api_key,
            "X-Timestamp": timestamp,
            "X-Signature": sign(self.secret, timestamp, body),
        }
        try:
            if self.http is not None:
                response = await self.http.post(
                    self.url, content=body, headers=headers, timeout=self.timeout
                )
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as http:
                    response = await http.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise BureauUnavailable(f"timeout after {self.timeout} s") from exc
        except httpx.HTTPError as exc:
            raise BureauUnavailable(f"unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise BureauUnavailable(f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise BureauUnavailable("malformed answer: not JSON") from exc
        return parse_report(data, request_id=request_id)
