from __future__ import annotations

import json

import pytest

from channels.sanitize import MAX_MESSAGE_CHARS, clean_text, parse_body, valid_sender


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  你好  ", "你好"),
        ("退\x00款\x07\x1b[31m啊", "退款啊"),
        ("第一行\n第二行", "第一行\n第二行"),
        ("全角\u3000空格   多个", "全角 空格 多个"),
        ("👨\u200d👩\u200d👧 一家人", "👨\u200d👩\u200d👧 一家人"),
        ("\u200b\u200e", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_long_messages_are_capped() -> None:
    assert len(clean_text("我" * 10_000)) == MAX_MESSAGE_CHARS


@pytest.mark.parametrize("sender", ["", "   ", "a" * 129, None, True, ["x"], "x\ny"])
def test_invalid_senders(sender: object) -> None:
    assert valid_sender(sender) is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{oops", "body must be JSON"),
        (b"[]", "JSON object"),
        (b'{"sender": "u", "message": 5}', "message must be a string"),
        (b'{"sender": "", "message": "hi"}', "sender"),
        (b'{"sender": "u", "message": "hi", "metadata": [1]}', "metadata"),
        (b"\xff\xfe", "body must be JSON"),
    ],
)
def test_parse_body_errors(body: bytes, error: str) -> None:
    result = parse_body(body)
    assert isinstance(result, str) and error in result


def test_parse_body_ok() -> None:
    assert parse_body('{"sender": 42, "message": " 在吗 ", "metadata": {"customer_id": "u1"}}'.encode()) == (
        "42", "在吗", {"customer_id": "u1"}, None,
    )  # fmt: skip
    assert parse_body(b'{"message": "x", "message_id": "m-0123456789"}').message_id == "m-0123456789"


@pytest.mark.parametrize("message_id", ["short", "x" * 65, "a b c d e f", 12345678, "../../etc/pass"])
def test_parse_body_refuses_odd_message_ids(message_id: object) -> None:
    result = parse_body(json.dumps({"message": "x", "message_id": message_id}).encode())
    assert isinstance(result, str) and "message_id" in result
