"""The pipeline beside the plain dense baseline (``csbot kb eval --baseline``) on both sample KB shapes.

    python -m bench.kb_baseline         # fresh temporary homes; ~2 minutes on 2 cores

The sample KB (knowledge/samples/faq.jsonl, rich similar questions) and its question+answer-only variant
(faq_qa_only.jsonl), each with the sample documents, against every development set. Prints the machine, one
JSON line per (KB, set) and the markdown rows of docs/benchmarks.md ("Pipeline vs a plain dense baseline").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import cpu

REPO = Path(__file__).resolve().parent.parent
CSBOT = str(REPO / ".venv" / "bin" / "csbot")
KBS = {"sample (faq.jsonl)": "faq.jsonl", "question+answer only": "faq_qa_only.jsonl"}
SETS = {"dev": "knowledge/samples/eval.jsonl", "set 1": "tests/data/kb_heldout.jsonl",
        "set 2": "tests/data/kb_heldout2.jsonl", "set 3": "tests/data/kb_heldout3.jsonl",
        "set 4": "tests/data/kb_heldout4.jsonl"}  # fmt: skip


def pair(p: dict[str, float], b: dict[str, float], key: str) -> str:
    cell = f"{p[key]:.3f} / {b[key]:.3f}"
    return f"**{cell}**" if p[key] < b[key] else cell  # bold: the pipeline below the baseline


def main() -> int:
    print(json.dumps({"cpu": cpu(), "date": time.strftime("%Y-%m-%d")}), flush=True)
    rows = []
    for label, faq in KBS.items():
        home = tempfile.mkdtemp(prefix="kb-baseline-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")} | {"CSBOT_HOME": home}
        samples = REPO / "knowledge" / "samples"
        subprocess.run([CSBOT, "kb", "import", str(samples / faq), str(samples / "docs"), "--json"], env=env,
                       check=True, stdout=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
        for name, path in SETS.items():
            out = subprocess.run([CSBOT, "kb", "eval", path, "--baseline", "--json"], env=env, check=True,
                                 capture_output=True, text=True, cwd=REPO).stdout  # fmt: skip
            r = json.loads(out)
            b = r["baseline"]
            print(json.dumps({"kb": label, "set": name, **r}, ensure_ascii=False), flush=True)
            only_doc = r["in_scope"] - r["faq_cases"]
            rows.append(f"| {label} | {name} ({r['faq_cases']} / {only_doc}; {r['out_of_scope']}) | "
                        f"{pair(r, b, 'recall@1')} | {pair(r, b, 'recall@5')} | {pair(r, b, 'recall@1_faq_cases')} | "
                        f"{pair(r, b, 'recall@5_faq_cases')} | {r['answered_in_scope']:.3f} | "
                        f"{r['abstained_oos']:.3f} |")  # fmt: skip
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
