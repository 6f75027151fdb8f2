"""Local stand-ins for what the collections notifier talks to, on free loopback ports:

- :class:`SmtpServer`: a real SMTP server (aiosmtpd) that offers STARTTLS with a
  certificate made for the test (trusted through ``TRAMA_SMTP_CA_FILE``), requires TLS
  before AUTH and AUTH before mail, and records what it accepts. It can defer (4xx) or
  refuse (5xx) on demand, like a relay under load or a mailbox that does not exist.
- :class:`WebhookReceiver`: a lender's platform that checks each request's signature with
  its own HMAC (not Trama's code), refuses stale timestamps, recognises a repeated
  ``Idempotency-Key`` and can answer errors on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

USER = "trama-cobranza"
PASSWORD = "s3cret-smtp-password"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)  # certificate validity: the machine's clock, as TLS checks it
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Accepted:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool
    authenticated: bool

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    folder: Path
    port: int = field(default_factory=free_port)
    tls: bool = True
    accepted: list[Accepted] = field(default_factory=list)
    #: Answer the next N messages with a temporary failure (451).
    defer_next: int = 0
    #: Recipients refused for good (550).
    unknown: set[str] = field(default_factory=set)
    attempts: int = 0
    _controller: Controller | None = None
    cert: Path | None = None

    # aiosmtpd handler hooks -------------------------------------------------------------
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.unknown:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.defer_next > 0:
            self.defer_next -= 1
            return "451 4.3.0 Try again later"
        self.accepted.append(
            Accepted(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=bytes(envelope.original_content or envelope.content),
                tls=session.ssl is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 Message accepted for delivery"

    @staticmethod
    def _authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USER.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        context = None
        if self.tls:
            self.cert, key = self_signed(self.folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.cert), str(key))
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=self.tls,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=self.tls,
            server_hostname="smtp.test",
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


# --- the lender's platform ---------------------------------------------------------------
@dataclass
class Delivery:
    key: str
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    duplicate: bool


@dataclass
class WebhookReceiver:
    secret: str
    port: int = field(default_factory=free_port)
    received: list[Delivery] = field(default_factory=list)
    refused: int = 0
    fail_status: int | None = None
    fail_times: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/trama/collections"

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.received if not d.duplicate]

    def _signed(self, request: Request, body: bytes) -> bool:
        timestamp = request.headers.get("x-trama-timestamp", "")
        signature = request.headers.get("x-trama-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(f"sha256={expected}", signature)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if not self._signed(request, body):
            self.refused += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self.fail_status is not None and self.fail_times != 0:
            self.fail_times -= 1
            return JSONResponse({"error": "down"}, status_code=self.fail_status)
        key = request.headers.get("idempotency-key", "")
        seen = {d.key for d in self.received}
        self.received.append(
            Delivery(key, json.loads(body), body, dict(request.headers), key in seen)
        )
        return JSONResponse({"ok": True, "duplicate": key in seen}, status_code=200)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/trama/collections", self._receive, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(200):
            if self._server.started:
                return
            await asyncio.sleep(0.02)
        raise RuntimeError("the webhook receiver did not start")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
