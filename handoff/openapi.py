"""The OpenAPI 3.1 document of the agent HTTP API (``GET /api/agent/openapi.json``), written by hand next to
the routes; ``tests/handoff/test_openapi.py`` checks that it names exactly the routes the app serves."""

from __future__ import annotations

from typing import Any

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
ID = {"type": "string", "pattern": "^[0-9]+$", "description": "a Snowflake id, as a string"}

SESSION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": ID, "conversation_id": {"type": "string"}, "channel": {"type": "string"},
        "customer": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                      "tags": {"type": "array", "items": {"type": "string"}}}},
        "state": {"enum": ["waiting", "active", "warning", "closed"]},
        "agent_id": {"type": ["string", "null"]}, "group": {"type": "string"},
        "reason": {"enum": ["complaint", "after_sales", "other"]}, "priority": {"type": "integer"},
        "queued_at": {"type": ["number", "null"]}, "assigned_at": {"type": ["number", "null"]},
        "first_response_at": {"type": ["number", "null"]}, "transfer_note": {"type": ["string", "null"]},
        "summary": {"type": ["string", "null"]}, "csat": {"type": ["integer", "null"]},
    },
}  # fmt: skip


ASSIST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "the customer's latest line that is not just 转人工"},
        "answers": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "text": {"type": "string"},
            "kind": {"enum": ["faq", "doc"]}, "score": {"type": "number"}}}},
        "sure": {"type": "boolean", "description": "the bot would have answered the first one by itself"},
        "summary": {"type": "object", "properties": {"text": {"type": "string"},
                                                     "source": {"enum": ["extractive", "llm"]}}},
        "error": {"type": "string", "description": "present when the knowledge service did not answer"},
    },
}  # fmt: skip

SEARCH_PAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "total": {"type": "integer", "description": "every match, not only this page"},
        "hits": {"type": "array", "items": {"type": "object", "properties": {
            "msg_id": ID, "conversation_id": {"type": "string"}, "role": {"enum": ["customer", "bot", "agent"]},
            "snippet": {"type": "string", "description": "a window of the PII-masked line"},
            "highlights": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}},
                           "description": "[start, end) of matched words in snippet"},
            "at": {"type": "number"}, "customer": {"type": ["string", "null"]},
            "agent_id": {"type": ["string", "null"]}, "channel": {"type": ["string", "null"]},
            "score": {"type": "number"}}}},
    },
}  # fmt: skip
SEARCH_PARAMS = (
    ("q", "words (at most 200 characters); without them: the latest lines first"),
    ("customer", "the shop's customer id"), ("agent", "an agent's user id or login"),
    ("role", "customer, bot or agent"), ("from", "a date (whole day, shop time), ISO time or epoch seconds"),
    ("to", "the same; a date includes that day"), ("conversation", "one conversation id"),
    ("limit", "1..100, default 20"), ("offset", "0..10000"),
)
ARCHIVE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "conversation_id": {"type": "string"},
        "lines": {"type": "array", "items": {"type": "object", "properties": {
            "msg_id": ID, "role": {"enum": ["customer", "bot", "agent"]}, "at": {"type": "number"},
            "text": {"type": "string"}, "image": {}, "file": {}, "agent_id": ID,
            "channel": {"type": ["string", "null"]}, "customer": {"type": ["string", "null"]},
            "error": {"type": "string", "description": "present when this line's sealed body does not open"}}}},
    },
}  # fmt: skip


_METRIC = {"type": ["number", "null"]}
REPORT_METRICS = ("conversations", "self_served", "self_service_rate", "handed_off", "handoff_rate", "sessions",
                  "served", "abandoned", "wait_avg", "wait_p90", "first_response_avg", "first_response_p90",
                  "handle_avg", "handle_p90", "tickets_due", "tickets_met", "sla_compliance", "csat_avg",
                  "csat_count")  # fmt: skip
