"""The Rasa server's HTTP API behind one check of our own, in front of Rasa's (sanic-jwt answers a token with
``alg: none`` with a 500 and a Basic header with a 400). Customer channels stay open; every other route needs
a JWT signed with the Rasa API key: HS256 only, ``exp`` required. Runs in the Rasa server (3.10)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

PUBLIC_EXACT = ("/", "/version")
PUBLIC_PREFIXES = ("/webhooks/", "/socket.io")


def is_public(path: str) -> bool:
    return path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES)


def api_guard(secret: str) -> Callable[[Request], Awaitable[HTTPResponse | None]]:
    async def guard(request: Request) -> HTTPResponse | None:
        if request.method == "OPTIONS" or is_public(request.path):
            return None
        header = request.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise jwt.InvalidTokenError("no bearer token")
            jwt.decode(token.strip(), secret, algorithms=["HS256"], options={"require": ["exp"]})
        except jwt.PyJWTError:
            return response.json({"error": "the Rasa API needs a valid bearer token"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        return None

    return guard


def install(secret: str) -> None:
    """Wrap ``rasa.server.create_app`` so the app it builds gets the guard as its first request middleware."""
    from rasa import server

    original = server.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        app.register_middleware(api_guard(secret), "request")
        return app

    server.create_app = create_app
