"""The authorization matrix: every HTTP route of every service, and who may call it.

``docs/security.md`` shows this table; ``tests/e2e/test_authorization.py`` walks it against the running
platform with every identity (no token, a customer token, each staff role and a service token, each in the
route's tenant and in another), and a few forged tokens.

Access kinds:
* ``public`` — anyone (health checks, customer channels, staff log-in)
* a tuple of roles — a platform JWT of the route's audience holding one of them (admin holds every role)
* ``rasa`` — the Rasa HTTP API: only a JWT signed with the Rasa API key (``bot.rasa_env``)
* ``actions`` / ``orders`` — only the key the Rasa server / action server hold
* ``widget`` — only the web chat's session token (``channels.widget_session``), which no other identity is

The agent WebSocket (``/api/agent/ws``, roles agent and supervisor) is walked by its own test.
"""

from __future__ import annotations

from dataclasses import dataclass

STAFF_ROLES = ("agent", "supervisor", "kb_admin")
AGENTS = ("agent", "supervisor")
KB = ("kb_admin",)
ADMIN = ("admin",)


@dataclass(frozen=True)
class R:
    service: str  # rasa | knowledge | handoff | actions | orders
    method: str
    path: str
    access: str | tuple[str, ...]
    audience: str = "staff"  # staff | service (for role routes)
    # False: calling it with a permitted identity would change shared state (reload the model, roll back the
    # KB); only the refusals are walked, the permitted call is covered by its own test
    call_when_allowed: bool = True
    # what a permitted call sends; None: a malformed JSON body, so it fails validation and changes nothing
    body: bytes | None = None