REPORT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tenant": {"type": "string"}, "by": {"enum": ["day", "agent", "category"]},
        "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
        "timezone": {"type": "string"},
        "total": {"type": "object", "properties": dict.fromkeys(REPORT_METRICS, _METRIC)},
        "rows": {"type": "array", "items": {"type": "object", "properties": {
            "key": {"type": "string"}, "label": {"type": "string"}, **dict.fromkeys(REPORT_METRICS, _METRIC)}}},
    },
}  # fmt: skip
REPORT_PARAMS = [
    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"},
     "description": "first day, the shop's time zone"},
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"},
     "description": "last day, inclusive; at most 366 days"},
    {"name": "by", "in": "query", "required": False, "schema": {"enum": ["day", "agent", "category"]}},
    {"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"}, "description": "admin only"},
]  # fmt: skip


TICKET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": ID, "number": {"type": "string", "description": "what the customer is told, e.g. T2601010007"},
        "status": {"enum": ["new", "in_progress", "waiting_customer", "resolved", "closed"]},
        "status_label": {"enum": ["新建", "处理中", "待客户", "已解决", "关闭"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4, "description": "1=紧急 2=高 3=中 4=低"},
        "category": {"enum": ["refund", "logistics", "complaint", "tech", None]},
        "title": {"type": "string"}, "description": {"type": "string"},
        "source": {"enum": ["agent", "left_message", "queue_timeout", "complaint", "undelivered"]},
        "session_id": {"type": ["string", "null"]}, "conversation_id": {"type": ["string", "null"]},
        "customer_ref": {"type": ["string", "null"]}, "assignee_id": {"type": ["string", "null"]},
        "sla_minutes": {"type": "integer"}, "expired_at": {"type": ["number", "null"]},
        "sla_paused": {"type": "boolean", "description": "waiting for the customer: the SLA clock stands"},
        "sla_seconds_left": {"type": ["integer", "null"], "description": "negative: breached"},
        "breached": {"type": "boolean"}, "escalation_level": {"type": "integer"},
        "created_at": {"type": "number"}, "resolved_at": {"type": ["number", "null"]},
        "closed_at": {"type": ["number", "null"]},
    },
}  # fmt: skip
TICKET_PARAMS = [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
                 for n, d in (("status", "comma-separated: new,in_progress,waiting_customer,resolved,closed"),
                              ("priority", "1-4"), ("category", "refund, logistics, complaint or tech"),
                              ("assignee", "me, none or an agent id"), ("source", "agent, left_message, …"),
                              ("conversation_id", "the conversation"), ("breached", "true or false"),
                              ("q", "a ticket number or words of the title (plain text)"),
                              ("before", "the last id of the previous page"), ("limit", "1-200, default 50"))]


