"""Terminal chat with the running assistant over Rasa's REST channel."""

from __future__ import annotations

import uuid

import httpx
from rich.console import Console
from rich.prompt import Prompt

from bot.errors import CsbotError

console = Console()


def send(client: httpx.Client, base_url: str, sender: str, text: str, token: str | None = None) -> list[dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = client.post(f"{base_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                       headers=headers)  # fmt: skip
    if resp.status_code == 429:  # the polite line
        return list(resp.json())
    resp.raise_for_status()
    return list(resp.json())


def render(reply: dict) -> None:
    if "text" in reply:
        console.print(f"[bold cyan]客服[/bold cyan] {reply['text']}")
    for i, b in enumerate(reply.get("buttons") or [], 1):
        console.print(f"   [{i}] {b.get('title')}")
    if "custom" in reply:
        console.print(f"   [dim]{reply['custom']}[/dim]")


def chat_loop(base_url: str, sender: str = "", token: str | None = None, who: str = "") -> None:
    sender = sender or f"cli-{uuid.uuid4().hex[:8]}"
    console.print(f"talking to {base_url} as {who or sender + ' (anonymous)'}; /quit to leave")
    buttons: list[dict] = []
    with httpx.Client(timeout=30) as client:
        while True:
            try:
                text = Prompt.ask("[bold]你[/bold]")
            except (EOFError, KeyboardInterrupt):
                break
            if text.strip() in {"/quit", "/exit"}:
                break
            if text.isdigit() and 0 < int(text) <= len(buttons):  # pick a button by number
                text = buttons[int(text) - 1].get("payload", text)
            try:
                replies = send(client, base_url, sender, text, token)
            except httpx.HTTPError as exc:
                raise CsbotError(f"cannot reach the assistant at {base_url} ({exc}); is `csbot run` up?") from None
            buttons = []
            for r in replies:
                render(r)
                buttons += r.get("buttons") or []
