"""The agent API's OpenAPI document names exactly the routes the app serves, with their methods."""

from __future__ import annotations

from starlette.routing import Mount, Route

from bot.settings import Settings
from handoff.app import create_app
from handoff.openapi import document

from .conftest import Customers


def test_the_document_matches_the_routes(settings: Settings) -> None:
    app = create_app(settings, Customers(), run_clock=False)
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Mount) and route.path in ("/api/auth", "/api/agent"):
            for r in route.routes:
                assert isinstance(r, Route)
                served |= {(route.path + r.path, m.lower()) for m in (r.methods or ()) if m != "HEAD"}
    doc = document()
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented == served
    assert doc["openapi"].startswith("3.1") and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for ops in doc["paths"].values():
        for op in ops.values():
            assert {"400", "401"} <= set(op["responses"])
