"""Reading Rasa NLU YAML from the 3.11 side: held-out test sets filtered against the training data.

A test message that also appears in the training data (after removing entity markup, case, spaces,
punctuation and emoji) measures memory, not generalisation; evaluation reports use only unseen ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_MARKUP = re.compile(r"\[([^\]]+)\](\([^)]+\)|\{[^}]+\})")
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def plain(example: str) -> str:
    return _MARKUP.sub(r"\1", example).strip()


def normalise(text: str) -> str:
    return _NOISE.sub("", plain(text).lower())


def examples(path: Path) -> list[tuple[str, str]]:
    """(intent, raw example line with markup) for every example in a Rasa NLU YAML file."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for block in data.get("nlu", []):
        if "intent" in block:
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    out.append((block["intent"], line[2:].strip()))
    return out


def training_texts(data_dir: Path) -> set[str]:
    seen: set[str] = set()
    for f in sorted(data_dir.rglob("*.yml")):
        seen.update(normalise(ex) for _, ex in examples(f))
    return seen


def write_unseen(test_file: Path, data_dir: Path, out: Path) -> tuple[int, int]:
    """Write the test examples absent from the training data to ``out``; return (kept, total)."""
    seen = training_texts(data_dir)
    rows = examples(test_file)
    by_intent: dict[str, list[str]] = {}
    for intent, ex in rows:
        if normalise(ex) not in seen and normalise(ex):
            by_intent.setdefault(intent, []).append(ex)
    lines = ['version: "3.1"', "nlu:"]
    for intent, exs in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {e}" for e in exs]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sum(len(v) for v in by_intent.values()), len(rows)
