"""Content safety (bot.safety): the word-list filter, the list loader and its error reports, the factory, the
HTTP filter against a fake of a cloud content-safety API (started here, at its HTTP boundary), and the audit
rows on the real database (SQLite and the machine's MariaDB)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.errors import ConfigError
from bot.safety import create_filter, default_filter
from bot.safety.base import BLOCK, MASK, PASS, REVIEW, OffFilter, Verdict
from bot.safety.http import HttpFilter
from bot.safety.normalize import normalize
from bot.safety.record import Incident, record
from bot.safety.screen import Screen, Screened
from bot.safety.wordlist import WordListFilter
from bot.safety.words import BUILTIN, parse, read_file
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database

# --- the shipped list -------------------------------------------------------------------------------------------


def test_the_shipped_list_loads_clean_and_is_a_few_hundred_words() -> None:
    loaded = read_file(BUILTIN, "zh")
    assert loaded.problems == []
    assert 250 <= len(loaded.entries) <= 1000
    categories = {e.category for e in loaded.entries}
    assert {"contraband", "gambling", "porn", "fraud", "offsite", "abuse"} <= categories


@pytest.mark.parametrize(
    ("text", "action", "category"),
    [
        ("你好，我的订单250212075519846031到哪了", PASS, None),
        ("加微信刷单，日赚500", BLOCK, "fraud"),  # the longer, more severe match wins over 加微信 (review)
        ("出售枪支，私聊", BLOCK, "contraband"),
        ("网上赌场注册就送", BLOCK, "gambling"),
        ("加 微 信 聊", REVIEW, "offsite"),  # spaces between the characters do not hide a word
        ("加－微－信", REVIEW, "offsite"),  # nor full-width punctuation
        ("ＳＢ客服", MASK, "abuse"),  # full-width letters are letters
        ("you are sb", MASK, "abuse"),
        ("usb线多少钱", PASS, None),  # an ASCII word inside a longer run of letters is not a match
        ("加vip会员有什么好处", PASS, None),  # 加v is not in 加vip
        ("加vx123456", REVIEW, "offsite"),  # ...but digits after it are an id
        ("黑鸦片香水有货吗", PASS, None),  # the shipped allow-list: a perfume
        ("象牙白的有吗", PASS, None),
        ("我要买手枪钻", PASS, None),
        ("明日你们发货吗", PASS, None),
        ("有人让我下个软件共享屏幕 是真的吗", REVIEW, "fraud"),  # a victim quoting a scam is not refused
    ],
)
def test_the_shipped_list_decides(text: str, action: str, category: str | None) -> None:
    v = default_filter().check(text, "default")
    assert (v.action, v.category) == (action, category)
    assert v.allowed == (action != BLOCK)


def test_masking_replaces_the_words_and_keeps_the_rest() -> None:
    v = default_filter().check("他妈的 快点发货，傻 逼", "default")
    assert v.action == MASK and v.text == "＊＊＊ 快点发货，＊＊＊" == v.masked_text
    blocked = default_filter().check("加微信刷单，找13812345678", "default")
    assert blocked.text == "" and blocked.masked_text == "＊＊＊＊＊，找13812345678"
    assert blocked.rule and blocked.rule.startswith("zh:") and "刷单" not in blocked.rule


def test_a_review_word_goes_on_unchanged_but_masked_for_the_record() -> None:
    v = default_filter().check("能加我微信吗，傻逼", "default")
    assert v.action == REVIEW and v.allowed
    assert v.text == "能加我微信吗，＊＊" and v.masked_text == "能＊＊＊＊吗，＊＊"


def test_emoji_and_lone_surrogates_neither_break_matching_nor_masking() -> None:
    v = default_filter().check("😀sb😀加微信刷单", "default")  # characters past the BMP before the words
    assert v.blocked and v.masked_text == "😀＊＊😀＊＊＊＊＊"
    assert default_filter().check("\ud800你好", "default").action == PASS  # JSON may carry one; no exception
    assert default_filter().check("出售\ud800枪支", "default").action == BLOCK


def test_normalize_folds_width_case_and_separators() -> None:
    assert normalize("Ａｂ Ｃ１-２。加\u200b微*信") == "abc12加微信"


# --- the loader: malformed lines are reported with file:line and the rest loads --------------------------------


def test_malformed_lines_are_reported_with_file_and_line_and_the_rest_loads(tmp_path: Path) -> None:
    f = tmp_path / "shop.txt"
    f.write_bytes("\n".join([
        "# 店铺自定义词表",
        "竞品小卖部",  # 1 word: custom, block
        "[赌博]",
        "百家乐代理",
        "押注平台\tgambling\treview",
        "操",  # one character: too short
        "a\tb\tc\td",  # four columns
        "刷信誉\tfraud\tburn",  # unknown action
        "[不存在 的 节]",  # three words in a section
        "在坏节下的词",  # skipped with the broken section
        "[半截",
        "[辱骂 mask]",
        "蠢材",
        "x" * 51,
    ]).encode() + b"\n\xff\xfe\xfa\n" + "好词语\n".encode())  # fmt: skip  # a line that is not UTF-8, then a good one
    loaded = read_file(f)
    got = {e.word: (e.category, e.action, e.rule) for e in loaded.entries}
    assert got == {
        "竞品小卖部": ("custom", BLOCK, "shop.txt:2"),
        "百家乐代理": ("gambling", BLOCK, "shop.txt:4"),
        "押注平台": ("gambling", REVIEW, "shop.txt:5"),
        "蠢材": ("abuse", MASK, "shop.txt:13"),
        "好词语": ("abuse", MASK, "shop.txt:16"),
    }
    assert [p.split(":")[1] for p in loaded.problems] == ["6", "7", "8", "9", "10", "11", "14", "15"]
    assert all(p.startswith("shop.txt:") for p in loaded.problems)
    assert "two characters" in loaded.problems[0] and "4 columns" in loaded.problems[1]
    assert "unknown action 'burn'" in loaded.problems[2] and "not UTF-8" in loaded.problems[-1]


def test_a_missing_file_is_one_problem_and_the_filter_still_works(tmp_path: Path) -> None:
    f = WordListFilter.from_options({"files": [str(tmp_path / "nope.txt")]})
    assert len(f.problems) == 1 and "nope.txt" in f.problems[0] and "cannot read" in f.problems[0]
    assert f.check("加微信刷单", "default").blocked


def test_settings_words_are_parsed_like_file_lines() -> None:
    loaded = parse(["竞品A店  custom  review", "x"], "safety.words")
    assert [(e.word, e.action, e.rule) for e in loaded.entries] == [("竞品a店", REVIEW, "safety.words:1")]
    assert loaded.problems and loaded.problems[0].startswith("safety.words:2:")


# --- merchant extension: files, words, allow-list, per tenant, reload ---------------------------------------


def test_merchant_words_allow_list_and_tenants(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("[custom review]\n隔壁老王家\n加微信\toffsite\tblock\n", encoding="utf-8")
    f = WordListFilter.from_options({
        "files": ["mine.txt"], "words": ["便宜卖你的"], "allow": ["出售枪支模型图纸"], "reload_seconds": 0,
        "tenants": {"shop-a": {"words": ["竞品甲"], "allow": ["蠢货郎"]}},
    }, home=tmp_path)  # fmt: skip
    assert f.check("去隔壁老王家买吧", "default").action == REVIEW
    assert f.check("加微信吧", "default").action == BLOCK  # the merchant hardened a shipped word
    assert f.check("便宜卖你的", "default").action == BLOCK
    assert f.check("出售枪支模型图纸", "default").action == PASS  # allowed: the match lies inside
    assert f.check("出售枪支", "default").action == BLOCK
    assert f.check("竞品甲更便宜", "shop-a").action == BLOCK
    assert f.check("竞品甲更便宜", "default").action == PASS  # another tenant's word
    assert f.check("蠢货郎", "shop-a").action == PASS and f.check("蠢货郎", "default").action == MASK


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("第一个词\n", encoding="utf-8")
    f = WordListFilter.from_options({"files": [str(words)], "reload_seconds": 0.05, "builtin": False})
    assert f.check("第一个词", "t").blocked and not f.check("第二个词", "t").blocked
    words.write_text("第二个词\n", encoding="utf-8")
    os.utime(words, (time.time() + 5, time.time() + 5))  # a new mtime even on a coarse clock
    time.sleep(0.06)
    assert f.check("第二个词", "t").blocked and not f.check("第一个词", "t").blocked


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"files": 3}, "safety.files"),
        ({"words": [1]}, "safety.words"),
        ({"reload_seconds": -1}, "safety.reload_seconds"),
        ({"tenants": {"bad tenant": {}}}, "safety.tenants"),
        ({"tenants": {"shop-a": {"file": []}}}, "safety.tenants.shop-a"),
        ({"colour": "red"}, "safety.colour"),
    ],
)
def test_bad_wordlist_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        WordListFilter.from_options(options)
    assert err.value.key == key


# --- the factory ------------------------------------------------------------------------------------------------


def test_the_factory_builds_the_configured_filter(env: dict[str, str], tmp_path: Path) -> None:
    assert isinstance(create_filter(load_settings(env)), WordListFilter)  # the default: on
    assert isinstance(create_filter(load_settings(env, {"safety": {"type": "off"}})), OffFilter)
    http = create_filter(load_settings(env, {"safety": {"type": "http", "url": "http://127.0.0.1:9/check"}}))
    assert isinstance(http, HttpFilter) and http.blocking
    dotted = create_filter(load_settings(env, {"safety": {"type": "bot.safety.base.OffFilter"}}))
    assert isinstance(dotted, OffFilter)
    with pytest.raises(ConfigError) as err:
        load_settings(env, {"safety": {"type": "magic"}})
    assert err.value.key == "safety.type"
    with pytest.raises(ConfigError) as err:
        create_filter(load_settings(env, {"safety": {"type": "http"}}))
    assert err.value.key == "safety.url"
    with pytest.raises(ConfigError) as err:
        create_filter(load_settings(env, {"safety": {"type": "bot.safety.base.Verdict"}}))
    assert err.value.key == "safety.type"


# --- the HTTP filter against a fake of a cloud content-safety service ------------------------------------------


class FakeSafetyService:
    """A fake of an outside content-safety API at its HTTP boundary (the contract in bot/safety/http.py)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], str]] = []
        self.mode = "ok"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((body, self.headers.get("Authorization", "")))
                if fake.mode == "slow":
                    time.sleep(0.5)
                status, answer = fake.answer(body["text"])
                data = answer if isinstance(answer, bytes) else json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/check"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, text: str) -> tuple[int, Any]:
        if self.mode == "error":
            return 500, {"error": "down"}
        if self.mode == "garbage":
            return 200, b"<html>not json"
        if self.mode == "off-contract":
            return 200, {"action": "maybe"}
        if "赌" in text:
            return 200, {"action": "block", "category": "gambling", "rule": "p-7", "masked_text": "＊" * len(text)}
        if "笨" in text:
            return 200, {"action": "mask", "category": "abuse", "masked_text": text.replace("笨", "＊")}
        return 200, {"action": "pass"}


