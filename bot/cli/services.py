"""The platform's processes, in start order, as supervisor specs built from settings.

Health means able to serve: the knowledge service with a live index, the Rasa server with a model loaded.
"""

from __future__ import annotations

from bot.cli.supervisor import ServiceSpec
from bot.rasa_env import app_python, child_env, rasa_api_headers, render_endpoints, server_command
from bot.settings import Settings


def platform_specs(settings: Settings) -> list[ServiceSpec]:
    env = child_env(settings)
    py = str(app_python(settings))
    svc = settings.services
    root = settings.repo_root
    specs = []
    if settings.backend("orders").type == "demo":
        specs.append(ServiceSpec(
            name="orders", argv=[py, "-m", "bot.orders.demo_server"], port=svc.orders_port,
            health_url=f"{svc.url('orders')}/health", env=env, cwd=root, start_timeout=30,
        ))  # fmt: skip
    specs += [
        ServiceSpec(
            name="knowledge", argv=[py, "-m", "knowledge"], port=svc.knowledge_port,
            health_url=f"{svc.url('knowledge')}/health", env=env, cwd=root, start_timeout=60,
        ),
        ServiceSpec(
            name="actions",
            argv=[py, "-m", "actions.server"],
            port=svc.actions_port, health_url=f"{svc.url('actions')}/health", env=env, cwd=root,
            start_timeout=60,
        ),
        ServiceSpec(
            name="handoff", argv=[py, "-m", "handoff"], port=svc.handoff_port,
            health_url=f"{svc.url('handoff')}/health", env=env, cwd=root, start_timeout=30,
        ),
        # the archive: stream → cs_message and the search index (handoff/archive); on Kafka also the outbox relay
        ServiceSpec(
            name="archive", argv=[py, "-m", "handoff.archive"], port=svc.archive_port,
            health_url=f"{svc.url('archive')}/health", env=env, cwd=root, start_timeout=60,
        ),
        # /status answers only with a model loaded (409 after `DELETE /model`), and only with the API's JWT
        ServiceSpec(
            name="rasa", argv=server_command(settings, render_endpoints(settings)), port=svc.rasa_port,
            health_url=f"{svc.url('rasa')}/status", env=env, cwd=root, start_timeout=180,
            health_headers=lambda: rasa_api_headers(settings),
        ),
    ]  # fmt: skip
    return specs
