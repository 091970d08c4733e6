"""AES-256-GCM for data at rest (seed §2.4.7, §6): sealed blobs with the id of the key that sealed them.

Settings ``encryption:``: ``key_id`` (the key new data is sealed with) and ``keys`` (id → 32 bytes, base64).
Old keys stay listed so old rows still open; rotating is adding a key and pointing ``key_id`` at it. With no
keys configured, one key derived from the home's secret (id ``h1``) is used, so a fresh install encrypts too.
The caller passes associated data (a row's id and tenant) so a sealed body cannot be moved to another row.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import ConfigError, CsbotError

NONCE = 12
DERIVED_ID = "h1"


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
    keys = {str(k): _key(str(k), v) for k, v in (section.get("keys") or {}).items()}
    derived = hashlib.sha256(f"csbot:at-rest:{settings.jwt_secret}".encode()).digest()
    default = next(iter(keys)) if len(keys) == 1 else DERIVED_ID
    keys.setdefault(DERIVED_ID, derived)  # rows sealed before keys were configured still open
    return Cipher(str(section.get("key_id") or default), keys)
