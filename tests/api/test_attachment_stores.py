"""The file stores behind attachments: one contract, run on local disk and on a real
S3-compatible server (moto's, started here as a process on a loopback port and stopped at
the end), and the whole upload → download path through the app on S3.

moto (S3) and Flask are in the ``dev`` extra: the S3 tests are skipped only if the server cannot
be started at all, which CI must never see.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings
from app.storage import LocalFileStore, S3FileStore, build_store
from domain.cases.attachments import FileStore, StoredFileMissing
from domain.shared.principal import ROLE_SCOPES, Role
from tests.api.attachment_support import gid, open_case, payload, upload
from tests.conftest import make_settings
from tests.domain.cases import attachment_files as files

BUCKET = "trama-attachments"
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"  # moto accepts any key, on loopback


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on a free loopback port for this module."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.skip(f"the local S3 server could not start (exit {process.returncode})")
            try:
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.skip("the local S3 server did not answer within 30 s")
            time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> str:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=BUCKET)
    return BUCKET


def s3_settings(var_dir: Path, database_url: str, endpoint: str) -> Settings:
    return make_settings(
        var_dir,
        database_url,
        attachments_store="s3",
        s3_endpoint_url=endpoint,
        s3_bucket=BUCKET,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        s3_region="us-east-1",
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    if request.param == "local":
        return LocalFileStore(tmp_path / "attachments")
    endpoint = request.getfixturevalue("s3_endpoint")
    request.getfixturevalue("bucket")
    settings = s3_settings(tmp_path, "sqlite+aiosqlite://", endpoint)
    built = build_store(settings)
    assert isinstance(built, S3FileStore)
    return built


# --- the contract -----------------------------------------------------------------------
async def test_put_get_stream_delete(store: FileStore) -> None:
    key = f"cases/{uuid.uuid4()}/{uuid.uuid4()}"
    content = files.pdf() + bytes(range(256)) * 800  # ~200 KB: several chunks
    await store.put(key, content, content_type="application/pdf")
    assert await store.get(key) == content
    chunks = [c async for c in store.stream(key, chunk_size=64 * 1024)]
    assert len(chunks) > 1 and b"".join(chunks) == content
    # Writing a key again replaces it whole.
    await store.put(key, b"%PDF-1.7 other", content_type="application/pdf")
    assert await store.get(key) == b"%PDF-1.7 other"
    await store.delete(key)
    await store.delete(key)  # deleting twice is fine
    with pytest.raises(StoredFileMissing):
        await store.get(key)
    with pytest.raises(StoredFileMissing):
        await anext(store.stream(key))


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "/etc/passwd", "cases/../../x", "cases//x", "Cases/X", "a b", "", "x" * 600],
)
async def test_keys_that_are_not_ours_are_refused(store: FileStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a storage key"):
        await store.put(key, b"x", content_type="text/plain; charset=utf-8")
    with pytest.raises(ValueError, match="not a storage key"):
        await store.get(key)


async def test_local_writes_leave_no_partial_files(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "attachments")
    key = f"cases/{uuid.uuid4()}/{uuid.uuid4()}"
    await store.put(key, b"%PDF-1.4 one", content_type="application/pdf")
    names = [p.name for p in store.root.rglob("*") if p.is_file()]
    assert names == [key.rsplit("/", 1)[1]]  # the temporary file was renamed into place


# --- the app on S3 ----------------------------------------------------------------------
@pytest.fixture
async def s3_client(
    tmp_path: Path,
    session_tmp: Path,
    keys: Any,
    database_url: str,
    db: Any,
    s3_endpoint: str,
    bucket: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    shutil.copytree(session_tmp / "keys", tmp_path / "keys")
    runtime = build_runtime(s3_settings(tmp_path, database_url, s3_endpoint))
    app = create_app(runtime.settings, runtime=runtime, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trama.test") as http:
        yield http, runtime


async def test_upload_and_download_through_s3(s3_client: tuple[httpx.AsyncClient, Any]) -> None:
    http, runtime = s3_client
    agent, _ = runtime.tokens.issue(
        subject="ana@banco-andino",
        roles=["agent"],
        scopes=sorted(s.value for s in ROLE_SCOPES[Role.AGENT]),
        partner="BANCO_ANDINO",
    )
    case = await open_case()
    content = files.xlsx("Fecha", "Monto", "Cargo por mora")
    result = payload(
        await upload(
            http,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,
            content=content,
            file_name="movimientos.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    )
    assert result["__typename"] == "AttachCaseFileSuccess", result
    attachment = result["attachment"]
    store = runtime.attachments.store
    assert isinstance(store, S3FileStore)
    listed = store.client.list_objects_v2(Bucket=BUCKET, Prefix=f"cases/{case.id}/")
    [obj] = listed["Contents"]
    head = store.client.head_object(Bucket=BUCKET, Key=obj["Key"])
    assert head["ContentType"] == attachment["contentType"]
    assert head["ContentLength"] == len(content)

    response = await http.get(
        attachment["downloadUrl"], headers={"authorization": f"Bearer {agent}"}
    )
    assert response.status_code == 200, response.text
    assert response.content == content
    assert response.headers["content-type"] == attachment["contentType"]
    assert response.headers["x-content-type-options"] == "nosniff"

    # A refused upload leaves nothing in the bucket.
    refused = payload(
        await upload(
            http,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,  # stale
            content=files.pdf(),
        )
    )
    assert refused["__typename"] == "ConflictError"
    listed = store.client.list_objects_v2(Bucket=BUCKET, Prefix=f"cases/{case.id}/")
    assert len(listed["Contents"]) == 1


def test_s3_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TRAMA_S3_BUCKET"):
        build_store(make_settings(tmp_path, "sqlite+aiosqlite://", attachments_store="s3"))
