"""``GET /vehicle-photos/{id}``: a photo of a listed vehicle, public like the catalogue.

A photo is served while its vehicle is in the public catalogue (AVAILABLE or RESERVED);
otherwise 404, the same answer as for no such photo. Only PNG and JPEG are ever stored
(checked on upload), served with their detected type, ``nosniff``, a sandboxing CSP and a
short public cache (the bytes under a photo id never change).
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.db import read_session
from app.runtime import Runtime
from domain.cases.attachments import StoredFileMissing
from domain.marketplace import service
from domain.shared.ids import parse_uuid

log = logging.getLogger("trama.marketplace")


def _not_found() -> Response:
    body = {"errors": [{"message": "no such photo", "extensions": {"code": "NOT_FOUND"}}]}
    return Response(
        orjson.dumps(body),
        status_code=404,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


class VehiclePhotos:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def photo(self, request: Request) -> Response:
        services = self.runtime.attachments
        photo_id = parse_uuid(str(request.path_params.get("id", "")))
        if services is None or photo_id is None:
            return _not_found()
        async with read_session() as session:
            photo = await service.public_photo(session, photo_id)
        if photo is None:
            return _not_found()
        try:
            data = await services.store.get(photo.storage_key)
        except StoredFileMissing:
            log.error("vehicle photo %s: the store has no %s", photo.id, photo.storage_key)
            return _not_found()
        return Response(
            data,
            media_type=photo.content_type,
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "public, max-age=300",
                "ETag": f'"{photo.sha256}"',
            },
        )
