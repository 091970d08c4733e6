"""Write knowledge/samples/faq_qa_only.jsonl: the sample FAQ with every similar question removed.

What a merchant's plain question+answer export looks like, for measuring the pipeline without the
hand-written paraphrases (``csbot kb eval --baseline``). Same ids, questions and answers as faq.jsonl.
Run: ``.venv/bin/python scripts/faq_qa_only.py``
"""

from __future__ import annotations

import json
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "knowledge" / "samples"


def main() -> None:
    rows = [json.loads(line) for line in (SAMPLES / "faq.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]  # fmt: skip
    for row in rows:
        row.pop("similar_questions", None)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (SAMPLES / "faq_qa_only.jsonl").write_text(text, encoding="utf-8")
    print(f"{len(rows)} FAQs written to {SAMPLES / 'faq_qa_only.jsonl'}")


if __name__ == "__main__":
    main()
