"""GraphiQL's JavaScript and CSS, installed from pinned npm tarballs.

``python -m app.assets install [--dest DIR] [--force]`` downloads every package in
``assets.lock.json``, checks its ``sha512`` integrity, and writes only the listed files
plus a ``manifest.json`` (package versions and the ``sha384`` SRI of each file) into
:func:`assets_dir`. Nothing is vendored in the repository and nothing is loaded from a CDN
at run time, so GraphiQL works offline once setup has run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

LOCK_PATH = Path(__file__).with_name("assets.lock.json")
MANIFEST = "manifest.json"
ATTEMPTS = 3
TIMEOUT = httpx.Timeout(60.0, connect=15.0)


class AssetError(Exception):
    """Installing or reading the assets failed; the message says why."""


class AssetsNotInstalledError(AssetError):
    pass


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    tarball: str
    integrity: str  # npm's dist.integrity: "sha512-<base64>"
    files: dict[str, str]  # path under package/ -> file name written to the assets dir


def assets_dir() -> Path:
    """Where the assets live: ``$TRAMA_ASSETS_DIR`` or ``<sys.prefix>/share/trama/graphiql``."""
    env = os.environ.get("TRAMA_ASSETS_DIR")
    if env:
        return Path(env)
    return Path(sys.prefix) / "share" / "trama" / "graphiql"


def load_manifest(dest: Path | None = None) -> dict[str, Any]:
    """The installed manifest; raises :class:`AssetsNotInstalledError` when there is none."""
    path = (dest or assets_dir()) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssetsNotInstalledError(f"no GraphiQL asset manifest at {path}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise AssetsNotInstalledError(f"malformed GraphiQL asset manifest at {path}")
    return manifest


def is_safe_name(name: str) -> bool:
    """A plain file name: no directories, no dot files (so no ``..``)."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def sri(data: bytes, algorithm: str = "sha384") -> str:
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def load_lock(path: Path = LOCK_PATH) -> list[Package]:
    try:
        packages = [Package(**entry) for entry in json.loads(path.read_bytes())["packages"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AssetError(f"cannot read the asset lock {path}: {exc}") from exc
    seen: set[str] = set()
    for package in packages:
        if not package.integrity.startswith("sha512-"):
            raise AssetError(f"{package.name}: integrity must be sha512-…")
        for source, name in package.files.items():
            parts = PurePosixPath(source).parts
            if source.startswith("/") or ".." in parts or "\\" in source:
                raise AssetError(f"{package.name}: unsafe source path {source!r}")
            if not is_safe_name(name) or name == MANIFEST or name in seen:
                raise AssetError(f"{package.name}: bad or duplicate file name {name!r}")
            seen.add(name)
    return packages


def download(url: str) -> bytes:
    """GET ``url``, retrying transport errors and 5xx responses."""
    last: Exception | None = None
    with httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = client.get(url)
                response.raise_for_status()
                return response.content
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500:
                    raise AssetError(f"could not download {url}: {exc}") from exc
                last = exc
            except httpx.TransportError as exc:
                last = exc
            if attempt < ATTEMPTS:
                time.sleep(attempt)
    raise AssetError(f"could not download {url} after {ATTEMPTS} attempts: {last}")


def verify_integrity(data: bytes, integrity: str, what: str) -> None:
    actual = sri(data, "sha512")
    if not hmac.compare_digest(actual, integrity):
        raise AssetError(
            f"integrity check failed for {what}: expected {integrity}, got {actual}; "
            "refusing to install anything"
        )


def extract(data: bytes, package: Package) -> dict[str, bytes]:
    """Read the listed regular files out of a verified tarball; never extracts to disk."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for source, name in package.files.items():
                try:
                    member = tar.getmember(f"package/{source}")
                except KeyError:
                    raise AssetError(f"{package.name}: {source} is not in the tarball") from None
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    raise AssetError(f"{package.name}: {source} is not a regular file")
                out[name] = handle.read()
    except tarfile.TarError as exc:
        raise AssetError(f"{package.name}: unreadable tarball: {exc}") from exc
    return out


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(0o644)  # mkstemp creates 0600; the server may run as another user
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def expected_manifest(packages: list[Package]) -> dict[str, Any]:
    """The manifest minus the file hashes, which only the installed files can give."""
    return {
        "packages": {p.name: {"version": p.version, "integrity": p.integrity} for p in packages},
        "files": {
            name: {"package": p.name, "source": source}
            for p in packages
            for source, name in p.files.items()
        },
    }


def is_installed(dest: Path, packages: list[Package]) -> bool:
    """The manifest matches the lock and every file on disk matches the manifest."""
    try:
        manifest = load_manifest(dest)
    except AssetsNotInstalledError:
        return False
    expected = expected_manifest(packages)
    if manifest.get("packages") != expected["packages"]:
        return False
    files = manifest["files"]
    if set(files) != set(expected["files"]):
        return False
    for name, want in expected["files"].items():
        entry = files[name]
        if not isinstance(entry, dict) or {k: entry.get(k) for k in want} != want:
            return False
        try:
            if sri((dest / name).read_bytes()) != entry.get("integrity"):
                return False
        except OSError:
            return False
    return True


def install(
    dest: Path | None = None, *, force: bool = False, packages: list[Package] | None = None
) -> bool:
    """Install the locked assets into ``dest``; False when they already were."""
    dest = dest or assets_dir()
    packages = load_lock() if packages is None else packages
    if not force and is_installed(dest, packages):
        return False

    # Download and verify everything before writing a single byte.
    contents: dict[str, bytes] = {}
    for package in packages:
        data = download(package.tarball)
        verify_integrity(data, package.integrity, f"{package.name}@{package.version}")
        contents.update(extract(data, package))

    manifest = expected_manifest(packages)
    dest.mkdir(parents=True, exist_ok=True)
    # Drop the old manifest first so a half-finished run reads as "not installed" rather
    # than pairing new files with old hashes.
    (dest / MANIFEST).unlink(missing_ok=True)
    for name, data in contents.items():
        write_atomic(dest / name, data)
        manifest["files"][name].update(integrity=sri(data), size=len(data))
    write_atomic(dest / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("install", help="download, verify and install the GraphiQL assets")
    cmd.add_argument("--dest", type=Path, help="default: $TRAMA_ASSETS_DIR or inside the venv")
    cmd.add_argument("--force", action="store_true", help="reinstall even if up to date")
    args = parser.parse_args(argv)

    dest: Path = args.dest or assets_dir()
    try:
        changed = install(dest, force=args.force)
    except (AssetError, OSError) as exc:
        print(f"error: GraphiQL assets not installed: {exc}", file=sys.stderr)
        return 1
    if changed:
        print(f"GraphiQL assets installed in {dest}")
    else:
        print(f"GraphiQL assets already up to date in {dest}; nothing to do")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
