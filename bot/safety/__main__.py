"""``python -m bot.safety``: check a word list before it goes live, or see what the configured filter decides.

    python -m bot.safety lint my_words.txt ...      # every malformed line as file:line: why; exit 1 if any
    python -m bot.safety check "要不要加微信" [--tenant shop-a]   # the verdict of the configured filter
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.safety")
    sub = ap.add_subparsers(dest="command", required=True)
    lint = sub.add_parser("lint", help="report malformed lines of word-list files")
    lint.add_argument("files", nargs="+", type=Path)
    check = sub.add_parser("check", help="what the configured filter decides about a line")
    check.add_argument("text")
    check.add_argument("--tenant", default=None)
    args = ap.parse_args(argv)

    if args.command == "lint":
        from bot.safety.words import read_file

        bad = 0
        for path in args.files:
            loaded = read_file(path, str(path))
            for problem in loaded.problems:
                print(problem)
            bad += len(loaded.problems)
            print(f"{path}: {len(loaded.entries)} entries, {len(loaded.problems)} problems", file=sys.stderr)
        return 1 if bad else 0

    from bot.safety import create_filter
    from bot.settings import load_settings

    try:
        settings = load_settings()
        verdict = create_filter(settings).check(args.text, args.tenant or settings.default_tenant)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps({"action": verdict.action, "category": verdict.category, "label": verdict.label,
                      "rule": verdict.rule, "text": verdict.text, "masked_text": verdict.masked_text},
                     ensure_ascii=False))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
