"""Partner connectors: validated, audited, evented, and never giving their secrets away."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import connectors
from domain.cases.connectors import ConnectorChanges
from domain.cases.models import ConnectorAuth, PartnerConnector
from domain.shared.audit import AuditRecord
from domain.shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.models import table_of
from domain.shared.outbox import OutboxEvent
from domain.shared.principal import Role
from tests.domain.cases.conftest import ADMIN, Network, principal

SECRET = "s" * 16 + "-signing-secret-0123456789"
TOKEN = "bearer-token-of-the-platform-abc123"


async def upsert(
    partner_id: uuid.UUID,
    *,
    by: Any = ADMIN,
    expected_version: int | None = None,
    allow_insecure_http: bool = False,
    **changes: Any,
) -> connectors.ConnectorView:
    async with transaction() as session:
        return await connectors.upsert_connector(
            session,
            principal=by,
            partner_id=partner_id,
            changes=ConnectorChanges(**changes),
            expected_version=expected_version,
            allow_insecure_http=allow_insecure_http,
        )


async def written() -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with read_session() as session:
        for model in (PartnerConnector, AuditRecord, OutboxEvent):
            table = table_of(model)
            rows = (await session.execute(sa.select(table))).all()
            out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


async def refused(error: type[Exception], partner_id: uuid.UUID, **kwargs: Any) -> Any:
    before = await written()
    with pytest.raises(error) as caught:
        await upsert(partner_id, **kwargs)
    assert await written() == before
    return caught.value


async def test_a_connector_is_created_and_read_without_its_secrets(net: Network) -> None:
    partner = net.ids["BANCO_ANDINO"]
    view = await upsert(
        partner,
        endpoint_url="https://api.bancoandino.cl/trama/cases",
        signing_secret=SECRET,
        auth_type="BEARER",
        auth_credentials=TOKEN,
    )
    assert view.version == 1 and view.enabled and view.timeout_seconds == 5
    assert view.auth_type is ConnectorAuth.BEARER and view.has_credentials
    assert view.signing_secret_fingerprint == connectors.fingerprint(SECRET)
    assert view.signing_secret_fingerprint.startswith("sha256:")
    assert len(view.signing_secret_fingerprint) == len("sha256:") + 12
    assert not hasattr(view, "signing_secret") and not hasattr(view, "auth_credentials")
    assert SECRET not in repr(view) and TOKEN not in repr(view)
    async with read_session() as session:
        again = await connectors.get_connector(session, principal=ADMIN, partner_id=partner)
        stored = await connectors.connector_for_sync(session, partner)
    assert again == view
    assert stored is not None and stored.signing_secret == SECRET
    assert SECRET not in repr(stored) and TOKEN not in repr(stored)

    async with read_session() as session:
        audit = (
            (
                await session.execute(
                    sa.select(AuditRecord).where(
                        AuditRecord.action == "partners.connector_changed"  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .one()
        )
        event = (
            (
                await session.execute(
                    sa.select(OutboxEvent).where(
                        OutboxEvent.topic == "partners.connector_changed"  # type: ignore[arg-type]
                    )
                )
            )
            .scalars()
            .one()
        )
    for text in (repr(audit.before), repr(audit.after), repr(event.payload)):
        assert SECRET not in text and TOKEN not in text
    assert audit.after is not None
    assert audit.after["signing_secret_fingerprint"] == view.signing_secret_fingerprint
    assert event.payload == {
        "partnerId": gid("Partner", partner),
        "connectorId": str(view.id),
        "version": 1,
        "enabled": True,
        "change": "CREATED",
    }
    assert str(partner) in event.audience


async def test_secrets_are_kept_unless_replaced(net: Network) -> None:
    partner = net.ids["RETAIL_SUR"]
    first = await upsert(
        partner,
        endpoint_url="https://retailsur.example/hooks/cases",
        signing_secret=SECRET,
        auth_type="BASIC",
        auth_credentials="trama:pa55word",
    )
    moved = await upsert(
        partner, expected_version=1, endpoint_url="https://retailsur.example/v2/cases"
    )
    assert moved.version == 2
    assert moved.credentials_fingerprint == first.credentials_fingerprint
    assert moved.signing_secret_fingerprint == first.signing_secret_fingerprint
    rotated = await upsert(partner, expected_version=2, signing_secret=SECRET[::-1])
    assert rotated.signing_secret_fingerprint != first.signing_secret_fingerprint
    # Naming the same auth type again keeps its credentials; a new type needs new ones.
    same = await upsert(partner, expected_version=3, auth_type="BASIC")
    assert same.credentials_fingerprint == first.credentials_fingerprint
    await refused(ValidationFailed, partner, expected_version=4, auth_type="BEARER")
    plain = await upsert(partner, expected_version=4, auth_type="NONE")
    assert not plain.has_credentials and plain.credentials_fingerprint is None
    async with read_session() as session:
        stored = await connectors.connector_for_sync(session, partner)
    assert stored is not None and stored.auth_credentials is None


async def test_enable_and_disable(net: Network) -> None:
    partner = net.ids["BANCO_ANDINO"]
    with pytest.raises(NotFound):
        async with transaction() as session:
            await connectors.set_connector_enabled(
                session, principal=ADMIN, partner_id=partner, enabled=False, expected_version=1
            )
    await upsert(partner, endpoint_url="https://andino.example/cases", signing_secret=SECRET)
    async with transaction() as session:
        off = await connectors.set_connector_enabled(
            session, principal=ADMIN, partner_id=partner, enabled=False, expected_version=1
        )
    assert not off.enabled and off.version == 2
    async with read_session() as session:
        assert await connectors.connector_for_sync(session, partner) is None
        assert await connectors.enabled_partners(session, [partner]) == []
        events = (
            (
                await session.execute(
                    sa.select(OutboxEvent)
                    .where(OutboxEvent.topic == "partners.connector_changed")  # type: ignore[arg-type]
                    .order_by(OutboxEvent.created_at)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
    assert [e.payload["change"] for e in events] == ["CREATED", "DISABLED"]


async def test_versions_guard_concurrent_changes(net: Network) -> None:
    partner = net.ids["BANCO_ANDINO"]
    await refused(
        Conflict,
        partner,
        expected_version=3,
        endpoint_url="https://andino.example/cases",
        signing_secret=SECRET,
    )
    await upsert(partner, endpoint_url="https://andino.example/cases", signing_secret=SECRET)
    error = await refused(
        Conflict, partner, endpoint_url="https://andino.example/cases", signing_secret=SECRET
    )
    assert error.current_version == 1
    error = await refused(Conflict, partner, expected_version=7, enabled=False)
    assert error.current_version == 1


async def test_only_case_administrators_manage_connectors(net: Network) -> None:
    partner = net.ids["BANCO_ANDINO"]
    for who in (
        net.agent("BANCO_ANDINO"),
        net.supervisor("BANCO_ANDINO"),
        net.system("BANCO_ANDINO"),
        net.viewer(),
    ):
        await refused(
            Forbidden,
            partner,
            by=who,
            endpoint_url="https://andino.example/cases",
            signing_secret=SECRET,
        )
        with pytest.raises(Forbidden):
            async with read_session() as session:
                await connectors.get_connector(session, principal=who, partner_id=partner)
    await refused(
        NotFound, uuid.uuid4(), endpoint_url="https://x.example/cases", signing_secret=SECRET
    )
    # An administrator bound to a partner still manages any (admins are network-wide).
    bound_admin = principal(Role.ADMIN, net.ids["RETAIL_SUR"])
    assert (
        await upsert(
            partner,
            by=bound_admin,
            endpoint_url="https://andino.example/cases",
            signing_secret=SECRET,
        )
    ).version == 1


@pytest.mark.parametrize(
    ("changes", "insecure", "field", "words"),
    [
        ({"endpoint_url": ""}, False, "endpointUrl", "give the URL"),
        ({"endpoint_url": "ftp://andino.example/x"}, False, "endpointUrl", "https"),
        ({"endpoint_url": "andino.example/cases"}, False, "endpointUrl", "https"),
        ({"endpoint_url": "http://andino.example/cases"}, False, "endpointUrl", "must use https"),
        ({"endpoint_url": "http://andino.example/cases"}, True, "endpointUrl", "loopback"),
        ({"endpoint_url": "http://127.0.0.1:9000/cases"}, False, "endpointUrl", "https"),
        ({"endpoint_url": "https://127.0.0.1/cases"}, False, "endpointUrl", "loopback"),
        ({"endpoint_url": "https://[::1]/cases"}, False, "endpointUrl", "loopback"),
        ({"endpoint_url": "https://169.254.169.254/latest"}, False, "endpointUrl", "local"),
        ({"endpoint_url": "https://localhost/cases"}, False, "endpointUrl", "loopback"),
        ({"endpoint_url": "https://u:p@andino.example/c"}, False, "endpointUrl", "credentials"),
        ({"endpoint_url": "https://andino.example/c#x"}, False, "endpointUrl", "fragment"),
        ({"endpoint_url": "https://andino.example:99999/c"}, False, "endpointUrl", "valid URL"),
        ({"endpoint_url": "https://andino.example/a b"}, False, "endpointUrl", "spaces"),
        ({"endpoint_url": "https://a.example/" + "x" * 500}, False, "endpointUrl", "500"),
        ({"signing_secret": None}, False, "signingSecret", "required"),
        ({"signing_secret": "short"}, False, "signingSecret", "32-200"),
        ({"signing_secret": "x" * 31 + " y"}, False, "signingSecret", "no spaces"),
        ({"auth_type": "KERBEROS"}, False, "authType", "one of"),
        ({"auth_type": "BEARER"}, False, "authCredentials", "required"),
        ({"auth_type": "BEARER", "auth_credentials": "a b"}, False, "authCredentials", "no spaces"),
        ({"auth_type": "BASIC", "auth_credentials": "nocolon"}, False, "authCredentials", "user"),
        ({"auth_credentials": "tok"}, False, "authCredentials", "NONE"),
        (
            {"auth_type": "OAUTH2_CLIENT_CREDENTIALS", "auth_credentials": "{}"},
            False,
            "authCredentials",
            "token_url",
        ),
        (
            {
                "auth_type": "OAUTH2_CLIENT_CREDENTIALS",
                "auth_credentials": '{"token_url": "https://t.example/t", "client_id": "c"}',
            },
            False,
            "authCredentials",
            "client_secret",
        ),
        ({"timeout_seconds": 0}, False, "timeoutSeconds", "between 1 and 30"),
        ({"timeout_seconds": 31}, False, "timeoutSeconds", "between 1 and 30"),
    ],
)
async def test_bad_settings_are_refused_and_nothing_is_written(
    net: Network, changes: dict[str, Any], insecure: bool, field: str, words: str
) -> None:
    values: dict[str, Any] = {
        "endpoint_url": "https://andino.example/cases",
        "signing_secret": SECRET,
        **changes,
    }
    error = await refused(
        ValidationFailed, net.ids["BANCO_ANDINO"], allow_insecure_http=insecure, **values
    )
    assert isinstance(error, ValidationFailed)
    problem = next(p for p in error.problems if p.field == field)
    assert words in problem.message, problem.message


async def test_plain_http_to_a_loopback_platform_needs_loopback_allowed(net: Network) -> None:
    # Outside production, http to a platform simulator on this machine is accepted only
    # where loopback is an allowed network (TRAMA_CONNECTOR_ALLOWED_NETWORKS, as in the
    # test settings): see test_connector_addresses.py.
    error = await refused(
        ValidationFailed,
        net.ids["BANCO_ANDINO"],
        endpoint_url="http://127.0.0.1:8123/trama/cases",
        signing_secret=SECRET,
        allow_insecure_http=True,
    )
    assert "loopback" in error.problems[0].message
