"""One contract for every message-index backend: tantivy (embedded) and Elasticsearch (noida-db, an ES-wire
server started on a free port with its data in tmp; platform-facts). Real engines, no mocks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import InvalidInput
from bot.events.envelope import StreamEvent
from handoff.search import IndexedMessage, MessageIndex, MessageQuery, Scope, indexed_from
from handoff.search.es_backend import ElasticsearchMessageIndex
from handoff.search.tantivy_backend import IndexBusy, TantivyMessageIndex

from ..conftest import REPO
from ..wire_servers import elasticsearch_wire

DAY = 86_400.0
T0 = 1_796_083_200.0  # 2026-12-01 00:00 UTC


@pytest.fixture(scope="module")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with elasticsearch_wire(tmp_path_factory.mktemp("noida")) as url:
        yield url


@pytest.fixture(params=["tantivy", pytest.param("elasticsearch", marks=pytest.mark.slow)])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageIndex]:
    if request.param == "tantivy":
        idx: MessageIndex = TantivyMessageIndex(tmp_path / "messages")
    else:
        idx = ElasticsearchMessageIndex([request.getfixturevalue("es_url")], f"msg-{uuid.uuid4().hex[:8]}",
                                        refresh="wait_for")  # fmt: skip
    yield idx
    idx.close()


def msg(i: int, text: str, tenant: str = "shop-a", conv: str = "c1", role: str = "customer", at: float = T0,
        customer: str | None = "u1001", agent: int | None = None) -> IndexedMessage:  # fmt: skip
    return IndexedMessage(i, tenant, conv, role, text, at, customer, agent, "web")


def ids(index: MessageIndex, tenant: str, **q: object) -> list[int]:
    return [h.msg_id for h in index.search(tenant, MessageQuery(limit=100, **q)).hits]  # type: ignore[arg-type]


SHOP = [
    msg(1, "我想申请退款，订单一直没发货", at=T0),
    msg(2, "好的，已为您提交退款申请，请耐心等待", role="agent", agent=7, at=T0 + 60),
    msg(3, "顺丰快递到哪了，三天了还没到", conv="c2", customer="u1002", at=T0 + DAY),
    msg(4, "退款什么时候到账", conv="c3", customer="u1002", at=T0 + 2 * DAY),
    msg(5, "您的快递已经在派送中", conv="c2", role="bot", customer="u1002", at=T0 + DAY + 5),
]


def test_words_and_filters_find_the_right_lines(index: MessageIndex) -> None:
    index.add(SHOP)
    assert sorted(ids(index, "shop-a", words="退款")) == [1, 2, 4]
    assert sorted(ids(index, "shop-a", words="退款申请")) == [1, 2]  # both words, wherever segmented
    assert ids(index, "shop-a", words="退款", customer="u1002") == [4]
    assert ids(index, "shop-a", words="退款", agent_id=7) == [2]
    assert ids(index, "shop-a", words="退款", role="agent") == [2]
    assert sorted(ids(index, "shop-a", words="快递", conversation_id="c2")) == [3, 5]
    # from inclusive, to exclusive
    assert sorted(ids(index, "shop-a", since=T0 + DAY, until=T0 + 2 * DAY)) == [3, 5]
    assert sorted(ids(index, "shop-a", words="退款", since=T0 + 30)) == [2, 4]
    # no words: the latest first, with the total of every match
    page = index.search("shop-a", MessageQuery(limit=2))
    assert [h.msg_id for h in page.hits] == [4, 5] and page.total == 5
    assert [h.msg_id for h in index.search("shop-a", MessageQuery(limit=2, offset=2)).hits] == [3, 2]
    hit = index.search("shop-a", MessageQuery(words="顺丰")).hits[0]
    assert (hit.conversation_id, hit.role, hit.customer, hit.at) == ("c2", "customer", "u1002", T0 + DAY)
    assert hit.snippet.startswith("顺丰快递") and hit.snippet[slice(*hit.marks[0])] == "顺丰"


def test_re_adding_a_line_replaces_it(index: MessageIndex) -> None:
    index.add(SHOP)
    index.add(SHOP)  # the archiver replays a batch after a crash
    index.add([msg(1, "我想换货，不退款了", at=T0)])
    index.add([msg(8, "第一遍", conv="c8"), msg(8, "第二遍 换货", conv="c8")])  # twice in one batch: the last
    assert index.search("shop-a", MessageQuery()).total == 6
    assert ids(index, "shop-a", conversation_id="c8") == [8] and ids(index, "shop-a", words="第一遍") == []
    assert sorted(ids(index, "shop-a", words="换货")) == [1, 8]
    assert ids(index, "shop-a", words="发货") == []  # the old text is gone


def test_tenants_never_see_each_other(index: MessageIndex) -> None:
    index.add(SHOP)
    index.add([msg(101, "退款退款退款", tenant="shop-b", conv="c1"), msg(102, "快递丢了", tenant="shop-b", conv="c1")])
    assert ids(index, "shop-b", words="退款") == [101]
    assert 101 not in ids(index, "shop-a", words="退款")
    assert ids(index, "shop-c", words="退款") == []
    assert index.search("shop-b", MessageQuery()).total == 2
    # a conversation id is only unique per tenant: deleting shop-b's c1 leaves shop-a's c1
    assert index.delete_conversation("shop-b", "c1") == 2
    assert index.search("shop-b", MessageQuery()).total == 0
    assert sorted(ids(index, "shop-a", conversation_id="c1")) == [1, 2]
    with pytest.raises(InvalidInput):
        index.search("shop-a\" OR tenant:*", MessageQuery())


def test_an_agents_scope_holds_their_conversations_and_their_own_lines(index: MessageIndex) -> None:
    index.add([*SHOP, msg(6, "退款已处理", conv="c9", role="agent", agent=7)])
    assert sorted(ids(index, "shop-a", words="退款", scope=Scope(frozenset({"c3"}), 7))) == [2, 4, 6]
    assert ids(index, "shop-a", words="退款", scope=Scope(frozenset(), 8)) == []
    assert sorted(ids(index, "shop-a", words="退款", scope=Scope(frozenset({"c1"}), 8))) == [1, 2]


SYNTAX = ['"', "*", "*:*", ":", "AND", "OR", "NOT", "(", ")", "\\", "tenant:shop-b", 'text:"退款" OR *',
          '{"match_all": {}}', "退款 AND NOT 快递", "?", "~", "^2", "[* TO *]", "/.*/", "' OR '1'='1", "+-!&|"]


def test_query_syntax_is_text_never_syntax(index: MessageIndex) -> None:
    index.add([*SHOP, msg(7, 'price:100 AND "refund*" (vip) \\ 问题', conv="c7"),
               msg(201, "shop-b 的 退款", tenant="shop-b", conv="x")])  # fmt: skip
    for q in SYNTAX:
        found = ids(index, "shop-a", words=q)  # no error, and never everything
        assert 201 not in found and len(found) <= 2, (q, found)
    assert ids(index, "shop-a", words="*") == [] and ids(index, "shop-a", words="*:*") == []
    assert ids(index, "shop-a", words="AND") == [7]  # the word "and" in line 7, not a boolean operator
    assert ids(index, "shop-a", words="price:100") == [7]
    assert ids(index, "shop-a", words='"refund*"') == [7]
    assert ids(index, "shop-a", words="tenant:shop-b") == []  # no field named from the query
    assert sorted(ids(index, "shop-a", words="退款 AND NOT 快递")) == []  # every word must be there: not, and too


def test_a_phone_number_is_never_stored(index: MessageIndex) -> None:
    line = StreamEvent(42, "message", "shop-a", "c5", T0, {"role": "customer", "customer": "u1003",
                                                           "text": "我的电话13812345678，地址是浦东新区世纪大道100号"})
    doc = indexed_from(line)
    assert doc is not None and "13812345678" not in doc.text and "<手机号>" in doc.text
    index.add([doc])
    assert ids(index, "shop-a", words="13812345678") == []
    assert ids(index, "shop-a", words="138") == []
    hit = index.search("shop-a", MessageQuery(words="电话")).hits[0]
    assert hit.msg_id == 42 and "13812345678" not in hit.snippet and "<手机号>" in hit.snippet
    assert "世纪大道100号" not in hit.snippet


def test_what_the_stream_carries_that_is_not_a_line_is_not_indexed() -> None:
    assert indexed_from(StreamEvent(1, "session", "a", "c", T0, {"state": "closed"})) is None
    assert indexed_from(StreamEvent(2, "message", "a", "c", T0, {"role": "customer", "image": "x.jpg"})) is None
    doc = indexed_from(StreamEvent(3, "message", "a", "c", T0, {"role": "agent", "text": "您好", "agent_id": "17",
                                                                  "channel": "wechat", "customer": "u9"}))
    assert doc == IndexedMessage(3, "a", "c", "agent", "您好", T0, "u9", 17, "wechat")


WRITER = textwrap.dedent("""
    import sys, time
    from handoff.search import IndexedMessage
    from handoff.search.tantivy_backend import TantivyMessageIndex
    ix = TantivyMessageIndex(sys.argv[1])
    ix.add([IndexedMessage(1, "shop-a", "c1", "customer", "第一条 退款", 1.0)])
    print("ready", flush=True)
    sys.stdin.readline()
    ix.add([IndexedMessage(2, "shop-a", "c1", "customer", "第二条 退款", 2.0)])
    print("added", flush=True)
    sys.stdin.readline()
    ix.close()
