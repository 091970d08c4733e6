"""`make bench`: every benchmark script in turn. Results go to docs/benchmarks.md by hand, with the machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = [
    ["-m", "bench.rasa_bench"],  # Rasa pipelines: accuracy, cold start, RSS, REST latency/throughput
    ["bench/kb_bench.py", "--skip-scale"],  # knowledge ingest throughput
    ["bench/kb_bench.py", "--skip-ingest"],  # 100k chunks on milvus-lite (tenant partitions)
    ["bench/kb_bench.py", "--skip-ingest", "--start-milvus"],  # 100k chunks on a real Milvus server, HNSW
    ["-m", "bench.kb_quality"],  # KB answer quality on every eval set, learned gate vs cosine rule
    ["-m", "bench.kb_baseline"],  # the pipeline beside a plain dense baseline, sample KB and question+answer only
    ["-m", "bench.kb_load"],  # the knowledge server's /answer under 1/8/32 concurrent clients
    ["-m", "bench.handoff_bench"],  # 200 agents, 1,000 waiting: assignment and relay latency, losses
    ["-m", "bench.handoff_relay", "--every", "2"],  # 50 chats through the real Rasa server, both directions
    ["-m", "bench.widget_bench", "--every", "10"],  # 500 web chat customers on one Rasa process
    ["-m", "bench.wechat_bench", "--safe"],  # 20 公众号 users: passive replies within WeChat's 5 s
    ["-m", "bench.archive_bench"],  # stream → archive on the embedded default: lines/s and lag at 10k lines/s
    ["-m", "bench.archive_bench", "--db", "mariadb", "--stream", "kafka"],  # the same on MariaDB + Kafka wire
    # (the fault run, `--faults`, restarts the machine's MariaDB: run it by hand)
    ["-m", "bench.search_bench"],  # message search: 1M archived lines in tantivy, p50/p99 (target p99 ≤ 50 ms)
    ["-m", "bench.safety_bench"],  # content safety: messages/s on one core with a 10k-word list (target ≥ 100k)
    ["-m", "bench.observability_bench"],  # REST throughput with metrics and tracing off, then on (target ≤ 5 %)
    ["-m", "bench.privacy_bench"],  # one customer's export and erase over every store; the retention purge's rate
    # what a customer gets: Rasa routing + KB, in the default CSBOT_HOME (make setup trained and seeded it)
    ["-m", "bench.assistant_kb_eval", "knowledge/samples/eval.jsonl", "tests/data/kb_heldout.jsonl",
     "tests/data/kb_heldout2.jsonl", "tests/data/kb_heldout3.jsonl", "tests/data/kb_heldout4.jsonl"],
]


def main() -> int:
    failed = 0
    for args in RUNS:
        print(f"\n### python {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, *args], cwd=REPO).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
