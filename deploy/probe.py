"""Health probe for one platform service, run inside its container: ``python deploy/probe.py handoff``.

Exit 0 when the service is healthy the way ``csbot run``'s supervisor judges it (bot/cli/services.py): ``/health``
answers 200, and for Rasa ``/status`` answers 200 with the API's JWT (a model is loaded). It asks the address the
service listens on (``services.host`` and the service's port from the ``CSBOT_*`` settings), so it works in a
container whose service binds a name other than localhost. Runs on both images (Python 3.10 and 3.11).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from bot.settings import load_settings

# The path each service's supervisor health check asks (bot/cli/services.py); tests/deploy keeps them in step.
PATHS = {"rasa": "/status", "actions": "/health", "knowledge": "/health", "handoff": "/health",
         "archive": "/health", "orders": "/health"}  # fmt: skip
TIMEOUT_SECONDS = 5


def probe(service: str) -> tuple[bool, str]:
    settings = load_settings()
    headers: dict[str, str] = {}
    if service == "rasa":
        from bot.rasa_env import rasa_api_headers

        headers = rasa_api_headers(settings)
    url = settings.services.url(service) + PATHS[service]
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS) as r:
            return r.status == 200, f"{url}: {r.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in PATHS:
        print(f"usage: probe.py {{{','.join(PATHS)}}}", file=sys.stderr)
        return 2
    ok, detail = probe(argv[1])
    if not ok:
        print(detail, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