""")


def test_one_writer_process_and_readers_that_see_its_commits_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "messages"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=REPO)  # fmt: skip
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "ready"
        reader = TantivyMessageIndex(path, reload_seconds=0.5)
        assert ids(reader, "shop-a", words="退款") == [1]
        with pytest.raises(IndexBusy):  # the archiver holds the only writer
            TantivyMessageIndex(path).add([msg(9, "插队")])
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "added"
        started = time.monotonic()
        while sorted(ids(reader, "shop-a", words="退款")) != [1, 2]:
            assert time.monotonic() - started < 2.0, "the reader did not see the writer's commit within 2 s"
            time.sleep(0.05)
        reader.close()
    finally:
        writer.stdin.write("\n")
        writer.stdin.close()
        writer.wait(timeout=20)


def test_a_reader_before_anything_was_archived_finds_nothing_and_creates_nothing(tmp_path: Path) -> None:
    reader = TantivyMessageIndex(tmp_path / "messages")
    assert reader.search("shop-a", MessageQuery(words="退款")).total == 0
    assert not (tmp_path / "messages").exists()


@pytest.mark.slow
def test_elasticsearch_lines_appear_within_two_seconds_without_forced_refresh(es_url: str) -> None:
    idx = ElasticsearchMessageIndex([es_url], f"msg-{uuid.uuid4().hex[:8]}")  # refresh: the cluster's own
    try:
        idx.add([msg(1, "退款进度")])
        started = time.monotonic()
        while ids(idx, "shop-a", words="退款") != [1]:
            assert time.monotonic() - started < 2.0
            time.sleep(0.1)
    finally:
        idx.close()


def test_the_settings_choose_the_backend(env: dict[str, str]) -> None:
    from bot.errors import ConfigError
    from bot.settings import load_settings
    from handoff.search import create_message_index

    default = create_message_index(load_settings(env))
    assert isinstance(default, TantivyMessageIndex) and default.path.parts[-2:] == ("search", "messages")
    es = create_message_index(load_settings(env, {"message_search": {"type": "elasticsearch", "hosts": "http://h:9200",
                                                                     "index": "shop_messages"}}))  # fmt: skip
    assert isinstance(es, ElasticsearchMessageIndex) and es.index == "shop_messages"
    with pytest.raises(ConfigError, match=r"message_search\.hosts"):
        create_message_index(load_settings(env, {"message_search": {"type": "elasticsearch"}}))
    with pytest.raises(ConfigError, match=r"message_search\.type"):
        load_settings(env, {"message_search": {"type": "solr"}})
