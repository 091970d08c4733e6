"""AES-256-GCM for data at rest (seed §2.4.7, §6): sealed blobs with the id of the key that sealed them.

Settings ``encryption:``: ``key_id`` (the key new data is sealed with) and ``keys`` (id → 32 bytes, base64).
Old keys stay listed so old rows still open; rotating is adding a key, pointing ``key_id`` at it and running
``csbot keys rotate`` (``bot.storage.reseal``) before the old key is removed. With no keys configured, one key
derived from the home's secret (id ``h1``) is used, so a fresh install encrypts too; ``derived_key: false``
drops it once nothing is sealed under it any more.
The caller passes associated data (a row's id and tenant) so a sealed body cannot be moved to another row.

Text columns hold the text form ``enc:v1:<key id>:<base64 of nonce + ciphertext>`` (:func:`seal_text`), so
one column keeps both sealed values and the plain ones written before sealing (:func:`open_text` returns those
as they are). Imported by the Rasa server too (Python 3.10, rasa's ``cryptography``): keep it plain Python.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import ConfigError, CsbotError

NONCE = 12
DERIVED_ID = "h1"
PREFIX = "enc:v1:"
# short and unambiguous inside the text form; cs_message.key_id is 16 characters
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
INFO_KEY = "csbot.cipher"  # where a Database's sessions carry its cipher (Session.info)


class SealError(CsbotError):
    """A sealed blob that does not open: unknown key id, wrong key, or altered bytes."""


@dataclass(frozen=True)
class Cipher:
    key_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.key_id not in self.keys:
            raise ConfigError("encryption.key_id", f"one of the configured keys ({', '.join(self.keys)})")
        object.__setattr__(self, "_aead", {k: AESGCM(v) for k, v in self.keys.items()})

    def seal(self, plaintext: bytes, aad: bytes = b"") -> tuple[str, bytes]:
        nonce = os.urandom(NONCE)
        return self.key_id, nonce + self._aead[self.key_id].encrypt(nonce, plaintext, aad)  # type: ignore[attr-defined]

    def open(self, key_id: str, blob: bytes, aad: bytes = b"") -> bytes:
        aead = self._aead.get(key_id)  # type: ignore[attr-defined]
        if aead is None:
            raise SealError(f"no key {key_id!r} configured (encryption.keys)")
        try:
            return aead.decrypt(blob[:NONCE], blob[NONCE:], aad)
        except (InvalidTag, ValueError):
            raise SealError("sealed data does not open with its key (altered, or the key changed)") from None


def seal_text(cipher: Cipher, text: str, aad: bytes) -> str:
    """``text`` sealed under the current key, in the text form a TEXT column holds."""
    key_id, blob = cipher.seal(text.encode(), aad)
    return f"{PREFIX}{key_id}:{base64.b64encode(blob).decode()}"


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_key(value: str) -> str | None:
    """The id of the key that sealed ``value``; None for a plain value."""
    return value[len(PREFIX):].partition(":")[0] if is_sealed(value) else None


def open_text(cipher: Cipher, value: str, aad: bytes) -> str:
    """The text sealed in ``value``; a plain value (written before sealing) as it is. :class:`SealError` when
    it does not open."""
    if not is_sealed(value):
        return value
    key_id, _, b64 = value[len(PREFIX):].partition(":")
    try:
        # not validate=True: its regex cost as much as the decryption; a damaged blob fails the GCM tag anyway
        blob = base64.b64decode(b64)
        return cipher.open(key_id, blob, aad).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise SealError("sealed text is not in the enc:v1 form") from None


def session_cipher(session: Any) -> Cipher | None:
    """The cipher a session (or connection) was opened with (``Database.from_settings``), if any."""
    info = getattr(session, "info", None)
    cipher = info.get(INFO_KEY) if isinstance(info, dict) else None
    return cipher if isinstance(cipher, Cipher) else None


def new_key() -> str:
    """A fresh 32-byte key, base64: what ``encryption.keys.<id>`` takes."""
    return base64.b64encode(os.urandom(32)).decode()


def _key(key_id: str, value: Any) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"encryption.keys.{key_id}", "32 bytes, base64 (openssl rand -base64 32)")
    return raw


def cipher_from_settings(settings: Any) -> Cipher:
    section = settings.raw.get("encryption") or {}
    unknown = sorted(set(section) - {"key_id", "keys", "derived_key"})
    if unknown:
        raise ConfigError(f"encryption.{unknown[0]}", "one of key_id, keys, derived_key")
    keys = {str(k): _key(str(k), v) for k, v in (section.get("keys") or {}).items()}
    for key_id in keys:
        if not KEY_ID.fullmatch(key_id):
            raise ConfigError(f"encryption.keys.{key_id}", "a key id of 1-16 letters, digits, _ or -")
    default = next(iter(keys)) if len(keys) == 1 else DERIVED_ID
    derived = section.get("derived_key", True)
    if not isinstance(derived, bool):
        raise ConfigError("encryption.derived_key", "true or false")
    if derived:  # rows sealed before keys were configured still open; false once `csbot keys rotate` moved them
        keys.setdefault(DERIVED_ID, hashlib.sha256(f"csbot:at-rest:{settings.jwt_secret}".encode()).digest())
    if not keys:
        raise ConfigError("encryption.keys", "at least one key when derived_key is false")
    return Cipher(str(section.get("key_id") or default), keys)
