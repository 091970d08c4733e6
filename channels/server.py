"""Start the Rasa server (``python -m channels.server <rasa run options>`` in the Rasa venv) with its HTTP API
locked: the JWT secret is derived from the home's secret here, so it never appears on a command line where
``ps`` would show it. Channel webhooks stay open; every other API route needs a JWT (``bot.rasa_env``),
checked first by ``channels.api_guard``."""

from __future__ import annotations

import sys

from bot.settings import home_secret, load_settings


def main() -> None:
    from bot.lifeline import die_with_supervisor

    die_with_supervisor()
    settings = load_settings()
    secret = home_secret(settings, "rasa-api")
    sys.argv = ["rasa", "run", *sys.argv[1:], "--jwt-secret", secret, "--jwt-method", "HS256"]
    from rasa.__main__ import main as rasa_main

    from channels.api_guard import install
    from channels.observability import install as observe
    from channels.rasa_patches import freeze_after_load

    observe(settings)  # first: its middleware then runs before the guard's (bot.observe_sanic)
    install(secret)
    freeze_after_load()
    rasa_main()


if __name__ == "__main__":
    main()
