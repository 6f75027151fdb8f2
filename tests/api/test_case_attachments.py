"""Case attachments through the API: GraphQL multipart upload with httpx against the app,
listing, download through the signed link, and every refusal (with nothing written)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from strawberry import relay

from app.main import create_app
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from app.storage import LinkCheck
from domain.shared.principal import ROLE_SCOPES, Principal, Role
from tests.api.attachment_support import (
    ATTACH,
    LIST,
    files_under,
    gid,
    open_case,
    partner_id,
    payload,
    upload,
    written,
)
from tests.conftest import make_settings
from tests.domain.cases import attachment_files as files


@pytest.fixture
def settings(tmp_path: Path, session_tmp: Path, keys: Any, database_url: str) -> Settings:
    """Each test keeps its files in its own var dir (the signing keys copied in)."""
    shutil.copytree(session_tmp / "keys", tmp_path / "keys")
    return make_settings(tmp_path, database_url)


@pytest.fixture
def store_root(settings: Settings) -> Path:
    return settings.var_dir / "attachments"


def link_parts(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


async def fetch(http: httpx.AsyncClient, url: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await http.get(url, headers=headers)


# --- the happy path ---------------------------------------------------------------------
async def test_upload_list_and_download(
    client: httpx.AsyncClient, token: Any, gql: Any, store_root: Path
) -> None:
    case = await open_case()
    agent = token("agent", partner="BANCO_ANDINO", subject="ana@banco-andino")
    content = files.pdf("Cartola marzo")
    result = payload(
        await upload(
            client,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,
            content=content,
            file_name="Cartola marzo 2026.pdf",
        )
    )
    assert result["__typename"] == "AttachCaseFileSuccess"
    assert result["created"] is True and result["caseVersion"] == 2
    attachment = result["attachment"]
    assert attachment["fileName"] == "Cartola marzo 2026.pdf"
    assert attachment["contentType"] == "application/pdf"
    assert attachment["sizeBytes"] == len(content)
    assert attachment["uploadedByPartner"] == {"code": "BANCO_ANDINO"}
    assert attachment["caseId"] == gid("Case", case.id) == result["caseId"]
    assert attachment["piiMasked"] is False and attachment["visibility"] == "INTERNAL"
    assert len(files_under(store_root)) == 1

    listed = await gql(LIST, {"caseId": gid("Case", case.id)}, token=agent)
    [item] = listed["data"]["caseAttachments"]
    assert item["id"] == attachment["id"]

    url = item["downloadUrl"]
    assert url.startswith("http://trama.test/attachments/")
    response = await fetch(client, url, agent)
    assert response.status_code == 200, response.text
    assert response.content == content
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        'attachment; filename="Cartola marzo 2026.pdf"; '
        "filename*=UTF-8''Cartola%20marzo%202026.pdf"
    )
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["content-length"] == str(len(content))

    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on CaseAttachment { fileName } } }",
        {"id": attachment["id"]},
        token=agent,
    )
    assert node["data"]["node"] == {"fileName": "Cartola marzo 2026.pdf"}


async def test_text_is_served_as_text_and_names_keep_their_accents(
    client: httpx.AsyncClient, token: Any, gql: Any
) -> None:
    case = await open_case()
    agent = token("agent", partner="BANCO_ANDINO")
    result = payload(
        await upload(
            client,
            token=agent,
            case_id=str(case.id),  # a bare UUID is accepted too
            version=1,
            content=files.CSV,
            file_name="movimientos año.csv",
            content_type="application/vnd.ms-excel",
            visibility="CUSTOMER",
        )
    )
    attachment = result["attachment"]
    assert attachment["contentType"] == "text/csv; charset=utf-8"
    assert attachment["visibility"] == "CUSTOMER"
    response = await fetch(client, attachment["downloadUrl"], agent)
    assert response.status_code == 200 and response.content == files.CSV
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "filename*=UTF-8''movimientos%20a%C3%B1o.csv" in response.headers["content-disposition"]
    assert 'filename="movimientos ano.csv"' in response.headers["content-disposition"]


async def test_the_same_upload_twice_is_one_attachment(
    client: httpx.AsyncClient, token: Any, store_root: Path
) -> None:
    case = await open_case()
    agent = token("agent", partner="BANCO_ANDINO")
    first = payload(
        await upload(
            client,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,
            content=files.png(),
            file_name="a.png",
            content_type="image/png",
        )
    )
    before = await written()
    again = payload(
        await upload(
            client,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,
            content=files.png(),
            file_name="a.png",
            content_type="image/png",
        )
    )
    assert again["created"] is False and again["caseVersion"] == 2
    assert again["attachment"]["id"] == first["attachment"]["id"]
    assert await written() == before
    assert len(files_under(store_root)) == 1


# --- links ------------------------------------------------------------------------------
async def _attached(client: httpx.AsyncClient, agent: str) -> tuple[Any, dict[str, Any]]:
    case = await open_case()
    result = payload(
        await upload(
            client, token=agent, case_id=gid("Case", case.id), version=1, content=files.pdf()
        )
    )
    return case, result["attachment"]


async def test_an_expired_link_is_refused(
    client: httpx.AsyncClient, token: Any, runtime: Runtime
) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    assert runtime.attachments is not None
    signer = runtime.attachments.signer
    signer.clock = lambda: time.time() - signer.ttl - 5  # made a while ago
    try:
        _, attachment = await _attached(client, agent)
    finally:
        signer.clock = time.time
    response = await fetch(client, attachment["downloadUrl"], agent)
    assert response.status_code == 410
    assert response.json()["errors"][0]["extensions"]["code"] == "LINK_EXPIRED"


async def test_a_tampered_link_is_refused(client: httpx.AsyncClient, token: Any) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    _, attachment = await _attached(client, agent)
    _, other = await _attached(client, agent)
    path, query = link_parts(attachment["downloadUrl"])
    other_path, _ = link_parts(other["downloadUrl"])
    sig = query["sig"]
    forged = [
        f"{path}?exp={query['exp']}&sig={sig[:-2]}{'AA' if not sig.endswith('AA') else 'BB'}",
        f"{path}?exp={int(query['exp']) + 3600}&sig={sig}",  # a longer life
        f"{other_path}?exp={query['exp']}&sig={sig}",  # another attachment
        f"{path}?exp={query['exp']}",
        f"{path}?exp=soon&sig={sig}",
        path,
    ]
    for url in forged:
        response = await fetch(client, url, agent)
        assert response.status_code == 403, (url, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (
        await fetch(client, f"/attachments/{uuid.uuid4()}?exp=1&sig=x", agent)
    ).status_code == 403
    assert (await fetch(client, "/attachments/not-an-id?exp=1&sig=x", agent)).status_code == 404


async def test_a_link_needs_the_token_of_the_person_it_was_made_for(
    client: httpx.AsyncClient, token: Any
) -> None:
    ana = token("agent", partner="BANCO_ANDINO", subject="ana@banco-andino")
    _, attachment = await _attached(client, ana)
    url = attachment["downloadUrl"]
    anonymous = await fetch(client, url, None)
    assert anonymous.status_code == 401 and "Bearer" in anonymous.headers["www-authenticate"]
    assert (await fetch(client, url, "not-a-token")).status_code == 401
    # A colleague of the same partner: the link was not made for her.
    luz = token("agent", partner="BANCO_ANDINO", subject="luz@banco-andino")
    assert (await fetch(client, url, luz)).status_code == 403
    # Another partner's agent holding the leaked link.
    pampa = token("agent", partner="BANCO_PAMPA", subject="pablo@banco-pampa")
    assert (await fetch(client, url, pampa)).status_code == 403
    assert (await fetch(client, url, ana)).status_code == 200


async def test_a_valid_signature_is_not_enough_without_visibility(
    client: httpx.AsyncClient, token: Any, runtime: Runtime
) -> None:
    _, attachment = await _attached(client, token("agent", partner="BANCO_ANDINO"))
    pampa_token = token("agent", partner="BANCO_PAMPA", subject="pablo@banco-pampa")
    principal = await runtime.authenticator.authenticate(f"Bearer {pampa_token}")
    assert principal is not None
    assert runtime.attachments is not None
    key = uuid.UUID(relay.GlobalID.from_id(attachment["id"]).node_id)
    # Even a link signed for them (as if the secret leaked) finds nothing they cannot see.
    response = await fetch(client, runtime.attachments.signer.path(key, principal), pampa_token)
    assert response.status_code == 404


async def test_another_partners_agent_cannot_reach_the_attachments(
    client: httpx.AsyncClient, token: Any, gql: Any, store_root: Path
) -> None:
    case, attachment = await _attached(client, token("agent", partner="BANCO_ANDINO"))
    pampa = token("agent", partner="BANCO_PAMPA")
    listed = await gql(LIST, {"caseId": gid("Case", case.id)}, token=pampa)
    assert listed["data"] is None
    assert listed["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    node = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": attachment["id"]}, token=pampa
    )
    assert node["data"]["node"] is None
    before = await written()
    result = payload(
        await upload(
            client,
            token=pampa,
            case_id=gid("Case", case.id),
            version=2,
            content=files.png(),
            file_name="x.png",
            content_type="image/png",
        )
    )
    assert result["__typename"] == "NotFoundError"
    assert await written() == before
    assert len(files_under(store_root)) == 1


async def test_a_network_viewer_sees_masked_names_and_cannot_download(
    client: httpx.AsyncClient, token: Any, gql: Any, runtime: Runtime
) -> None:
    case = await open_case()
    agent = token("agent", partner="BANCO_ANDINO")
    payload(
        await upload(
            client,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,
            content=files.pdf(),
            file_name="DNI Juan Pérez.pdf",
            visibility="CUSTOMER",
        )
    )
    viewer = token("network_viewer", subject="vera@red")
    [item] = (await gql(LIST, {"caseId": gid("Case", case.id)}, token=viewer))["data"][
        "caseAttachments"
    ]
    assert item["fileName"] == "•••.pdf" and item["piiMasked"] is True
    assert item["downloadUrl"] is None
    principal = await runtime.authenticator.authenticate(f"Bearer {viewer}")
    assert principal is not None and runtime.attachments is not None
    key = uuid.UUID(relay.GlobalID.from_id(item["id"]).node_id)
    response = await fetch(client, runtime.attachments.signer.path(key, principal), viewer)
    assert response.status_code == 403
    assert "pii:read" in response.json()["errors"][0]["message"]


# --- refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "file_name", "content_type", "fragment"),
    [
        (files.exe(), "factura.pdf", "application/pdf", "programs are not accepted"),
        (files.pdf(), "foto.png", "image/png", "but the content is a PDF document"),
        (files.gif(), "x.gif", "image/gif", "GIF"),
        (f"pago con {files.PAN}\n".encode(), "nota.txt", "text/plain", "card number"),
        (b"", "vacio.pdf", "application/pdf", "empty"),
    ],
)
async def test_bad_files_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    token: Any,
    store_root: Path,
    content: bytes,
    file_name: str,
    content_type: str,
    fragment: str,
) -> None:
    case = await open_case()
    before = await written()
    result = payload(
        await upload(
            client,
            token=token("agent", partner="BANCO_ANDINO"),
            case_id=gid("Case", case.id),
            version=1,
            content=content,
            file_name=file_name,
            content_type=content_type,
        )
    )
    assert result["__typename"] == "ValidationError" and result["field"] == "file"
    assert fragment in result["message"]
    assert await written() == before
    assert files_under(store_root) == []


async def test_a_stale_version_conflicts_and_nothing_is_stored(
    client: httpx.AsyncClient, token: Any, store_root: Path
) -> None:
    case = await open_case()
    agent = token("agent", partner="BANCO_ANDINO")
    payload(
        await upload(
            client,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,
            content=files.png(),
            file_name="a.png",
            content_type="image/png",
        )
    )
    before = await written()
    result = payload(
        await upload(
            client, token=agent, case_id=gid("Case", case.id), version=1, content=files.pdf()
        )
    )
    assert result["__typename"] == "ConflictError" and result["currentVersion"] == 2
    assert await written() == before
    assert len(files_under(store_root)) == 1


async def test_uploads_need_a_token_and_a_preflight_header(
    client: httpx.AsyncClient, token: Any, store_root: Path
) -> None:
    case = await open_case()
    before = await written()
    anonymous = await upload(
        client, token=None, case_id=gid("Case", case.id), version=1, content=files.pdf()
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    no_preflight = await upload(
        client,
        token=token("agent", partner="BANCO_ANDINO"),
        case_id=gid("Case", case.id),
        version=1,
        content=files.pdf(),
        preflight=False,
    )
    assert no_preflight.status_code == 400
    assert "Apollo-Require-Preflight" in no_preflight.json()["errors"][0]["message"]
    assert await written() == before
    assert files_under(store_root) == []


async def test_a_file_must_come_as_a_multipart_upload(
    client: httpx.AsyncClient, token: Any, gql: Any
) -> None:
    case = await open_case()
    body = await gql(
        ATTACH,
        {"caseId": gid("Case", case.id), "version": 1, "file": "JVBERi0xLjQ="},
        token=token("agent", partner="BANCO_ANDINO"),
    )
    result = body["data"]["attachCaseFile"]
    assert result["__typename"] == "ValidationError" and "multipart" in result["message"]


@pytest.mark.parametrize(
    ("operations", "files_map", "fragment"),
    [
        ({"query": "{ __typename }"}, {"0": ["query"]}, "variables"),
        (None, {"0": ["variables.nothere.x"]}, "not in the operations"),
        (None, {"1": ["variables.file"]}, "was not sent"),
        (None, {"0": "variables.file"}, "list of paths"),
        (None, ["variables.file"], "JSON object"),
        ([{"query": "{ __typename }"}], {"0": ["0.variables.file"]}, "batched"),
    ],
)
async def test_malformed_multipart_requests_are_refused(
    client: httpx.AsyncClient, token: Any, operations: Any, files_map: Any, fragment: str
) -> None:
    case = await open_case()
    response = await upload(
        client,
        token=token("agent", partner="BANCO_ANDINO"),
        case_id=gid("Case", case.id),
        version=1,
        content=files.pdf(),
        operations=operations,
        files_map=files_map,
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["errors"][0]["message"]


# --- size limits ------------------------------------------------------------------------
@asynccontextmanager
async def small_app(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    runtime = build_runtime(settings.model_copy(update=overrides))
    app = create_app(runtime.settings, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
        yield http, runtime


async def test_too_large_files_are_refused(settings: Settings, db: Any, store_root: Path) -> None:
    limit = 4096
    async with small_app(settings, attachment_max_bytes=limit, max_body_bytes=8192) as (
        http,
        runtime,
    ):
        case = await open_case()
        agent, _ = runtime.tokens.issue(
            subject="ana@banco-andino",
            roles=["agent"],
            scopes=sorted(s.value for s in ROLE_SCOPES[Role.AGENT]),
            partner="BANCO_ANDINO",
        )
        before = await written()
        # Over the file limit but within the body: the domain says so, as data.
        just_over = files.pdf() + b"0" * (limit + 1 - len(files.pdf()))
        result = payload(
            await upload(
                http, token=agent, case_id=gid("Case", case.id), version=1, content=just_over
            )
        )
        assert result["__typename"] == "ValidationError"
        assert "larger than the limit of 4 KB" in result["message"]
        # Far over: refused while reading the body.
        huge = files.pdf() + b"0" * 50_000
        response = await upload(
            http, token=agent, case_id=gid("Case", case.id), version=1, content=huge
        )
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "FILE_TOO_LARGE"
        assert await written() == before
        assert files_under(store_root) == []
        # Far over and streamed without a Content-Length: counted while reading.
        request = http.build_request(
            "POST",
            "/graphql",
            data={"operations": "{}", "map": "{}"},
            files={"0": ("big.pdf", huge, "application/pdf")},
        )
        body = request.read()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 1024):
                yield body[start : start + 1024]

        streamed = await http.post(
            "/graphql",
            content=chunks(),
            headers={
                "content-type": request.headers["content-type"],
                "authorization": f"Bearer {agent}",
                "apollo-require-preflight": "1",
            },
        )
        assert streamed.status_code == 413, streamed.text
        assert streamed.json()["errors"][0]["extensions"]["code"] == "FILE_TOO_LARGE"
        assert "content-length" not in {k.lower() for k in streamed.request.headers}
        # At the limit: accepted.
        exact = files.pdf() + b"0" * (limit - len(files.pdf()))
        ok = payload(
            await upload(http, token=agent, case_id=gid("Case", case.id), version=1, content=exact)
        )
        assert (
            ok["__typename"] == "AttachCaseFileSuccess" and ok["attachment"]["sizeBytes"] == limit
        )


async def test_principal_binding_covers_the_issuer(runtime: Runtime) -> None:
    assert runtime.attachments is not None
    signer = runtime.attachments.signer
    key = uuid.uuid4()
    ours = Principal(
        subject="ana", issuer="http://trama.test", partner_id=await partner_id("BANCO_ANDINO")
    )
    theirs = Principal(
        subject="ana", issuer="https://login.example/tenant", partner_id=ours.partner_id
    )
    exp, sig = signer.sign(key, ours)
    assert signer.check(key, str(exp), sig, ours) is LinkCheck.VALID
    assert signer.check(key, str(exp), sig, theirs) is LinkCheck.INVALID


async def test_a_file_whose_transaction_fails_is_removed_again(
    client: httpx.AsyncClient, token: Any, store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.shared import audit

    case = await open_case()
    before = await written()

    async def broken_seal(session: Any) -> None:
        assert files_under(store_root), "the file is stored before the commit"
        raise RuntimeError("the database went away at commit")

    monkeypatch.setattr(audit, "seal", broken_seal)
    response = await upload(
        client,
        token=token("agent", partner="BANCO_ANDINO"),
        case_id=gid("Case", case.id),
        version=1,
        content=files.pdf(),
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"
    monkeypatch.undo()
    assert await written() == before
    assert files_under(store_root) == []
