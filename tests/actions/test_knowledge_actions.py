"""Knowledge-backed replies inside order actions, against a real knowledge service over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import knowledge_actions
from actions.form_actions import ActionTriageRequest
from actions.handoff_actions import ActionHandleComplaint
from actions.order_actions import ActionHandleOrder
from actions.router import Signals
from bot.tokens import ServiceTokens
from knowledge.client import KnowledgeClient
from knowledge.server import create_app
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, make_settings, write_jsonl

from .conftest import sealed, serve_in_thread


@pytest.fixture(scope="module")
def knowledge_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServiceTokens]]:
    """A knowledge server whose gate never answers and always suggests (so the unsure path is exercised)."""
    home = tmp_path_factory.mktemp("kb")
    overrides = {"knowledge": {"gate_threshold": 0.999999, "sure_threshold": 1.0, "suggest_threshold": 0.001}}
    settings = make_settings(home, overrides)
    svc = KnowledgeService.from_settings(settings)
    svc.migrate()
    assert svc.import_paths([write_jsonl(Path(home) / "faq.jsonl", SMALL_FAQ)], "default")[0].status == "ok"
    svc.close()  # the embedded stores take one client: the server opens its own
    with serve_in_thread(create_app(settings), ready_seconds=60) as url:
        yield url, ServiceTokens(settings.keyring, "actions", 3600)


# The router's verdicts are set here, so these tests check what each action does with one; the router itself is
# tested in test_router.py and, with the real NLU and KB, in tests/e2e/test_router_cases.py.
QUESTIONS = {"一般下单之后多久能发出来呀", "发票抬头写错了", "申请的退货一直没人处理"}


@dataclass
class Verdicts:
    threshold: float = 0.5

    def probability(self, s: Signals) -> float:
        return 1.0 if s.text in QUESTIONS else 0.0

    def could_take(self, s: Signals) -> bool:
        return True  # always ask the KB: these tests are about what the actions do with its answer


@pytest.fixture
def kb_server(knowledge_url: tuple[str, ServiceTokens], monkeypatch: pytest.MonkeyPatch) -> None:
    """The actions ask the test knowledge server; the router reads QUESTIONS as questions, nothing else."""
    url, token = knowledge_url
    monkeypatch.setattr(knowledge_actions, "knowledge_client", lambda: KnowledgeClient(url, token))
    monkeypatch.setattr(knowledge_actions, "shipped_router", Verdicts)


def run_action(action: Action, text: str, intent: str,
               conversation: str = "default:u1001") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """(messages, events) of one action run on a first message with this text and intent."""
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [],
              "metadata": sealed("u1001", conversation)}  # a logged-in customer  # fmt: skip
    t = Tracker(conversation, {}, latest, [], False, None, {}, "action_listen")
    d = CollectingDispatcher()
    return d.messages, asyncio.run(action.run(d, t, {}))


def run_order_action(text: str, intent: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return run_action(ActionHandleOrder(), text, intent)


def test_unsure_policy_question_gets_the_order_prompt_and_the_nearest_faqs(
    kb_server: None,
) -> None:
    msgs, events = run_order_action("一般下单之后多久能发出来呀", "logistics")
    assert len(msgs) == 1 and "订单号" in msgs[0]["text"]
    titles = [b["title"] for b in msgs[0]["buttons"]]
    assert titles[0] == "多久能发货？" and all(b["payload"] == b["title"] for b in msgs[0]["buttons"])
    assert {"event": "slot", "name": "order_task", "value": "logistics", "timestamp": None} in events


def test_a_bare_command_still_just_asks_for_the_order_number(
    kb_server: None,
) -> None:
    msgs, _ = run_order_action("查物流", "logistics")  # a task, and the KB has nothing near
    assert len(msgs) == 1 and msgs[0].get("response") == "utter_ask_order_id" and not msgs[0].get("buttons")


def test_a_change_that_is_not_about_an_address_never_starts_the_address_form(
    kb_server: None,
) -> None:
    # the NLU says change_address; the router reads a question: answered as one (here: unsure → buttons)
    msgs, events = run_action(ActionTriageRequest(), "发票抬头写错了", "change_address")
    triage = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "triage"]
    assert triage == ["answered"]  # the rules start no form on "answered"
    assert len(msgs) == 1 and "是不是想问" in msgs[0]["text"] and msgs[0]["buttons"]
    # a real address change still starts its form
    _, events = run_action(ActionTriageRequest(), "帮我把收货地址改成北京市朝阳区", "change_address")
    assert {"event": "slot", "timestamp": None, "name": "triage", "value": "form"} in events


def test_a_stated_problem_gets_an_apology_and_the_nearest_faqs_an_escalation_a_person(
    kb_server: None,
) -> None:
    # a stated problem the router sends to the KB, which is close but not sure
    msgs, events = run_action(ActionHandleComplaint(), "申请的退货一直没人处理", "complaint")
    assert msgs[0].get("response") == "utter_complaint_sorry"
    titles = [b["title"] for b in msgs[1]["buttons"]]
    assert "怎么申请退货？" in titles and titles[-1] == "转人工客服"
    assert {"event": "slot", "name": "offered_human", "value": True, "timestamp": None} in events
    # an escalation: straight to a person (here the handoff service is not running: said so, a message taken)
    msgs, events = run_action(ActionHandleComplaint(), "我要投诉你们 找你们领导来", "complaint")
    assert msgs[0].get("response") == "utter_complaint_sorry" and "连不上" in msgs[1]["text"]
    assert {"event": "followup", "name": "leave_message_form", "timestamp": None} in events


def test_an_escalation_is_queued_for_a_person_and_the_bot_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    from actions import common, handoff_actions
    from bot.storage import migrate
    from bot.storage.db import Database
    from bot.users import UserService
    from handoff.app import create_app as handoff_app
    from handoff.client import HandoffClient
    from tests.handoff.conftest import Customers

    s = common.settings()
    db = Database.from_settings(s)
    migrate.upgrade(db.engine)
    agent = UserService(db).create("default", f"esc-{uuid.uuid4().hex[:6]}", "客服小周", {"agent"}, "password-123")
    app = handoff_app(load_settings_with_hours(s), Customers(), run_clock=False)
    with serve_in_thread(app) as url:
        app.state.handoff.presence.heartbeat("default", agent.user_id, app.state.handoff.clock())
        monkeypatch.setattr(handoff_actions, "handoff_client", lambda: HandoffClient(url, handoff_client_tokens(s)))
        # a conversation of its own: the default home's database outlives one run of the tests
        conv = f"default:u1001-{uuid.uuid4().hex[:6]}"
        msgs, events = run_action(ActionHandleComplaint(), "我要投诉你们 找你们领导来", "complaint", conv)
    assert "已为您转接人工客服" in msgs[1]["text"] and "前面还有" in msgs[1]["text"]
    assert {"event": "pause", "timestamp": None} in events


def load_settings_with_hours(s: Any) -> Any:
    import os

    from bot.settings import load_settings

    return load_settings({**os.environ, "CSBOT_HOME": str(s.home)}, {"handoff": {"working_hours": "00:00-24:00"}})


def handoff_client_tokens(s: Any) -> Any:
    from bot.tokens import ServiceTokens

    return ServiceTokens(s.keyring, "actions", 600)