def _op(summary: str, ok: dict[str, Any] | None = None, body: dict[str, Any] | None = None,
        params: tuple[str, ...] = (), status: str = "200", roles: str = "agent, supervisor") -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": "done"} | ({"content": {"application/json": {"schema": ok}}} if ok else {}),
        "400": {"description": "bad input", "content": {"application/json": {"schema": ERROR}}},
        "401": {"description": "no valid token", "content": {"application/json": {"schema": ERROR}}},
        "403": {"description": "wrong role, or another agent's session",
                "content": {"application/json": {"schema": ERROR}}},
        "404": {"description": "unknown here (or another tenant's)",
                "content": {"application/json": {"schema": ERROR}}},
        "409": {"description": "not in a state that allows it", "content": {"application/json": {"schema": ERROR}}},
        "429": {"description": "too many requests", "content": {"application/json": {"schema": ERROR}}},
    }  # fmt: skip
    op: dict[str, Any] = {"summary": summary, "description": f"Roles: {roles}.", "responses": responses,
                          "parameters": [{"name": p, "in": "path", "required": True, "schema": ID} for p in params]}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def document() -> dict[str, Any]:
    obj = {"type": "object"}
    items = {"type": "object", "properties": {"items": {"type": "array", "items": SESSION}}}
    file = {"type": "object", "required": ["url"], "properties": {
        "url": {"type": "string", "description": "the url POST /api/agent/files returned"},
        "name": {"type": "string"}}}
    text = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 2000},
                                             "image_url": {"type": "string", "format": "uri"}, "file": file}}
    stored = {"type": "object", "properties": {
        "key": {"type": "string"}, "url": {"type": "string", "description": "signed, expires (files.link_days)"},
        "content_type": {"enum": ["image/jpeg", "image/png", "application/pdf"]}, "name": {"type": "string"},
        "size": {"type": "integer"}, "width": {"type": "integer"}, "height": {"type": "integer"}}}
    transfer = {"type": "object", "properties": {"agent_id": ID, "group": {"type": "string"},
                                                 "note": {"type": "string", "maxLength": 500}}}  # fmt: skip
    paths = {
        "/api/auth/login": {"post": _op("Log in", obj, {"type": "object", "required": ["login", "password"],
                                                         "properties": {"tenant": {"type": "string"},
                                                                        "login": {"type": "string"},
                                                                        "password": {"type": "string"}}},
                                        roles="anyone")},
        "/api/auth/refresh": {"post": _op("A new token; the old one is revoked", obj)},
        "/api/auth/logout": {"post": _op("Revoke this token everywhere", status="204")},
        "/api/auth/me": {"get": _op("Who this token is", obj)},
        "/api/agent/heartbeat": {"post": _op("I am here (every 20 s from each device)", status="204")},
        "/api/agent/availability": {"post": _op("Switch available / busy", obj, {
            "type": "object", "required": ["available"], "properties": {"available": {"type": "boolean"}}})},
        "/api/agent/queue": {"get": _op("Waiting sessions of my groups (supervisor: all)", items)},
        "/api/agent/sessions": {"get": _op("My open sessions (supervisor: all)", items)},
        "/api/agent/sessions/{session_id}": {"get": _op("A session with its messages, the bot conversation before "
                                                        "it and the customer's past sessions", obj,
                                                        params=("session_id",))},
        "/api/agent/sessions/{session_id}/assist": {"get": _op(
            "Agent assist: the knowledge base's answers to the customer's latest message with their sources, and "
            "a summary of the bot part (by the LLM when one is configured)", ASSIST, params=("session_id",))},
        "/api/agent/sessions/{session_id}/orders": {"get": _op(
            "The customer's orders through the shop's order adapter: the ones named in the chat first, then their "
            "latest; error says when the order system is down", obj, params=("session_id",))},
        "/api/agent/sessions/{session_id}/take": {"post": _op("Take a waiting session (supervisor: assign it with "
                                                              "agent_id)", SESSION, obj, ("session_id",))},
        "/api/agent/sessions/{session_id}/messages": {"post": _op("Write to the customer (422 when the content-safety "
                                                                  "filter refuses the line: nothing stored or sent)",
                                                                  obj, text, ("session_id",))},
        "/api/agent/files": {"post": {**_op(
            "Upload an image or PDF to send (raw body, ?name=). The type is judged by the bytes; images are "
            "re-encoded without metadata; 413 over files.max_mb", stored),
            "requestBody": {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
            "parameters": [{"name": "name", "in": "query", "required": False, "schema": {"type": "string"}}]}},
        "/api/agent/sessions/{session_id}/transfer": {"post": _op("Transfer to an agent or a group with a note",
                                                                  SESSION, transfer, ("session_id",))},
        "/api/agent/sessions/{session_id}/close": {"post": _op("Close with a summary", SESSION, {
            "type": "object", "properties": {"summary": {"type": "string"}}}, ("session_id",))},
        "/api/agent/offers/{offer_id}/accept": {"post": _op("Accept an offer", SESSION, params=("offer_id",))},
        "/api/agent/offers/{offer_id}/decline": {"post": _op("Decline an offer", params=("offer_id",),
                                                             status="204")},
        "/api/agent/colleagues": {"get": _op("Agents a chat can be transferred to: state and load", obj)},
        "/api/agent/messages/search": {"get": {**_op(
            "Search archived lines (PII-masked) by words, customer, agent, role and time; words are plain text "
            "(no query syntax). Supervisor: the tenant's conversations; agent: the ones they handled. 503 when "
            "the search cluster is away", SEARCH_PAGE),
            "parameters": [{"name": n, "in": "query", "required": False, "schema": {"type": "string"},
                            "description": d} for n, d in SEARCH_PARAMS]}},
        "/api/agent/conversations/{conversation_id}/archive": {"get": {**_op(
            "One conversation's archived lines in order, decrypted (how a search result opens); 404 when this "
            "tenant has none, 403 for a conversation another agent handled", ARCHIVE),
            "parameters": [{"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           *({"name": n, "in": "query", "required": False, "schema": {"type": "integer"}}
                             for n in ("limit", "offset"))]}},
        "/api/agent/overview": {"get": _op("Queues, agents' presence and load, the chats being served and today's "
                                           "counts", obj, roles="supervisor")},
        "/api/agent/reports": {"get": {**_op(
            "Report of a period per day, agent or category, with its total: bot self-service and handoff rates, "
            "queue wait, first response and handle time (avg, p90, seconds), SLA compliance, CSAT", REPORT,
            roles="supervisor, admin (admin: any tenant with ?tenant=)"), "parameters": REPORT_PARAMS}},
        "/api/agent/reports.csv": {"get": {**_op(
            "The same report as CSV for Excel (UTF-8 with BOM, Chinese headers, rates in percent, total last)",
            roles="supervisor, admin"), "parameters": REPORT_PARAMS}},
        **ticket_paths(obj),
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "csbot agent API", "version": "1",
                 "description": "Bearer JWT from /api/auth/login. Real-time pushes: the WebSocket "
                                "/api/agent/ws?token=…&cursor=N (offers, messages, state changes, each with "
                                "its seq; reconnect with the last seq as cursor)."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
                       "schemas": {"Session": SESSION, "Error": ERROR}},
        "security": [{"bearer": []}],
        "paths": paths,
    }  # fmt: skip


