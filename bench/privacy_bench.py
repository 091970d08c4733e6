"""Privacy benchmark (not a test): how long one customer's export and erase take, and how fast the retention
purge removes quiet conversations. Each customer is seeded through the production writers into every store the
erase covers (``tests/privacy/world.py``: Rasa events, the stream read by the real archiver and indexer, a
handoff session with lines both ways, a ticket, a left message, a file, …; 40 records). All but one are then
aged past the retention period and purged. Prints JSON with the CPU it ran on.

Usage: python -m bench.privacy_bench [--customers 100] [--database-url mysql+pymysql://…]  (default: SQLite)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--database-url", default="")
    args = p.parse_args()

    from bench.machine import cpu
    from bot.ids import configure
    from bot.privacy.service import Actor
    from bot.privacy.subject import subject_of
    from bot.settings import load_settings
    from handoff.privacy import build_service
    from tests.privacy.world import make_world

    configure(11)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env["CSBOT_HOME"] = tempfile.mkdtemp(prefix="csbot-privacy-bench-")
    if args.database_url:
        env["CSBOT_DATABASE__URL"] = args.database_url
    w = make_world(load_settings(env))
    seeded = [w.customer("default", f"u{i}") for i in range(args.customers + 1)]
    for x in seeded[1:]:
        w.age(x, 400)
    svc = build_service(w.settings, db=w.db)
    try:
        t = time.perf_counter()
        svc.export(subject_of("u0", None, "default"), Actor("bench"))
        export_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        erased = svc.erase(subject_of("u0", None, "default"), Actor("bench"))
        erase_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        purged = svc.purge(180, Actor("bench"))
        purge_s = time.perf_counter() - t
    finally:
        svc.close()
        w.close()
    conversations = sum(purged.conversations.values())
    print(json.dumps({"cpu": cpu(), "database": w.db.engine.dialect.name, "customers": args.customers,
                      "export_one_ms": round(export_ms), "erase_one_ms": round(erase_ms),
                      "erase_one_records": sum(erased.removed.values()), "purged_conversations": conversations,
                      "purged_records": sum(sum(v.values()) for v in purged.removed.values()),
                      "purge_seconds": round(purge_s, 2),
                      "purge_conversations_per_s": round(conversations / purge_s, 1)}, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
