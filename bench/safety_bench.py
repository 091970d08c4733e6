"""Content-safety benchmark (not a test): messages per second one core checks with the word-list filter
(``bot.safety``) holding the shipped list plus ``--words`` (default 10,000) generated words. Target (issue 15):
≥ 100,000 messages/s on one core (the median of ``--rounds`` wall-clock rounds; the thread's CPU-time rate is
printed beside it, for a machine other work shares). Prints JSON with the CPU it ran on.

Messages are the customers' own phrasings from the NLU training data (``data/nlu/*.yml``), joined and cut to
5–60 characters (most 8–30, as chat lines are); ``--hit-rate`` of them (default 1%) get a listed word put in, so
the path that decides, masks and refuses is measured too. The generated words are 3–6 characters drawn from
the same characters as the messages (so the automaton follows many partial matches, as a real list does),
seeded: every run checks the same list against the same messages. The filter is what a tenant with its own
list uses (``safety.tenants``): the shipped list and the generated words in one automaton.

Usage: python -m bench.safety_bench [--words 10000] [--messages 200000] [--rounds 5] [--hit-rate 0.01]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu  # noqa: E402
from bot.safety.wordlist import WordListFilter  # noqa: E402
from bot.safety.words import BUILTIN, read_file  # noqa: E402

SEED = 15


def phrasings() -> list[str]:
    lines = []
    for path in sorted((REPO / "data" / "nlu").glob("*.yml")):
        for m in re.finditer(r"^\s+- (.+)$", path.read_text(encoding="utf-8"), re.M):
            text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", m.group(1)).strip()  # [entity](slot) → entity
            if text and not text.startswith(("intent:", "synonym:", "regex:", "lookup:")):
                lines.append(text)
    return lines


def messages(n: int, hit_rate: float, listed: list[str], rng: random.Random) -> list[str]:
    source = phrasings()
    out = []
    for _ in range(n):
        length = min(60, max(5, int(rng.lognormvariate(2.9, 0.5))))  # median ~18 characters
        text = rng.choice(source)
        while len(text) < length:
            text += "，" + rng.choice(source)
        text = text[:length]
        if rng.random() < hit_rate:
            at = rng.randrange(len(text))
            text = (text[:at] + rng.choice(listed) + text[at:])[:60]
        out.append(text)
    return out


def generated_words(n: int, alphabet: str, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 6))))
    return sorted(words)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--hit-rate", type=float, default=0.01)
    args = ap.parse_args()

    rng = random.Random(SEED)
    alphabet = "".join(sorted({ch for line in phrasings() for ch in line if "\u4e00" <= ch <= "\u9fff"}))
    shipped = [e.word for e in read_file(BUILTIN, "zh").entries if e.action != "allow"]
    msgs = messages(args.messages, args.hit_rate, shipped, rng)
    with tempfile.TemporaryDirectory() as tmp:
        listed = Path(tmp) / "generated.txt"
        listed.write_text("\n".join(generated_words(args.words, alphabet, rng)) + "\n", encoding="utf-8")
        started = time.perf_counter()
        f = WordListFilter.from_options({"reload_seconds": 0, "tenants": {"bench": {"files": [str(listed)]}}})
        build_s = time.perf_counter() - started
    assert not f.problems, f.problems[:3]
    size = f._matchers["bench"].size

    check = f.check
    rates, cpu_rates = [], []
    for _ in range(args.rounds):
        started, cpu_started = time.perf_counter(), time.thread_time()
        for text in msgs:
            check(text, "bench")
        rates.append(len(msgs) / (time.perf_counter() - started))
        cpu_rates.append(len(msgs) / (time.thread_time() - cpu_started))
    actions = Counter(check(text, "bench").action for text in msgs)
    lengths = sorted(len(m) for m in msgs)
    print(json.dumps({
        "cpu": cpu(), "python": sys.version.split()[0], "words": size, "build_seconds": round(build_s, 3),
        "messages": len(msgs), "chars_p50": lengths[len(lengths) // 2], "chars_max": lengths[-1],
        "decided": dict(actions), "rounds": args.rounds,
        "messages_per_second_median": round(statistics.median(rates)), "messages_per_second_min": round(min(rates)),
        "microseconds_per_message": round(1e6 / statistics.median(rates), 2),
        # per second of this thread's CPU time: the same figure on a machine other work is sharing
        "messages_per_cpu_second_median": round(statistics.median(cpu_rates)),
        "target_met": statistics.median(rates) >= 100_000,
    }, ensure_ascii=False, indent=1))  # fmt: skip
    return 0 if statistics.median(rates) >= 100_000 else 1


if __name__ == "__main__":
    sys.exit(main())