def ticket_paths(obj: dict[str, Any]) -> dict[str, Any]:
    """``/api/agent/tickets…`` (handoff.tickets.api). Another tenant's ticket is a 404; an agent changes only
    their own or an unassigned ticket (403), a supervisor any of the tenant's."""
    tid = ("ticket_id",)
    items = {"type": "object", "properties": {"items": {"type": "array", "items": TICKET}, "now": {"type": "number"}}}
    new = {"type": "object", "required": ["title"], "properties": {
        "title": {"type": "string", "maxLength": 255}, "description": {"type": "string", "maxLength": 8000},
        "session_id": ID, "conversation_id": {"type": "string"}, "assignee_id": ID,
        "category": {"enum": ["refund", "logistics", "complaint", "tech"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4}}}
    move = {"type": "object", "required": ["status"], "properties": {
        "status": {"enum": ["in_progress", "waiting_customer", "resolved", "closed"]},
        "note": {"type": "string", "maxLength": 4000, "description": "kept as an internal comment"},
        "reply": {"type": "string", "maxLength": 4000,
                  "description": "what the customer reads (待客户: the question; 已解决: the outcome)"}}}
    detail = {"allOf": [TICKET, {"type": "object", "properties": {
        "comments": {"type": "array", "items": {"type": "object"}}, "transcript_url": {"type": "string"}}}]}
    return {
        "/api/agent/tickets": {
            "get": {**_op("Tickets of the tenant, newest first, with filters and SLA time left", items),
                    "parameters": TICKET_PARAMS},
            "post": _op("Open a ticket from a conversation (session_id or conversation_id; 404 when unknown); "
                        "the customer is told its number", TICKET, new)},
        "/api/agent/tickets/{ticket_id}": {"get": _op("A ticket with its comments", detail, params=tid)},
        "/api/agent/tickets/{ticket_id}/transcript": {"get": _op(
            "The ticket's conversation: the handoff session's lines and the bot conversation", obj, params=tid)},
        "/api/agent/tickets/{ticket_id}/status": {"post": _op(
            "Move the ticket (409 for a move the status machine refuses); 已解决 tells the customer", TICKET, move,
            tid)},
        "/api/agent/tickets/{ticket_id}/assign": {"post": _op(
            "Assign (an agent: to themselves; a supervisor: anyone, null unassigns)", TICKET,
            {"type": "object", "required": ["agent_id"], "properties": {"agent_id": {"type": ["string", "null"]}}},
            tid)},
        "/api/agent/tickets/{ticket_id}/comments": {"post": _op(
            "Add an internal comment (413 past 16 KB)", obj,
            {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 4000}}},
            tid)},
    }  # fmt: skip
