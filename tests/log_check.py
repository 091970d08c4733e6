"""After a test run: no log file the run produced holds a phone number the tests use (PII masked in every log
line, seed §2.5.8). Called from ``tests/conftest.py``'s ``pytest_sessionfinish``; fails the run listing
file:line.

The numbers are collected from the tests themselves (every 1[3-9]xxxxxxxxx in ``tests/``), so a new test with a
new number is covered without a list to keep. The logs are every ``*.log`` under the run's temporary directory:
the services' logs in each test home (``<home>/logs/*.log``, written by ``csbot run``'s supervisor) and the
supervisor's own output (``csbot-run.log``).
"""

from __future__ import annotations

import re
from pathlib import Path

PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
SOURCES = ("*.py", "*.yml", "*.yaml", "*.json", "*.jsonl", "*.txt", "*.md")
MAX_BYTES = 64 * 1024 * 1024


def phones_in_tests(tests_dir: Path) -> set[str]:
    found: set[str] = set()
    for pattern in SOURCES:
        for path in tests_dir.rglob(pattern):
            found |= set(PHONE.findall(path.read_text(errors="replace")))
    return found


def leaks(root: Path, phones: set[str]) -> list[str]:
    """``file:line: number`` for every log line under ``root`` holding one of ``phones``."""
    out = []
    for path in sorted(root.rglob("*.log")):
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            continue
        with path.open(errors="replace") as f:
            for n, line in enumerate(f, 1):
                hit = next((p for p in PHONE.findall(line) if p in phones), None)
                if hit:
                    out.append(f"{path}:{n}: {hit}")
    return out
