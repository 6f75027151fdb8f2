"""GraphQL multipart requests (https://github.com/jaydenseric/graphql-multipart-request-spec).

A ``multipart/form-data`` POST carries an ``operations`` field (the usual JSON request with
``null`` where files go), a ``map`` field (``{"0": ["variables.file"]}``) and the file
parts. The files are put into the variables (as Starlette ``UploadFile`` objects, which the
``Upload`` scalar passes through) and the request runs like any other.

Protections:

- CSRF: a browser sends ``multipart/form-data`` cross-site without asking first, so (like
  Apollo Server and Strawberry's advice since CVE-2024-47082) a multipart request must
  carry a non-empty ``Apollo-Require-Preflight`` or ``X-Apollo-Operation-Name`` header,
  which no cross-site form can set; without one it is refused before it is read.
- size: the body may be at most ``TRAMA_MAX_BODY_BYTES`` + ``TRAMA_ATTACHMENT_MAX_BYTES``
  (the JSON parts and one file's worth), counted while reading, never buffered beyond;
  the JSON fields at most ``TRAMA_MAX_BODY_BYTES``; at most :data:`MAX_FILES` files. Files
  above 1 MB are spooled to temporary files, closed when the request ends.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from app.settings import Settings

MULTIPART = "multipart/form-data"
#: Headers of which one must be present (and not empty) on a multipart request.
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
MAX_FILES = 5
_MAX_FIELDS = 10


class UploadRefused(Exception):
    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def body_limit(settings: Settings) -> int:
    return settings.max_body_bytes + settings.attachment_max_bytes


async def read_multipart(request: Request, settings: Settings) -> dict[str, Any]:
    """The request's ``{"query", "variables", …}`` with the files in place."""
    if not any(request.headers.get(h, "").strip() for h in PREFLIGHT_HEADERS):
        raise UploadRefused(
            400,
            "multipart requests must carry a non-empty Apollo-Require-Preflight (or "
            "X-Apollo-Operation-Name) header: it protects you from cross-site request forgery",
        )
    limit = body_limit(settings)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadRefused(413, f"the request body is larger than {limit} bytes", "FILE_TOO_LARGE")

    async def limited() -> AsyncGenerator[bytes, None]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise UploadRefused(
                    413, f"the request body is larger than {limit} bytes", "FILE_TOO_LARGE"
                )
            yield chunk

    parser = MultiPartParser(
        request.headers,
        limited(),
        max_files=MAX_FILES,
        max_fields=_MAX_FIELDS,
        max_part_size=settings.max_body_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadRefused(400, f"the multipart body is not valid: {exc.message}") from None
    request.state.upload_form = form  # closed by the endpoint when the request ends
    return _operations_with_files(form)


def _json_field(form: FormData, name: str) -> Any:
    value = form.get(name)
    if not isinstance(value, str):
        raise UploadRefused(
            400, f"a multipart request needs an `{name}` field (GraphQL multipart request spec)"
        )
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise UploadRefused(400, f"the `{name}` field is not valid JSON") from None


def _operations_with_files(form: FormData) -> dict[str, Any]:
    operations = _json_field(form, "operations")
    if isinstance(operations, list):
        raise UploadRefused(400, "batched requests are not supported; send one operation")
    if not isinstance(operations, dict):
        raise UploadRefused(400, "`operations` must be a JSON object")
    files_map = _json_field(form, "map")
    if not isinstance(files_map, dict):
        raise UploadRefused(400, "`map` must be a JSON object of file names to paths")
    for name, paths in files_map.items():
        upload = form.get(name)
        if not isinstance(upload, UploadFile):
            raise UploadRefused(400, f"the file `{name[:40]}` named in `map` was not sent")
        if not isinstance(paths, list) or not paths:
            raise UploadRefused(400, f"`map` must give a list of paths for `{name[:40]}`")
        for path in paths:
            _place(operations, path, upload)
    return operations


def _place(operations: dict[str, Any], path: object, upload: UploadFile) -> None:
    """Put ``upload`` at ``path`` (``variables.file``, ``variables.files.0``), which must
    hold ``null`` in the operations, as the spec says."""
    if not isinstance(path, str) or not path.startswith("variables."):
        raise UploadRefused(400, "`map` paths must point into the variables (`variables.…`)")
    *parents, last = path.split(".")
    target: Any = operations
    try:
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        index: Any = int(last) if isinstance(target, list) else last
        if not isinstance(target, dict | list) or target[index] is not None:
            raise UploadRefused(400, f"`map` path {path[:80]} must point to a null placeholder")
        target[index] = upload
    except (KeyError, IndexError, ValueError, TypeError):
        raise UploadRefused(400, f"`map` path {path[:80]} is not in the operations") from None
