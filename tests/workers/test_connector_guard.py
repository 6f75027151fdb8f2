"""Connections to partner platforms are judged where they are made (app/outbound.py): after
name resolution, every address, the socket going to a judged address while Host, SNI and
the certificate check keep the name. No test here sends a packet to anything but loopback:
internal addresses come from a stand-in resolver, and the network backend behind the guard
only records where it was asked to connect."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.outbound import AddressRefused, GuardedBackend, guarded_client, refusal_of
from app.settings import reset_settings
from domain.cases import sync
from domain.shared.netguard import STRICT, AddressPolicy
from tests.domain.cases.test_connector_addresses import INTERNAL_HOSTS
from workers.actors import case_sync

LOOPBACK = AddressPolicy.allowing(["127.0.0.0/8", "::1"])


# --- a platform on loopback -------------------------------------------------------------
@dataclass
class Platform:
    """Answers every request with ``status`` (and ``location``), recording what came."""

    status: int = 200
    location: str | None = None
    tls: ssl.SSLContext | None = None
    seen: list[dict[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> Platform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                platform.seen.append({"path": self.path, "host": self.headers.get("host", "")})
                body = json.dumps({"access_token": "tok", "expires_in": 300}).encode()
                self.send_response(platform.status)
                if platform.location:
                    self.send_header("Location", platform.location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def platforms() -> Iterator[list[Platform]]:
    started: list[Platform] = []
    yield started
    for platform in started:
        platform.stop()


def start(platforms: list[Platform], **options: Any) -> Platform:
    platform = Platform(**options).start()
    platforms.append(platform)
    return platform


# --- the guard, with a stand-in resolver and network ------------------------------------
class Recorder(httpcore.AsyncNetworkBackend):
    """Records connection attempts and makes none."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> Any:
        self.asked.append(host)
        raise httpcore.ConnectError("recorded, not connected")

    async def sleep(self, seconds: float) -> None:
        pass


def resolver_of(*answers: list[str]) -> Any:
    """A resolver answering each call with the next list (the last one repeats)."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    return resolve


async def test_every_internal_address_is_refused_before_connecting() -> None:
    recorder = Recorder()
    guard = GuardedBackend(STRICT, inner=recorder)
    for host, words in INTERNAL_HOSTS:
        name = host.strip("[]")
        if name.endswith("localhost"):
            continue  # a name: resolved below
        with pytest.raises(AddressRefused) as refused:
            await guard.connect_tcp(name, 443)
        assert words in refused.value.reason, (host, refused.value.reason)
    assert recorder.asked == []


async def test_every_address_of_a_name_is_checked() -> None:
    recorder = Recorder()
    guard = GuardedBackend(
        STRICT, inner=recorder, resolver=resolver_of(["93.184.216.34", "169.254.169.254"])
    )
    with pytest.raises(AddressRefused) as refused:
        await guard.connect_tcp("platform.partner.example", 443)
    assert "link-local" in refused.value.reason and recorder.asked == []


async def test_a_name_that_rebinds_to_an_internal_address_is_refused() -> None:
    """DNS rebinding: public when first resolved, loopback the next time."""
    recorder = Recorder()
    guard = GuardedBackend(
        STRICT,
        inner=recorder,
        resolver=resolver_of(["93.184.216.34"], ["127.0.0.1"], ["::ffff:10.0.0.8"]),
    )
    with pytest.raises(httpcore.ConnectError, match="recorded"):
        await guard.connect_tcp("platform.partner.example", 443)
    assert recorder.asked == ["93.184.216.34"]  # the judged address, not the name
    for words in ("loopback", "private"):
        with pytest.raises(AddressRefused, match=words):
            await guard.connect_tcp("platform.partner.example", 443)
    assert recorder.asked == ["93.184.216.34"]


async def test_an_allowed_private_network_is_reached() -> None:
    recorder = Recorder()
    guard = GuardedBackend(
        AddressPolicy.allowing(["10.40.0.0/16"]),
        inner=recorder,
        resolver=resolver_of(["10.40.3.7"], ["10.41.0.1"]),
    )
    with pytest.raises(httpcore.ConnectError, match="recorded"):
        await guard.connect_tcp("platform.partner.internal", 443)
    with pytest.raises(AddressRefused, match="private"):
        await guard.connect_tcp("platform.partner.internal", 443)
    assert recorder.asked == ["10.40.3.7"]


# --- real connections on loopback -------------------------------------------------------
async def test_localhost_resolves_to_loopback_and_is_refused(platforms: list[Platform]) -> None:
    platform = start(platforms)
    for url in (
        f"http://localhost:{platform.port}/cases",
        f"http://127.0.0.1:{platform.port}/cases",
        f"http://[::ffff:127.0.0.1]:{platform.port}/cases",
    ):
        async with guarded_client(STRICT, timeout=5, https_only=False) as client:
            with pytest.raises(httpx.ConnectError) as refused:
                await client.post(url, content=b"{}")
        assert "loopback" in str(refusal_of(refused.value)), url
    assert platform.seen == []
    # Allowed explicitly (the test settings do), the same platform is reached, and the
    # Host header keeps the name the URL gave.
    async with guarded_client(LOOPBACK, timeout=5, https_only=False) as client:
        response = await client.post(f"http://localhost:{platform.port}/cases", content=b"{}")
    assert response.status_code == 200
    assert platform.seen == [{"path": "/cases", "host": f"localhost:{platform.port}"}]


def tls_for(name: str, directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``name`` only, and a client trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    seen_sni: list[str | None] = []
    server.sni_callback = lambda sock, sni, ctx: seen_sni.append(sni)  # type: ignore[assignment,misc]
    server.seen_sni = seen_sni  # type: ignore[attr-defined]
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


async def test_https_keeps_the_name_for_sni_and_the_certificate(
    platforms: list[Platform], tmp_path: Path
) -> None:
    server_tls, client_tls = tls_for("platform.partner.test", tmp_path)
    platform = start(platforms, tls=server_tls)
    url = f"https://platform.partner.test:{platform.port}/cases"
    resolve = resolver_of(["127.0.0.1"])
    async with guarded_client(
        LOOPBACK, timeout=5, https_only=True, verify=client_tls, resolver=resolve
    ) as client:
        response = await client.post(url, content=b"{}")
    assert response.status_code == 200
    assert platform.seen == [{"path": "/cases", "host": f"platform.partner.test:{platform.port}"}]
    assert server_tls.seen_sni == ["platform.partner.test"]  # type: ignore[attr-defined]
    # Production sends https only.
    async with guarded_client(LOOPBACK, timeout=5, https_only=True) as client:
        with pytest.raises(httpx.UnsupportedProtocol) as refused:
            await client.post(f"http://127.0.0.1:{platform.port}/cases", content=b"{}")
    assert "only https" in str(refusal_of(refused.value))


# --- the push job ------------------------------------------------------------------------
@pytest.fixture
def allowance_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The production default: no internal network allowed."""
    monkeypatch.setenv("TRAMA_CONNECTOR_ALLOWED_NETWORKS", "")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def plan(url: str, **options: Any) -> sync.PushPlan:
    values: dict[str, Any] = {
        "case_id": uuid.uuid4(),
        "partner_id": uuid.uuid4(),
        "reference": "CS-2026-000001",
        "version": 1,
        "endpoint_url": url,
        "auth_type": "NONE",
        "timeout_seconds": 2,
        "connector_version": 1,
        "body": b"{}",
        "idempotency_key": "k",
        "signing_secret": "s" * 40,
    }
    values.update(options)
    return sync.PushPlan(**values)


