"""AES-256-GCM at rest: the text form, plain values from before sealing, keys from settings."""

from __future__ import annotations

import base64
import os

import pytest

from bot.crypto import (
    DERIVED_ID,
    Cipher,
    SealError,
    cipher_from_settings,
    is_sealed,
    new_key,
    open_text,
    seal_text,
    sealed_key,
    session_cipher,
)
from bot.errors import ConfigError
from bot.settings import load_settings


def cipher(key_id: str = "k1", **more: bytes) -> Cipher:
    return Cipher(key_id, {key_id: os.urandom(32), **more})


def test_text_form_round_trip_and_its_key_id() -> None:
    c = cipher()
    sealed = seal_text(c, "我的手机 13812345678", b"cs_x:t1:1")
    assert sealed.startswith("enc:v1:k1:") and "1381234" not in sealed
    assert is_sealed(sealed) and sealed_key(sealed) == "k1"
    assert open_text(c, sealed, b"cs_x:t1:1") == "我的手机 13812345678"
    assert seal_text(c, "同一句", b"a") != seal_text(c, "同一句", b"a")  # a fresh nonce each time


def test_plain_values_from_before_sealing_read_as_they_are() -> None:
    assert open_text(cipher(), '{"text": "你好"}', b"whatever") == '{"text": "你好"}'
    assert sealed_key("plain") is None and not is_sealed(None)


def test_a_value_moved_altered_or_under_an_unknown_key_does_not_open() -> None:
    c = cipher()
    sealed = seal_text(c, "地址", b"cs_x:t1:1")
    with pytest.raises(SealError):
        open_text(c, sealed, b"cs_x:t1:2")  # another row
    with pytest.raises(SealError):
        open_text(c, sealed, b"cs_x:t2:1")  # another tenant
    blob = bytearray(base64.b64decode(sealed.split(":", 3)[3]))
    blob[-1] ^= 1
    with pytest.raises(SealError):
        open_text(c, "enc:v1:k1:" + base64.b64encode(bytes(blob)).decode(), b"cs_x:t1:1")
    with pytest.raises(SealError, match="no key 'k9'"):
        open_text(c, sealed.replace("enc:v1:k1:", "enc:v1:k9:"), b"cs_x:t1:1")
    with pytest.raises(SealError, match="enc:v1"):
        open_text(c, "enc:v1:k1:not base64!", b"cs_x:t1:1")


def test_an_old_key_opens_what_it_sealed_after_rotation() -> None:
    old = cipher("k1")
    sealed = seal_text(old, "旧的", b"r")
    rotated = Cipher("k2", {**old.keys, "k2": os.urandom(32)})
    assert open_text(rotated, sealed, b"r") == "旧的"
    assert sealed_key(seal_text(rotated, "新的", b"r")) == "k2"


def test_session_cipher_is_what_the_session_was_opened_with() -> None:
    class S:
        def __init__(self, c: Cipher) -> None:
            self.info = {"csbot.cipher": c}

    c = cipher()
    assert session_cipher(S(c)) is c
    assert session_cipher(object()) is None


def test_keys_from_settings(env: dict[str, str]) -> None:
    derived = cipher_from_settings(load_settings(env))
    assert derived.key_id == DERIVED_ID
    k2 = new_key()
    s = load_settings(env, overrides={"encryption": {"key_id": "k2", "keys": {"k2": k2}}})
    c = cipher_from_settings(s)
    assert c.key_id == "k2" and set(c.keys) == {"k2", DERIVED_ID} and c.keys["k2"] == base64.b64decode(k2)
    assert c.keys[DERIVED_ID] == derived.keys[DERIVED_ID]  # rows sealed before keys were configured still open
    only = cipher_from_settings(load_settings(env, overrides={"encryption": {"keys": {"k2": k2},
                                                                             "derived_key": False}}))  # fmt: skip
    assert only.key_id == "k2" and set(only.keys) == {"k2"}


@pytest.mark.parametrize(("section", "key"), [
    ({"keys": {"k1": "c2hvcnQ="}}, "encryption.keys.k1"),
    ({"keys": {"has space": new_key()}}, "encryption.keys.has space"),
    ({"key_id": "k9", "keys": {"k1": new_key()}}, "encryption.key_id"),
    ({"derived_key": False}, "encryption.keys"),
    ({"derived_key": "no"}, "encryption.derived_key"),
    ({"rotate": True}, "encryption.rotate"),
])  # fmt: skip
def test_bad_encryption_settings_name_the_key(env: dict[str, str], section: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        cipher_from_settings(load_settings(env, overrides={"encryption": section}))
    assert err.value.key == key
