"""Is a form's answer an answer? Pure checks on a customer's reply to the bot's own question.

A return reason or a message for the staff is free text, so its form alone says little: 算了, 哈哈 and 不知道
pass any length check. What the NLU heard decides first (a reply it reads as calling the task off, a yes/no, a
question or a request for a person is not a value; domain.yml keeps those intents out of the slots); what is
left is checked here for content: something more than laughter, filler or a shrug.
"""

from __future__ import annotations

import re
import unicodedata

# intents that are never a slot's free-text value, whatever the words (domain.yml's `not_intent` lists them too)
NOT_AN_ANSWER = frozenset({
    "stop", "deny", "affirm", "greet", "goodbye", "thanks", "request_human", "ask_question", "bot_challenge",
    "out_of_scope", "leave_message", "rate_service",
})  # fmt: skip

# characters that carry no content on their own: laughter, hesitation, particles
_FILLER_CHARS = set("哈呵嘿嘻嗯哦噢喔啊呀吧呢嘛啦额呃唉哎诶欸么吗了的")
# a shrug: these mean "no reason" however they are padded (我也不知道啊, 没啥 随便吧)
_SHRUGS = ("不知道", "不清楚", "不晓得", "随便", "没啥", "没什么", "没原因", "没有原因", "无所谓", "说不上", "不好说")
_LATIN_FILLER = re.compile(r"^(?:h+a*|he+|x+d+|l+o+l+|e+m+|u+m+|o+k+|6+)+$")


def _core(text: str) -> str:
    """The reply without spaces, punctuation, symbols and emoji (NFKC, lower case)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def has_content(text: str) -> bool:
    """True when the reply says something: not empty, not only filler or laughter, not a shrug."""
    core = _core(text)
    if not core or _LATIN_FILLER.match(core):
        return False
    if all(ch in _FILLER_CHARS for ch in core):
        return False
    if any(s in core for s in _SHRUGS):
        # 不知道 is a shrug; 不知道为什么一洗就缩水 is a reason: the shrug must be most of the reply
        rest = core
        for s in _SHRUGS:
            rest = rest.replace(s, "")
        return len([ch for ch in rest if ch not in _FILLER_CHARS]) >= 4
    return True


def is_answer(intent: str | None, text: str) -> bool:
    """Whether a reply, as the NLU read it, can fill a free-text slot."""
    return (intent or "") not in NOT_AN_ANSWER and has_content(text)