ROUTES: tuple[R, ...] = (
    # Rasa server: channels open, API locked
    R("rasa", "GET", "/", "public"),
    R("rasa", "GET", "/version", "public"),
    R("rasa", "GET", "/webhooks/rest/", "public"),
    R("rasa", "POST", "/webhooks/rest/webhook", "public"),
    R("rasa", "GET", "/socket.io/?EIO=4&transport=polling", "public"),
    R("rasa", "GET", "/webhooks/socketio/chat", "public"),
    R("rasa", "GET", "/webhooks/socketio/widget.js", "public"),
    R("rasa", "POST", "/webhooks/socketio/upload", "widget"),
    R("rasa", "GET", "/webhooks/wechat/webhook", "public"),  # WeChat's signature, checked by the channel
    R("rasa", "POST", "/webhooks/wechat/webhook", "public"),
    R("rasa", "GET", "/webhooks/wecom_kf/webhook", "public"),  # WeCom's msg_signature, checked by the channel
    R("rasa", "POST", "/webhooks/wecom_kf/webhook", "public"),
    R("rasa", "GET", "/status", "rasa"),
    R("rasa", "GET", "/domain", "rasa"),
    R("rasa", "GET", "/conversations/matrix-1/tracker", "rasa"),
    R("rasa", "POST", "/conversations/matrix-1/tracker/events", "rasa", call_when_allowed=False),
    R("rasa", "PUT", "/conversations/matrix-1/tracker/events", "rasa", call_when_allowed=False),
    R("rasa", "GET", "/conversations/matrix-1/story", "rasa"),
    R("rasa", "POST", "/conversations/matrix-1/execute", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/conversations/matrix-1/trigger_intent", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/conversations/matrix-1/predict", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/conversations/matrix-1/messages", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/model/train", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/model/test/stories", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/model/test/intents", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/model/predict", "rasa", call_when_allowed=False),
    R("rasa", "POST", "/model/parse", "rasa", body='{"text": "在吗"}'.encode()),  # Rasa 500s on bad JSON here
    R("rasa", "PUT", "/model", "rasa", call_when_allowed=False),
    R("rasa", "DELETE", "/model", "rasa", call_when_allowed=False),
    # knowledge service
    R("knowledge", "GET", "/health", "public"),
    R("knowledge", "POST", "/answer", ("service",), audience="service"),
    R("knowledge", "POST", "/assist", ("service",), audience="service"),
    R("knowledge", "GET", "/api/kb/faqs", KB),
    R("knowledge", "POST", "/api/kb/faqs", KB),
    R("knowledge", "GET", "/api/kb/faqs/matrix-none", KB),
    R("knowledge", "PUT", "/api/kb/faqs/matrix-none", KB),
    R("knowledge", "DELETE", "/api/kb/faqs/matrix-none", KB),
    R("knowledge", "GET", "/api/kb/documents", KB),
    R("knowledge", "PUT", "/api/kb/documents/matrix.exe", KB),
    R("knowledge", "DELETE", "/api/kb/documents/matrix-none.md", KB),
    R("knowledge", "POST", "/api/kb/ask", KB),
    R("knowledge", "PUT", "/api/kb/import/matrix.exe", KB),
    R("knowledge", "POST", "/api/kb/eval", KB),
    R("knowledge", "GET", "/api/kb/lowconf", KB),
    R("knowledge", "GET", "/api/kb/proposals", KB),
    R("knowledge", "POST", "/api/kb/proposals/generate", KB),
    R("knowledge", "POST", "/api/kb/proposals/accept", KB),
    R("knowledge", "POST", "/api/kb/proposals/reject", KB),
    R("knowledge", "POST", "/api/kb/rebuild", ADMIN),
    R("knowledge", "POST", "/api/kb/switch", ADMIN),
    R("knowledge", "POST", "/api/kb/rollback", ADMIN, call_when_allowed=False),
    R("knowledge", "GET", "/api/kb/status", ADMIN),
    # handoff service
    R("handoff", "GET", "/health", "public"),
    R("handoff", "POST", "/api/auth/login", "public"),
    R("handoff", "POST", "/api/auth/refresh", STAFF_ROLES, call_when_allowed=False),
    R("handoff", "POST", "/api/auth/logout", STAFF_ROLES, call_when_allowed=False),
    R("handoff", "GET", "/api/auth/me", STAFF_ROLES),
    R("handoff", "GET", "/api/agent/openapi.json", "public"),
    R("handoff", "POST", "/api/agent/heartbeat", AGENTS, call_when_allowed=False),  # would mark them online
    R("handoff", "POST", "/api/agent/availability", AGENTS),
    R("handoff", "GET", "/api/agent/queue", AGENTS),
    R("handoff", "GET", "/api/agent/sessions", AGENTS),
    R("handoff", "GET", "/api/agent/sessions/1", AGENTS),
    R("handoff", "GET", "/api/agent/sessions/1/assist", AGENTS),
    R("handoff", "GET", "/api/agent/sessions/1/orders", AGENTS),
    R("handoff", "POST", "/api/agent/sessions/1/take", AGENTS),
    R("handoff", "POST", "/api/agent/sessions/1/messages", AGENTS),
    R("handoff", "POST", "/api/agent/sessions/1/transfer", AGENTS),
    R("handoff", "POST", "/api/agent/sessions/1/close", AGENTS),
    R("handoff", "POST", "/api/agent/offers/1/accept", AGENTS),
    R("handoff", "POST", "/api/agent/offers/1/decline", AGENTS),
    R("handoff", "GET", "/api/agent/colleagues", AGENTS),
    R("handoff", "POST", "/api/agent/files", AGENTS),  # a permitted call sends "{": not an image, 400
    R("handoff", "GET", "/files/default/202612/" + "0" * 32 + ".jpg", "public"),  # no signature: 404
    R("handoff", "GET", "/api/agent/overview", ("supervisor",)),
    R("handoff", "GET", "/api/agent/tickets?status=new,in_progress", AGENTS),
    R("handoff", "POST", "/api/agent/tickets", AGENTS),  # a permitted call sends "{": 400
    R("handoff", "GET", "/api/agent/tickets/1", AGENTS),  # no such ticket: 404
    R("handoff", "GET", "/api/agent/tickets/1/transcript", AGENTS),
    R("handoff", "POST", "/api/agent/tickets/1/status", AGENTS),
    R("handoff", "POST", "/api/agent/tickets/1/assign", AGENTS),
    R("handoff", "POST", "/api/agent/tickets/1/comments", AGENTS),
    R("handoff", "GET", "/api/agent/reports?from=2026-12-01&to=2026-12-07&by=day", ("supervisor",)),
    R("handoff", "GET", "/api/agent/reports.csv?from=2026-12-01&to=2026-12-07&by=agent", ("supervisor",)),
    R("handoff", "GET", "/reports", "public"),
    R("handoff", "GET", "/reports/static/reports.js", "public"),
    R("handoff", "GET", "/api/agent/messages/search?q=%E9%80%80%E6%AC%BE", AGENTS),
    R("handoff", "GET", "/api/agent/conversations/matrix-1/archive", AGENTS),  # nothing archived: 404
    R("handoff", "GET", "/inbox/search", "public"),
    R("handoff", "GET", "/inbox/tickets", "public"),
    R("handoff", "GET", "/inbox/tickets/static/tickets.js", "public"),
    R("handoff", "GET", "/inbox/search/static/search.js", "public"),
    R("handoff", "GET", "/inbox", "public"),
    R("handoff", "GET", "/inbox/static/inbox.js", "public"),
    R("handoff", "POST", "/internal/handoff", ("service",), audience="service"),
    R("handoff", "POST", "/internal/events", ("service",), audience="service"),
    R("handoff", "POST", "/internal/seen", ("service",), audience="service"),
    R("handoff", "POST", "/internal/csat", ("service",), audience="service"),
    R("handoff", "POST", "/internal/left-messages", ("service",), audience="service"),
    R("handoff", "POST", "/internal/end", ("service",), audience="service"),
    # privacy requests (handoff/privacy/api.py): an unknown customer, so a permitted call is a 404 that erases nothing
    R("handoff", "GET", "/api/admin/privacy/customers/matrix-privacy", ADMIN),
    R("handoff", "DELETE", "/api/admin/privacy/customers/matrix-privacy", ADMIN),
    # action server: only the Rasa server
    R("actions", "GET", "/health", "public"),
    R("actions", "POST", "/webhook", "actions"),
    R("actions", "GET", "/actions", "actions"),
    # the demo shop's order API: only the action server
    R("orders", "GET", "/health", "public"),
    R("archive", "GET", "/health", "public"),  # the archive process's health (counters, no message text)
    R("archive", "POST", "/internal/search/forget", ("service",), audience="service"),  # "{": 400, deletes nothing
    # Prometheus metrics on every service: open like /health unless metrics.token is set (docs/security.md)
    *(R(s, "GET", "/metrics", "public") for s in ("rasa", "knowledge", "handoff", "actions", "orders", "archive")),
    R("orders", "GET", "/orders/250316084512367890?customer_id=u1001", "orders"),
    R("orders", "POST", "/orders/250316084512367890/cancel", "orders"),
    R("orders", "POST", "/orders/250316084512367890/address", "orders"),
    R("orders", "POST", "/orders/250316084512367890/returns", "orders"),
)