@pytest.fixture
def cloud() -> Iterator[FakeSafetyService]:
    fake = FakeSafetyService()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_the_http_filter_speaks_the_contract(cloud: FakeSafetyService) -> None:
    f = HttpFilter.from_options({"url": cloud.url, "api_key": "k-123", "timeout": 0.3})
    assert f.check("一起去赌一把", "shop-a") == Verdict(BLOCK, "", "＊＊＊＊＊＊", "gambling", "p-7")
    assert f.check("你好笨", "shop-a") == Verdict(MASK, "你好＊", "你好＊", "abuse", None)
    assert f.check("查订单", "shop-a").action == PASS
    assert cloud.requests[0] == ({"text": "一起去赌一把", "tenant_id": "shop-a"}, "Bearer k-123")


@pytest.mark.parametrize("mode", ["error", "garbage", "off-contract", "slow"])
def test_the_http_filter_when_the_service_fails(cloud: FakeSafetyService, mode: str) -> None:
    cloud.mode = mode
    open_ = HttpFilter.from_options({"url": cloud.url, "timeout": 0.2})
    closed = HttpFilter.from_options({"url": cloud.url, "timeout": 0.2, "on_error": "block"})
    assert open_.check("一起去赌一把", "t").action == PASS  # the default: an outage does not silence chats
    v = closed.check("一起去赌一把", "t")
    assert v.blocked and v.rule == "http:unavailable" and v.masked_text == "＊＊＊＊＊＊"


