"""WeChat's message signatures and the safe-mode (AES) envelope, as the 公众号 platform defines them.

* URL/message signature: ``sha1("".join(sorted([token, timestamp, nonce])))``; in safe mode
  ``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))``.
* Envelope: key = base64(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = key[:16]; plaintext = 16 random
  bytes + 4-byte big-endian length + XML + AppID, PKCS#7-padded to 32-byte blocks.

Pure functions (``cryptography`` for AES); every failure is a ``WeChatCryptoError``, never anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class WeChatCryptoError(ValueError):
    """A signature that does not verify, or a ciphertext that does not open for this account."""


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(expected: str | None, *parts: str) -> bool:
    return isinstance(expected, str) and hmac.compare_digest(signature(*parts), expected.lower())


def aes_key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WeChatCryptoError("EncodingAESKey is not 43 base64 characters") from exc
    if len(key) != 32:
        raise WeChatCryptoError("EncodingAESKey must decode to 32 bytes")
    return key


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(xml: str, key: bytes, app_id: str, random16: bytes | None = None) -> str:
    body = xml.encode()
    plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + app_id.encode()
    pad = BLOCK - len(plain) % BLOCK
    enc = _cipher(key).encryptor()
    return base64.b64encode(enc.update(plain + bytes([pad]) * pad) + enc.finalize()).decode()


def decrypt(ciphertext: str, key: bytes, app_id: str) -> str:
    """The XML inside ``ciphertext``; refuses bad base64, bad padding, a wrong length or another AppID."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WeChatCryptoError("ciphertext is not base64") from exc
    if not raw or len(raw) % 16:
        raise WeChatCryptoError("ciphertext is not whole AES blocks")
    dec = _cipher(key).decryptor()
    plain = dec.update(raw) + dec.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise WeChatCryptoError("bad padding")
    plain = plain[:-pad]
    if len(plain) < 20:
        raise WeChatCryptoError("ciphertext too short")
    (length,) = struct.unpack(">I", plain[16:20])
    xml, tail = plain[20:20 + length], plain[20 + length:]
    if len(xml) != length or not hmac.compare_digest(tail, app_id.encode()):
        raise WeChatCryptoError("ciphertext is for another AppID")
    try:
        return xml.decode()
    except UnicodeDecodeError as exc:
        raise WeChatCryptoError("plaintext is not UTF-8") from exc
