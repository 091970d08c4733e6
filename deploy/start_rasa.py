"""The Rasa container's command: ``python deploy/start_rasa.py [--model PATH]`` (Rasa image, Python 3.10).

It does for one container what ``csbot run`` does for its Rasa child (bot/cli/services.py): renders
``$CSBOT_HOME/endpoints.yml`` from the ``CSBOT_*`` settings (tracker store, lock store, action endpoint with its key,
the handoff event broker), then replaces itself with the same ``python -m channels.server`` command line, so the
server is PID 1 and receives the container's SIGTERM itself.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bot.rasa_env import render_endpoints, server_command
from bot.settings import load_settings

BAKED_MODEL = Path("/app/models/csbot.tar.gz")  # trained by deploy/Dockerfile; mount another file over it


def command(model: Path) -> list[str]:
    settings = load_settings()
    return server_command(settings, render_endpoints(settings), model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BAKED_MODEL, help=f"the model to serve (default {BAKED_MODEL})")
    args = parser.parse_args()
    if not args.model.is_file():
        parser.exit(2, f"no model at {args.model}: build the Rasa image (it trains one) or mount a model there\n")
    argv = command(args.model)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