@pytest.mark.parametrize(
    ("options", "key"),
    [({"url": "ftp://x"}, "safety.url"), ({"url": "http://x", "timeout": 0}, "safety.timeout"),
     ({"url": "http://x", "on_error": "maybe"}, "safety.on_error"), ({"url": "http://x", "tls": 1}, "safety.tls")],
)  # fmt: skip
def test_bad_http_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        HttpFilter.from_options(options)
    assert err.value.key == key


# --- the customer screen and the audit rows --------------------------------------------------------------------


def audit_rows(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM cs_audit_log ORDER BY audit_id")).mappings().all()
    return [{**r, "detail": json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]} for r in rows]


def test_the_screen_refuses_politely_and_audits_without_the_words(settings: Settings) -> None:
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    screen = Screen.from_settings(settings)
    refused = asyncio.run(screen.screen("default", "default:u1001", "加微信刷单，日赚500，电话13812345678"))
    assert refused.refusal and "诈骗引流" in refused.refusal and refused.text == ""
    masked = asyncio.run(screen.screen("default", "v1", "你是sb吗"))
    assert masked == Screened("你是＊＊吗", None)
    flagged = asyncio.run(screen.screen("default", "v2", "可以加我微信吗"))
    assert flagged.refusal is None and flagged.text == "可以加我微信吗"
    rows = audit_rows(db)
    assert [(r["action"], r["target_id"], r["actor_role"]) for r in rows] == [
        ("safety.block", "default:u1001", "customer"), ("safety.review", "v2", "customer")]  # fmt: skip
    detail = rows[0]["detail"]
    assert detail["category"] == "fraud" and detail["rule"].startswith("zh:") and detail["side"] == "customer"
    assert detail["text"] == "＊＊＊＊＊，＊＊500，电话<手机号>"  # the words as ＊, PII masked, nothing raw
    assert "刷单" not in json.dumps(rows[0]["detail"], ensure_ascii=False)
    db.dispose()


