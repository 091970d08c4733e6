"""Knowledge-base answer quality on every eval set, learned gate vs the cosine rule, in a fresh home.

    python -m bench.kb_quality            # imports the sample KB into a temporary CSBOT_HOME

Prints one JSON line per (set, gate): the `csbot kb eval` report without per-query details.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = ["knowledge/samples/eval.jsonl", "tests/data/kb_heldout.jsonl", "tests/data/kb_heldout2.jsonl",
        "tests/data/kb_heldout3.jsonl", "tests/data/kb_heldout4.jsonl"]  # fmt: skip
CSBOT = str(REPO / ".venv" / "bin" / "csbot")


def main() -> int:
    home = tempfile.mkdtemp(prefix="kb-quality-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")} | {"CSBOT_HOME": home}
    samples = REPO / "knowledge" / "samples"
    subprocess.run([CSBOT, "kb", "import", str(samples / "faq.jsonl"), str(samples / "docs"), "--json"], env=env,
                   check=True, stdout=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
    for gate in ("learned", "cosine"):
        for f in SETS:
            out = subprocess.run([CSBOT, "kb", "eval", f, "--json"], env=env | {"CSBOT_KNOWLEDGE__GATE": gate},
                                 check=True, capture_output=True, text=True, cwd=REPO).stdout  # fmt: skip
            print(json.dumps({"set": f, "gate": gate, **json.loads(out)}, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
