"""A customer's chat over the REST channel that also reads the tracker, so a test can check the route the
assistant took (the intent it heard, the actions it ran), not only the words of its reply."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from ..platform import Platform


@dataclass
class Turn:
    text: str  # the bot's replies, joined
    buttons: list[str]
    intent: str  # what the NLU heard
    actions: list[str]  # what ran in answer, in order
    slots: dict
    replies: list[dict]  # as the channel sent them


class Chat:
    """One logged-in customer's conversation; each turn also reads the tracker to see the route taken."""

    def __init__(self, platform: Platform, customer: str | None = None) -> None:
        self.p, self.customer = platform, customer or f"f-{uuid.uuid4().hex[:8]}"
        self.seen = 0
        if customer:  # a demo customer's one conversation: start it afresh
            self("/restart")

    def __call__(self, text: str) -> Turn:
        replies = self.p.say(self.customer, text, customer=self.customer)
        conversation = replies[0]["recipient_id"] if replies else f"default:{self.customer}"
        tracker = httpx.get(f"{self.p.rasa_url}/conversations/{conversation}/tracker?include_events=ALL",
                            headers=self.p.rasa_api(),
                            timeout=30).json()  # fmt: skip
        events = tracker["events"][self.seen:]
        self.seen = len(tracker["events"])
        user = [e for e in events if e["event"] == "user"][-1]
        return Turn(text="\n".join(r.get("text") or "" for r in replies),
                    buttons=[b["payload"] for r in replies for b in r.get("buttons") or []],
                    intent=user["parse_data"]["intent"]["name"],
                    actions=[e["name"] for e in events if e["event"] == "action"
                             and e["name"] not in ("action_listen", "action_session_start")],
                    slots=tracker["slots"], replies=replies)  # fmt: skip
