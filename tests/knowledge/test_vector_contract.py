"""The vector-store contract on milvus-lite (the embedded default) and on a real Milvus standalone server
(PyPI ``milvus==2.3.5``, started by a session fixture): upsert, tenant-filtered search, delete, count,
aliases; filter values are validated, never interpolated raw."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.errors import InvalidInput
from knowledge.types import VectorRecord
from knowledge.vectors.milvus import MilvusVectorStore


def unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MilvusVectorStore]:
    if request.param == "lite":
        s = MilvusVectorStore(str(tmp_path / "m" / "kb.db"))
        assert s.index_type == "FLAT" and s.tenant_partitions  # measured choices for milvus-lite
    else:
        # partition_key is left off: on Milvus 2.3.5 a tenant-filtered search over a partition-key
        # collection returned no hits for freshly inserted (growing) rows
        s = MilvusVectorStore(request.getfixturevalue("milvus_server"), search_consistency="Strong")
        assert s.index_type == "HNSW" and not s.tenant_partitions
        for name in ("kb_v1", "kb_v2"):
            s.drop_collection(name)
    yield s
    s.close()


def test_milvus_contract(store: MilvusVectorStore) -> None:
    rng = np.random.default_rng(0)
    vecs = unit(rng, 40)
    store.create_collection("kb_v1", 16)
    store.create_collection("kb_v1", 16)  # idempotent
    recs = [VectorRecord(f"p{i}", "t1" if i % 2 else "t2", "faq", i, vecs[i].tolist()) for i in range(40)]
    store.upsert("kb_v1", recs)
    hits = store.search("kb_v1", vecs[3].tolist(), "t1", 5)
    assert hits[0].pk == "p3" and hits[0].item_id == 3 and abs(hits[0].score - 1.0) < 1e-4
    assert all(h.item_id % 2 == 1 for h in hits)  # only tenant t1
    exact = sorted(((float(vecs[i] @ vecs[3]), i) for i in range(1, 40, 2)), reverse=True)[:5]
    assert [h.item_id for h in hits] == [i for _, i in exact]
    assert store.count("kb_v1") == 40 and store.count("kb_v1", "t2") == 20
    store.delete("kb_v1", ["p3", "p5"])
    assert store.count("kb_v1", "t1") == 18 and "p3" not in store.pks("kb_v1", "t1")
    with pytest.raises(InvalidInput):
        store.search("kb_v1", vecs[0].tolist(), 't1" or tenant_id != "', 5)
    with pytest.raises(ValueError):
        store.delete("kb_v1", ['p1"] or pk in ["x'])
    store.create_collection("kb_v2", 16)
    store.set_alias("kb_live", "kb_v1")
    store.set_alias("kb_live", "kb_v2")
    assert store.client.list_aliases("kb_v2")["aliases"] == ["kb_live"]
    store.drop_collection("kb_v1")
    assert not store.has_collection("kb_v1")
    store.close()


def test_dropping_an_aliased_collection_frees_the_alias(store: MilvusVectorStore) -> None:
    # a KB version dropped while live (or by a test's clean-up) must not leave its alias behind: the next
    # version of the same name could never be made live again
    store.create_collection("kb_v1", 16)
    store.set_alias("kb_live", "kb_v1")
    store.drop_collection("kb_v1")
    store.create_collection("kb_v1", 16)
    store.set_alias("kb_live", "kb_v1")
    assert store.client.list_aliases("kb_v1")["aliases"] == ["kb_live"]
    store.drop_collection("kb_v1")
