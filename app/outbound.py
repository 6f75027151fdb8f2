"""HTTP clients for requests to addresses a partner chose (connectors' endpoints and OAuth
token endpoints), guarded against server-side request forgery.

The check happens where the connection is made, not where the URL is read: the name is
resolved, *every* address it resolves to is judged by the
:class:`~domain.shared.netguard.AddressPolicy` (one refused address refuses the name), and
the socket connects to an address that was judged — so a name that resolves to a public
address when checked and to 127.0.0.1 a moment later (DNS rebinding) cannot slip through.
The URL itself is untouched: the ``Host`` header, TLS SNI and certificate checks all use the
name. Redirects are never followed, proxies from the environment are ignored (they would
make the proxy the judged address), and in production only ``https`` is sent.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx
from httpcore._backends.auto import AutoBackend

from domain.shared.netguard import AddressPolicy, IPAddress, parse_address

Resolver = Callable[[str, int], Awaitable[list[str]]]


class AddressRefused(httpcore.ConnectError):
    """The destination is not one Trama may connect to; ``reason`` says why."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"refused to connect to {host}: {reason}")
        self.host = host
        self.reason = reason


class InsecureSchemeRefused(httpx.UnsupportedProtocol):
    """Plain http where only https is allowed (production)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), through the system resolver."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, judges every address, then connects to a judged one (see the module doc)."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or AutoBackend()

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = parse_address(host)
        if literal is not None:
            found: Iterable[str] = [str(literal)]
        else:
            found = await self.resolver(host, port)
        addresses = [a for a in (parse_address(f) for f in found) if a is not None]
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            reason = self.policy.refusal(address)
            if reason is not None:
                raise AddressRefused(host, reason)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # try the next judged address
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections go through :class:`GuardedBackend`."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        https_only: bool,
        verify: ssl.SSLContext | bool = True,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(verify=verify, trust_env=False, http2=False)
        self.https_only = https_only
        # The pool httpx built, with the same TLS settings, but our network backend.
        ssl_context = self._pool._ssl_context
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy, resolver=resolver, inner=inner),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.https_only and request.url.scheme != "https":
            raise InsecureSchemeRefused(
                f"only https may be used in production, not {request.url.scheme}://",
                request=request,
            )
        return await super().handle_async_request(request)


def guarded_client(
    policy: AddressPolicy,
    *,
    timeout: float,
    https_only: bool,
    verify: ssl.SSLContext | bool = True,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    """A client for a partner-chosen address: guarded, no redirects, no proxies."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, https_only=https_only, verify=verify, resolver=resolver),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )


def refusal_of(exc: BaseException) -> str | None:
    """Why the guard refused, when ``exc`` (an httpx error) came from it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressRefused):
            return str(seen)
        if isinstance(seen, InsecureSchemeRefused):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None
