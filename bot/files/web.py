"""``GET /files/<key>?exp=&sig=``: a stored file by its signed link (Starlette; the handoff service mounts it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from bot.errors import CsbotError
from bot.files.service import FileService
from bot.web import error_response


def file_route(files: FileService) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            data, content_type = await asyncio.to_thread(files.open, key, request.query_params.get("exp", ""),
                                                         request.query_params.get("sig", ""))  # fmt: skip
        except CsbotError as exc:
            return error_response(exc)
        name = request.query_params.get("name") or key.rsplit("/", 1)[-1]
        disposition = "inline" if content_type.startswith("image/") else "attachment"
        return Response(data, media_type=content_type, headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            # a file is data, never a page: nothing in it runs, even if a browser is asked to render it
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name[:100])}",
        })  # fmt: skip

    return serve