def test_a_refusal_stands_when_the_audit_cannot_be_written(env: dict[str, str]) -> None:
    settings = load_settings(env, {"database": {"url": "mysql+pymysql://nobody@127.0.0.1:1/none"}})
    refused = asyncio.run(Screen.from_settings(settings).screen("default", "v1", "出售枪支"))
    assert refused.refusal and refused.text == ""


@pytest.mark.mariadb
def test_audit_rows_on_mariadb(mariadb_url: str) -> None:
    db = Database(mariadb_url)
    migrate.upgrade(db.engine)
    v = default_filter().check("网上赌场，找我13812345678", "shop-a")
    with db.session() as s:
        record(s, Incident("shop-a", "agent", "handoff_session", "42", v, actor_id=7, actor_role="agent"))
    (row,) = audit_rows(db)
    assert (row["tenant_id"], row["actor_id"], row["action"], row["target_type"]) == \
        ("shop-a", 7, "safety.block", "handoff_session")  # fmt: skip
    assert row["detail"]["text"] == "＊＊＊＊，找我<手机号>" and row["detail"]["label"] == "赌博"
    db.dispose()


# --- python -m bot.safety --------------------------------------------------------------------------------------


def test_the_command_lints_lists_and_shows_verdicts(tmp_path: Path, home: Path, monkeypatch: Any,
                                                     capsys: Any) -> None:  # fmt: skip
    from bot.safety.__main__ import main

    bad = tmp_path / "bad.txt"
    bad.write_text("好词语\n操\n[赌博 burn]\n", encoding="utf-8")
    assert main(["lint", str(BUILTIN)]) == 0
    assert main(["lint", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{bad}:2: a word needs at least two characters (not counting spaces and punctuation)",
                   f"{bad}:3: unknown action 'burn' (expected mask, review, block, allow)"]  # fmt: skip
    for key in [k for k in os.environ if k.startswith("CSBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CSBOT_HOME", str(home))
    assert main(["check", "能加我微信吗"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["action"] == REVIEW and shown["label"] == "站外交易" and shown["masked_text"] == "能＊＊＊＊吗"
    monkeypatch.setenv("CSBOT_SAFETY__TYPE", "nonsense")
    assert main(["check", "x"]) == 2