async def test_a_push_to_a_loopback_platform_is_refused_without_the_allowance(
    platforms: list[Platform], allowance_off: None
) -> None:
    platform = start(platforms)
    for host in ("localhost", "127.0.0.1"):
        with pytest.raises(case_sync.PushRefused, match="loopback"):
            await case_sync.deliver(plan(f"http://{host}:{platform.port}/trama/cases"))
    # An OAuth token endpoint on loopback likewise, before any push.
    token_on_loopback = json.dumps(
        {
            "token_url": f"http://localhost:{platform.port}/token",
            "client_id": "trama",
            "client_secret": "x",
        }
    )
    with pytest.raises(case_sync.PushRefused, match=r"token endpoint: .*loopback"):
        await case_sync.deliver(
            plan(
                "https://platform.partner.example/trama/cases",
                auth_type="OAUTH2_CLIENT_CREDENTIALS",
                auth_credentials=token_on_loopback,
                partner_id=uuid.uuid4(),
            )
        )
    assert platform.seen == []


async def test_a_push_reaches_loopback_when_the_settings_allow_it(
    platforms: list[Platform],
) -> None:
    platform = start(platforms)
    assert await case_sync.deliver(plan(f"http://localhost:{platform.port}/c")) == 200
    assert platform.seen == [{"path": "/c", "host": f"localhost:{platform.port}"}]


async def test_redirects_are_not_followed(platforms: list[Platform]) -> None:
    """A platform answering with a redirect to an internal address gets no second hop."""
    inner = start(platforms)  # stands for the internal address it points to
    redirecting = start(
        platforms, status=307, location=f"http://127.0.0.1:{inner.port}/latest/meta-data/"
    )
    with pytest.raises(case_sync.PushRefused, match="redirects are not followed"):
        await case_sync.deliver(plan(f"http://127.0.0.1:{redirecting.port}/c"))
    assert len(redirecting.seen) == 1 and inner.seen == []
