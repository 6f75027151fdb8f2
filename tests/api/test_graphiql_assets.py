"""GraphiQL assets: installed from pinned npm tarballs, served locally, never from a CDN."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
import tarfile
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app import assets
from app.graphiql import SCRIPTS, STYLES, asset_routes, graphiql_html

EVIL_TOKEN = 'Bearer x</script><script>alert("pwned")</script><!--'
HEADERS = {"Authorization": EVIL_TOKEN}
URL_RE = re.compile(r"https?://", re.IGNORECASE)
REF_RE = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*?integrity="([^"]+)"')


def sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def tarball(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def fake_packages(
    extra: dict[str, bytes] | None = None,
) -> tuple[list[assets.Package], dict[str, bytes]]:
    """The real lock's packages and file lists, with small synthetic tarballs (offline)."""
    packages, blobs = [], {}
    for package in assets.load_lock():
        members = {
            f"package/{src}": f"/* {package.name} {src} */\n".encode() for src in package.files
        }
        blob = tarball({**members, **(extra or {})})
        blobs[package.tarball] = blob
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
        packages.append(replace(package, integrity=integrity))
    return packages, blobs


def serve(blobs: dict[str, bytes]) -> Callable[[str], bytes]:
    return lambda url: blobs[url]


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    packages, blobs = fake_packages()
    monkeypatch.setattr(assets, "download", serve(blobs))
    dest = tmp_path / "assets"
    assert assets.install(dest, packages=packages) is True
    monkeypatch.setenv("TRAMA_ASSETS_DIR", str(dest))
    return dest


def build_app(headers: dict[str, str] | None = HEADERS) -> Starlette:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(endpoint="/graphql", headers=headers))

    return Starlette(routes=[*asset_routes(), Route("/graphql", page)])


