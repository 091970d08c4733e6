"""The platform's processes, in start order, as supervisor specs built from settings."""

from __future__ import annotations

from bot.cli.supervisor import ServiceSpec
from bot.rasa_env import app_python, child_env, render_endpoints, server_command
from bot.settings import Settings


def platform_specs(settings: Settings) -> list[ServiceSpec]:
    env = child_env(settings)
    py = str(app_python(settings))
    svc = settings.services
    root = settings.repo_root
    specs = []
    if settings.backend("orders").type == "demo":
        specs.append(ServiceSpec(
            name="orders", argv=[py, "-m", "actions.orders.demo_server"], port=svc.orders_port,
            health_url=f"{svc.url('orders')}/health", env=env, cwd=root, start_timeout=30,
        ))  # fmt: skip
    specs += [
        ServiceSpec(
            name="knowledge", argv=[py, "-m", "knowledge"], port=svc.knowledge_port,
            health_url=f"{svc.url('knowledge')}/health", env=env, cwd=root, start_timeout=60,
        ),
        ServiceSpec(
            name="actions",
            argv=[py, "-m", "rasa_sdk", "--actions", "actions", "--port", str(svc.actions_port)],
            port=svc.actions_port, health_url=f"{svc.url('actions')}/health", env=env, cwd=root,
            start_timeout=60,
        ),
        ServiceSpec(
            name="handoff", argv=[py, "-m", "handoff"], port=svc.handoff_port,
            health_url=f"{svc.url('handoff')}/health", env=env, cwd=root, start_timeout=30,
        ),
        ServiceSpec(
            name="rasa", argv=server_command(settings, render_endpoints(settings)), port=svc.rasa_port,
            health_url=f"{svc.url('rasa')}/", env=env, cwd=root, start_timeout=180,
        ),
    ]  # fmt: skip
    return specs