@pytest.fixture
async def client(installed: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def check_page_and_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql")
    assert response.status_code == 200
    page = response.text
    assert not URL_RE.search(page), "the page must not name any http(s) URL"
    for ref in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert ref.startswith("/_trama/graphiql/") or ref == "data:,", ref

    refs = REF_RE.findall(page)
    names = [url.split("?")[0].rsplit("/", 1)[1] for url, _ in refs]
    assert names == STYLES + SCRIPTS  # scripts in dependency order
    for url, integrity in refs:
        asset = await client.get(url.replace("&amp;", "&"))
        assert asset.status_code == 200, url
        expected_type = (
            "application/javascript; charset=utf-8"
            if url.split("?")[0].endswith(".js")
            else "text/css; charset=utf-8"
        )
        assert asset.headers["content-type"] == expected_type
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert sha384(asset.content) == integrity
        etag = asset.headers["etag"]
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304


async def test_page_loads_only_local_assets_with_matching_integrity(
    client: httpx.AsyncClient,
) -> None:
    await check_page_and_assets(client)


async def test_page_wires_fetcher_explorer_and_default_query(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql")).text
    assert "GraphiQL.createFetcher({" in page
    assert "subscriptionUrl: subscriptionUrl.toString()" in page
    assert '"wss:" : "ws:"' in page
    assert "GraphiQLPluginExplorer.explorerPlugin()" in page
    query = json.loads(re.search(r"defaultQuery: (.*),\n", page).group(1))
    assert query.startswith("#")
    assert " ".join(re.sub(r"#.*", "", query).split()) == (
        "query Viewer { viewer { subject roles scopes } }"
    )


async def test_header_values_cannot_close_the_script(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql")).text
    assert "</script><script>" not in page
    assert "<!--" not in page
    assert page.count("</script>") == len(SCRIPTS) + 1
    literal = re.search(r"const headers = (.*);\n", page).group(1)
    assert json.loads(json.loads(literal)) == HEADERS  # round-trips to the same headers
    assert json.loads(literal) == json.dumps(HEADERS, indent=2)  # pretty, for the editor
    assert "props.defaultHeaders = headers" in page


async def test_page_without_headers_leaves_the_editor_empty(installed: Path) -> None:
    page = graphiql_html(endpoint="/graphql", headers=None)
    assert "const headers = null;" in page


@pytest.mark.parametrize(
    "path",
    [
        "/_trama/graphiql/nope.js",
        "/_trama/graphiql/manifest.json",
        "/_trama/graphiql/..%2Fpyproject.toml",
        "/_trama/graphiql/..%2F..%2F..%2Fpyproject.toml",
        "/_trama/graphiql/../pyproject.toml",
        "/_trama/graphiql/%2e%2e%2fmanifest.json",
        "/_trama/graphiql/..%5Cmanifest.json",
        "/_trama/graphiql/.hidden.js",
        "/_trama/graphiql/unlisted.js",
    ],
)
async def test_unknown_names_and_traversal_are_404(
    client: httpx.AsyncClient, installed: Path, path: str
) -> None:
    (installed / "unlisted.js").write_text("present on disk but not in the manifest")
    response = await client.get(path)
    assert response.status_code == 404


async def test_missing_assets_page_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAMA_ASSETS_DIR", str(tmp_path / "nowhere"))
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        page = (await c.get("/graphql")).text
        assert (await c.get("/_trama/graphiql/graphiql.min.js")).status_code == 404
    assert "GraphiQL assets are not installed" in page
    assert "python -m app.assets install" in page
    assert "make run" in page
    assert "<script" not in page
    assert not URL_RE.search(page)


def test_manifest_without_its_files_counts_as_missing(installed: Path) -> None:
    (installed / "graphiql.min.js").unlink()
    assert "GraphiQL assets are not installed" in graphiql_html(endpoint="/graphql", headers=None)


def test_endpoint_must_be_on_this_origin(installed: Path) -> None:
    for endpoint in ("https://example.com/graphql", "//example.com/graphql"):
        with pytest.raises(ValueError):
            graphiql_html(endpoint=endpoint, headers=None)


def test_installer_refuses_tampered_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(assets, "download", lambda url: b"\x1f\x8b tampered " + url.encode())
    dest = tmp_path / "assets"
    assert assets.main(["install", "--dest", str(dest)]) != 0
    assert "integrity check failed" in capsys.readouterr().err
    assert not dest.exists()


def test_one_bad_package_means_no_files_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages, blobs = fake_packages()
    blobs[packages[-1].tarball] += b"\x00"  # the last package is tampered with
    monkeypatch.setattr(assets, "download", serve(blobs))
    dest = tmp_path / "assets"
    dest.mkdir()
    with pytest.raises(assets.AssetError, match="integrity"):
        assets.install(dest, packages=packages)
    assert list(dest.iterdir()) == []


def test_install_is_idempotent(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(url: str) -> bytes:
        raise AssertionError("should not download when up to date")

    monkeypatch.setattr(assets, "download", no_network)
    packages, _ = fake_packages()
    assert assets.install(installed, packages=packages) is False
    # A changed file on disk is noticed and reinstalled.
    (installed / "graphiql.min.js").write_text("edited")
    packages, blobs = fake_packages()
    monkeypatch.setattr(assets, "download", serve(blobs))
    assert assets.install(installed, packages=packages) is True


def test_only_listed_regular_files_are_extracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages, blobs = fake_packages(extra={"package/evil.js": b"x", "../escape.js": b"x"})
    monkeypatch.setattr(assets, "download", serve(blobs))
    dest = tmp_path / "assets"
    assets.install(dest, packages=packages)
    assert sorted(p.name for p in dest.iterdir()) == sorted([*STYLES, *SCRIPTS, "manifest.json"])
    assert not (tmp_path / "escape.js").exists()

    # A listed path that is a symlink in the tarball is refused.
    react = packages[0]
    source = next(iter(react.files))
    blob = tarball({}, symlinks={f"package/{source}": "/etc/passwd"})
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    monkeypatch.setattr(assets, "download", lambda url: blob)
    with pytest.raises(assets.AssetError, match="not a regular file"):
        assets.install(tmp_path / "other", packages=[replace(react, integrity=integrity)])
    assert not (tmp_path / "other").exists()


def test_lock_rejects_unsafe_paths(tmp_path: Path) -> None:
    entry = {
        "name": "x",
        "version": "1.0.0",
        "tarball": "https://registry.npmjs.org/x/-/x-1.0.0.tgz",
        "integrity": "sha512-AAAA",
    }
    for files in ({"../../etc/passwd": "a.js"}, {"a.js": "../a.js"}, {"a.js": "manifest.json"}):
        lock = tmp_path / "lock.json"
        lock.write_text(json.dumps({"packages": [{**entry, "files": files}]}))
        with pytest.raises(assets.AssetError):
            assets.load_lock(lock)


def test_lock_pins_the_expected_packages() -> None:
    pinned = {p.name: p for p in assets.load_lock()}
    assert {name: p.version for name, p in pinned.items()} == {
        "react": "18.3.1",
        "react-dom": "18.3.1",
        "graphiql": "3.8.3",
        "@graphiql/plugin-explorer": "1.0.2",
    }
    for p in pinned.values():
        assert p.tarball.startswith("https://registry.npmjs.org/")
        assert p.integrity.startswith("sha512-")
    assert sorted(n for p in pinned.values() for n in p.files.values()) == sorted(STYLES + SCRIPTS)


REAL_DIR = Path(sys.prefix) / "share" / "trama" / "graphiql"


@pytest.mark.skipif(
    not (REAL_DIR / "manifest.json").exists(),
    reason="real assets not installed; run `python -m app.assets install`",
)
async def test_real_installed_assets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAMA_ASSETS_DIR", raising=False)
    assert assets.is_installed(REAL_DIR, assets.load_lock())
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await check_page_and_assets(c)
